"""Metrics, traces and JSON logs of turns run through the in-process gateway and worker.

After turns with known outcomes the counters moved by exactly that many per outcome (read from the
gateway's own /metrics, as Prometheus would); one turn's spans form one trace from the gateway's
message across the queue to the worker's end of the turn; JSON log lines parse and carry the ids.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sandchat.database import Database
from sandchat.logs import JsonFormatter
from sandchat_worker.simulator import LEAKY_STDERR

from tests.e2e.chat_client import ChatClient
from tests.metrics_page import moved, scrape
from tests.services.conftest import Services
from tests.turns.conftest import new_thread

# The agent's inactivity timeout for these services: a [[hang]] turn ends `timeout` this soon.
INACTIVITY_S = 1.0


@pytest.fixture
def service_settings() -> dict[str, object]:
    return {"agent_inactivity_timeout_s": INACTIVITY_S}


def metrics_url(services: Services) -> str:
    return f"http://127.0.0.1:{services.settings.gateway_port}/metrics"


async def run_turn(services: Services, thread_id: str, content: str, *, cancel_after_tokens: int = 0) -> str:
    client = await ChatClient.open(services.gateway_url)
    try:
        started = await client.message(thread_id, content)
        assert started["type"] == "started", started
        if cancel_after_tokens:
            record = await client.until_tokens(cancel_after_tokens)
            await client.send({"type": "cancel", "threadId": thread_id})
            record = await client.until_final(record)
        else:
            record = await client.until_final()
    finally:
        await client.close()
    final = record.final
    return "done" if final["type"] == "done" else str(final["code"])


async def test_turn_counters_move_by_exactly_the_turns_of_each_outcome(services: Services, database: Database) -> None:
    before = await asyncio.to_thread(scrape, metrics_url(services))
    prompts = {"hello": "done", "and again": "done", "[[fail]] please": "agent_error", "[[hang]] now": "timeout"}
    for prompt, outcome in prompts.items():
        assert await run_turn(services, await new_thread(database), prompt) == outcome
    cancelled = await run_turn(services, await new_thread(database), "[[slow]] long", cancel_after_tokens=2)
    assert cancelled == "cancelled"
    after = await asyncio.to_thread(scrape, metrics_url(services))

    assert moved(before, after, "sandchat_turns_started_total") == 5
    expected = {"done": 2, "agent_error": 1, "timeout": 1, "cancelled": 1}
    for outcome, count in expected.items():
        assert moved(before, after, "sandchat_turns_total", outcome=outcome) == count, outcome
    # Every one of these turns sent a token first, each was queued once, each agent's side ended once.
    assert moved(before, after, "sandchat_first_token_seconds_count") == 5
    assert moved(before, after, "sandchat_queue_wait_seconds_count") == 5
    for reason, count in {"complete": 2, "error": 1, "timeout": 1, "cancelled": 1}.items():
        assert moved(before, after, "sandchat_agent_exits_total", reason=reason) == count, reason
    assert moved(before, after, "sandchat_agent_cost_usd_total", model="claude-simulator") > 0
    assert moved(before, after, "sandchat_relay_frames_total") > 5
    assert moved(before, after, "sandchat_frame_delivery_seconds_count") > 5
    # The gauges are there (their values are whatever this instant holds).
    for gauge in ("sandchat_turns_running", "sandchat_live_agents", "sandchat_websockets_open", "sandchat_queue_depth"):
        assert (gauge, ()) in after, gauge


async def test_relay_metrics_count_every_frame_of_a_turn_and_its_bytes(services: Services, database: Database) -> None:
    before = await asyncio.to_thread(scrape, metrics_url(services))
    jobs_before = services.worker.jobs_complete
    client = await ChatClient.open(services.gateway_url)
    try:
        await client.send({"type": "message", "threadId": await new_thread(database), "content": "hello"})
        frames: list[str] = []
        async with asyncio.timeout(30):
            while True:
                frame = await client.websocket.recv()
                assert isinstance(frame, str)
                event = json.loads(frame)
                if "turnId" in event and event["type"] != "started":
                    frames.append(frame)
                if event["type"] in ("done", "error"):
                    break
    finally:
        await client.close()
    # The worker counts a frame's replay-log bytes once its append returned, which can be after the
    # gateway relayed the final frame: the job's end is when every count is in.
    async with asyncio.timeout(10):
        while services.worker.jobs_complete <= jobs_before:
            await asyncio.sleep(0.01)
    after = await asyncio.to_thread(scrape, metrics_url(services))
    # Each frame of the turn was published once, reached this gateway once and went to its one follower.
    assert len(frames) > 3
    assert moved(before, after, "sandchat_relay_delivery_seconds_count") == len(frames)
    assert moved(before, after, "sandchat_replay_log_bytes_total") == sum(len(frame.encode()) for frame in frames)
    for gauge in ("sandchat_turns_followed", "sandchat_turn_subscribers"):
        assert (gauge, ()) in after, gauge


async def spans_until(exporter: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    async with asyncio.timeout(10):
        while not any(span.name == name for span in exporter.get_finished_spans()):
            await asyncio.sleep(0.01)
    return list(exporter.get_finished_spans())


async def test_one_turn_is_one_trace_from_the_gateway_across_the_queue_to_the_worker(
    services: Services, database: Database, spans: InMemorySpanExporter
) -> None:
    assert await run_turn(services, await new_thread(database), "trace me") == "done"
    finished = await spans_until(spans, "turn.run")  # the worker ends its span just after the final event
    by_name = {span.name: span for span in finished}
    assert set(by_name) >= {"chat.message", "turn.queued", "turn.run", "agent.start", "agent.turn", "turn.end"}
    message = by_name["chat.message"]
    assert message.context is not None
    trace_id = message.context.trace_id
    assert {span.context.trace_id for span in finished if span.context is not None} == {trace_id}
    # The worker's spans hang under the gateway's, across the queue.
    assert by_name["turn.run"].parent is not None
    assert by_name["turn.run"].parent.span_id == message.context.span_id
    assert [event.name for event in by_name["agent.turn"].events] == ["agent.first_output"]
    starts = [by_name[name].start_time or 0 for name in ("chat.message", "turn.run", "agent.start", "agent.turn")]
    assert starts == sorted(starts)
    assert (by_name["agent.turn"].end_time or 0) <= (by_name["turn.end"].start_time or 0)


async def test_json_log_lines_parse_and_carry_the_turn_and_never_a_secret(
    services: Services, database: Database, spans: InMemorySpanExporter
) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("test"))
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.INFO)
    try:
        thread_id = await new_thread(database)
        await run_turn(services, thread_id, "[[no-result]] tell me a secret")
        await spans_until(spans, "turn.run")  # the worker's last lines about the turn are written
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    text = stream.getvalue()
    lines = [json.loads(line) for line in text.splitlines()]
    about_turn = [line for line in lines if "turn_id" in line]
    assert about_turn, text
    for line in about_turn:
        assert line["thread_id"] == thread_id
        assert len(line["trace_id"]) == 32
    assert any("ended" in line["message"] for line in about_turn)
    for secret in ("sk-ant-api03-SECRETSECRETSECRET", "SECRET-TOKEN-VALUE", "hunter2"):
        assert any(secret in leak for leak in LEAKY_STDERR)
        assert secret not in text
