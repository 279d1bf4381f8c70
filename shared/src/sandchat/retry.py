"""The one retry policy: exponential backoff between attempts, from 0.1 s doubling up to 5 s.

Every loop that waits for Redis or the database to come back uses it: the gateway's pub/sub
fan-out, the worker's inbox and control listener, the worker's restart of arq, and a turn's final
write. A failure long after the previous one (more than twice the longest delay) starts again from
the shortest delay, so a service that ran for hours reconnects at once after a blip.

redis-py's own ``Retry``/``ExponentialBackoff`` retries single commands on a connection; these
loops re-establish a whole subscription or worker, which is why they share this class instead.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Final

FIRST_DELAY_S: Final = 0.1
LONGEST_DELAY_S: Final = 5.0


class Backoff:
    """The delays of one retry loop: ``first_s``, twice that, … at most ``longest_s``."""

    def __init__(self, first_s: float = FIRST_DELAY_S, longest_s: float = LONGEST_DELAY_S) -> None:
        self.first_s = first_s
        self.longest_s = longest_s
        self._delay: float | None = None
        self._waited_until = 0.0

    @property
    def retrying(self) -> bool:
        """Whether a delay was taken since the last :meth:`reset` (the loop is recovering)."""
        return self._delay is not None

    def reset(self) -> None:
        """The attempt succeeded: the next failure waits the shortest delay again."""
        self._delay = None

    def next_delay(self) -> float:
        now = time.monotonic()
        if self._delay is None or now - self._waited_until > 2 * self.longest_s:
            self._delay = self.first_s
        else:
            self._delay = min(self._delay * 2, self.longest_s)
        self._waited_until = now + self._delay
        return self._delay

    async def wait(self) -> None:
        await asyncio.sleep(self.next_delay())


async def retry_for(
    attempt: Callable[[], Awaitable[None]],
    errors: tuple[type[BaseException], ...],
    total_s: float,
    on_failure: Callable[[BaseException], None] = lambda _exc: None,
) -> bool:
    """Wait, try ``attempt``, and again while it raises one of ``errors``, for ``total_s`` at most.

    ``True`` once an attempt succeeded; ``False`` when the time ran out.
    """
    backoff = Backoff()
    deadline = time.monotonic() + total_s
    while time.monotonic() < deadline:
        await backoff.wait()
        try:
            await attempt()
        except errors as exc:
            on_failure(exc)
        else:
            return True
    return False
