"""A turn's events on their hot path: the replay log and the channel, several turns at once, refusals."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit, urlunsplit

import pytest
from redis.asyncio import Redis
from redis.exceptions import ResponseError
from sandchat import wire
from sandchat.redis_keys import RedisKeys
from sandchat.turns import Turns

from tests.turns.conftest import ChannelRecorder


def token(turn_id: str, seq: int) -> tuple[int, bytes]:
    return seq, wire.encode(wire.Token("thread", turn_id, seq, f"{turn_id[:4]}-{seq} "))


async def test_turns_publishing_at_once_each_log_and_send_every_event_once_in_order(
    turns: Turns, listen: Callable[[str], Awaitable[ChannelRecorder]]
) -> None:
    store = turns.store
    turn_ids = [uuid.uuid4().hex for _ in range(8)]
    recorders = {turn_id: await listen(store.keys.turn_channel(turn_id)) for turn_id in turn_ids}

    async def stream(turn_id: str) -> None:
        seq = 0
        for size in (1, 3, 1, 5, 2, 1, 4):  # reads of one or several events, as an agent's output comes
            await store.publish(turn_id, [token(turn_id, seq + index) for index in range(1, size + 1)])
            seq += size

    await asyncio.gather(*(stream(turn_id) for turn_id in turn_ids))
    for turn_id in turn_ids:
        expected = [frame for _, frame in (token(turn_id, seq) for seq in range(1, 18))]
        assert await store.replay(turn_id) == expected
        assert await store.replay(turn_id, 10) == expected[10:]
        assert await store.last_seq(turn_id) == 17
        recorder = recorders[turn_id]
        await recorder.until(lambda frames: len(frames) >= 17)
        assert [frame.seq for frame in recorder.frames if isinstance(frame, wire.Token)] == list(range(1, 18))


async def test_an_event_out_of_order_is_refused_and_the_next_one_still_goes_out(turns: Turns) -> None:
    store = turns.store
    turn_id = uuid.uuid4().hex
    await store.publish(turn_id, [token(turn_id, 1), token(turn_id, 2)])
    with pytest.raises(ResponseError):
        await store.publish(turn_id, [token(turn_id, 2)])
    await store.publish(turn_id, [token(turn_id, 3)])
    assert list(await store.replay(turn_id)) == [token(turn_id, seq)[1] for seq in (1, 2, 3)]


async def test_events_land_in_the_database_the_url_names(redis_url: str, redis_keys: RedisKeys, turns: Turns) -> None:
    other_db = urlunsplit(urlsplit(redis_url)._replace(path="/7"))
    client = Redis.from_url(other_db)
    try:
        store = Turns.connect(client, redis_keys, turns.database).store
        turn_id = uuid.uuid4().hex
        await store.publish(turn_id, [token(turn_id, 1)])
        assert await client.exists(redis_keys.turn_log(turn_id)) == 1
        assert await turns.store.replay(turn_id) == []  # not in the default database
        await client.delete(redis_keys.turn_log(turn_id))
        await store.close()
    finally:
        await client.aclose()
