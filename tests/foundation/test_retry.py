"""The one retry policy (sandchat.retry): the delays it waits and when it gives up."""

from __future__ import annotations

from sandchat.retry import Backoff, retry_for


def test_delays_double_up_to_the_longest_and_start_over_after_a_success() -> None:
    backoff = Backoff(first_s=0.1, longest_s=0.5)
    assert not backoff.retrying
    assert [backoff.next_delay() for _ in range(5)] == [0.1, 0.2, 0.4, 0.5, 0.5]
    assert backoff.retrying
    backoff.reset()
    assert not backoff.retrying
    assert backoff.next_delay() == 0.1


async def test_an_attempt_is_repeated_until_it_succeeds() -> None:
    failures: list[BaseException] = []
    attempts = 0

    async def flaky() -> None:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            raise OSError("down")

    assert await retry_for(flaky, (OSError,), total_s=60, on_failure=failures.append)
    assert attempts == 3
    assert [str(exc) for exc in failures] == ["down", "down"]


async def test_the_attempts_stop_when_the_time_is_up() -> None:
    async def broken() -> None:
        raise OSError("down")

    assert not await retry_for(broken, (OSError,), total_s=0.25)
