"""The API's HTTP server: uvicorn (its h11 protocol), with the limits a server facing strangers needs.

uvicorn closes connections idle between requests, but gives a request's head no deadline: a
client trickling its headers a byte at a time holds its connection (and a slot) for ever. Its
connection cap answers only once a whole request has arrived. :func:`bounded_protocol` adds both
to uvicorn's own protocol class (see docs/operating.md, "HTTP limits"):

- a request must arrive whole (head and body) within ``request_timeout_s`` of its first byte (of
  the connection's opening, for the first one), however slowly it trickles: else ``408`` and close;
- beyond ``max_connections`` open connections a new one gets ``503`` with ``Retry-After`` and is
  closed before anything is read from it;
- a request's head is at most ``max_head_bytes`` (else ``400``), a connection idle between
  requests is closed after ``keep_alive_s``; bodies are limited by the app.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any, Final

import h11
import uvicorn
from litestar import Litestar
from sandchat.logs import throttle
from sandchat.settings import Settings
from uvicorn.protocols.http.h11_impl import H11Protocol

from sandchat_api.web import SECURITY_HEADERS

# uvicorn logs every malformed request; strangers can send those at will.
MALFORMED_LOG_INTERVAL_S: Final = 60.0
TOO_SLOW: Final = "The request did not arrive in time."
INVALID_HTTP: Final = "The request is not valid HTTP."
OVERLOADED: Final = "The server is at its connection limit; try again in a moment."
# After a last answer, how long the rest of a client's input is read and dropped before closing.
LINGER_S: Final = 2.0


@dataclass(frozen=True, slots=True)
class ServerLimits:
    request_timeout_s: float = 30.0
    keep_alive_s: int = 5
    max_connections: int = 1000
    max_head_bytes: int = 16 * 1024


def _raw_response(status: int, reason: str, detail: str, *extra: tuple[str, str]) -> bytes:
    """A whole JSON error response, written without h11 (which cannot answer a request it has not read)."""
    body = json.dumps({"detail": detail}).encode()
    headers = [
        ("content-type", "application/json"),
        ("content-length", str(len(body))),
        ("connection", "close"),
        *SECURITY_HEADERS.items(),
        *extra,
    ]
    head = f"HTTP/1.1 {status} {reason}\r\n" + "".join(f"{name}: {value}\r\n" for name, value in headers) + "\r\n"
    return head.encode("latin-1") + body


def bounded_protocol(limits: ServerLimits) -> type[H11Protocol]:
    """uvicorn's h11 protocol with a deadline for each request's arrival and a cap on connections."""

    class BoundedH11Protocol(H11Protocol):
        _deadline: asyncio.TimerHandle | None = None
        _answered = False

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if len(self.connections) > limits.max_connections:
                self._answer_and_close(_raw_response(503, "Service Unavailable", OVERLOADED, ("retry-after", "1")))
                return
            self._arm()

        def data_received(self, data: bytes) -> None:
            if self._answered:
                return  # answered and closing: what the client still sends is dropped
            if self._deadline is None and self.conn.their_state is h11.IDLE:
                self._arm()  # the first bytes of the next request on a kept-alive connection
            super().data_received(data)
            if self.conn.their_state is not h11.IDLE and self.conn.their_state is not h11.SEND_BODY:
                self._disarm()  # received whole (or the connection is done for)

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def send_400_response(self, msg: str) -> None:
            self._answer_and_close(_raw_response(400, "Bad Request", INVALID_HTTP))

        def _answer_and_close(self, response: bytes) -> None:
            """Write a last answer, then close so that it arrives.

            Closing at once while the client is still sending would reset the connection and lose
            the answer: the write side is shut first, and the rest of the input read and dropped
            until the client hangs up or LINGER_S passes.
            """
            self._disarm()
            self._answered = True
            self.transport.write(response)
            if self.transport.can_write_eof():
                self.transport.write_eof()
                self.loop.call_later(LINGER_S, self.transport.close)
            else:
                self.transport.close()

        def _arm(self) -> None:
            self._disarm()
            self._deadline = self.loop.call_later(limits.request_timeout_s, self._too_slow)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _too_slow(self) -> None:
            self._deadline = None
            if self.transport.is_closing():
                return
            if self.cycle is None or self.cycle.response_complete or not self.cycle.response_started:
                if self.cycle is not None:
                    self.cycle.disconnected = True  # whatever the app answers now goes nowhere
                self._answer_and_close(_raw_response(408, "Request Timeout", TOO_SLOW))
            else:
                self.transport.close()

    return BoundedH11Protocol


def server_config(
    app: Litestar, settings: Settings, limits: ServerLimits = ServerLimits(), **options: Any
) -> uvicorn.Config:
    throttle(logging.getLogger("uvicorn.error"), MALFORMED_LOG_INTERVAL_S)
    return uvicorn.Config(
        app,
        host=settings.api_host,
        port=settings.api_port,
        http=bounded_protocol(limits),
        ws="none",  # the API has no WebSocket: never upgrade
        timeout_keep_alive=limits.keep_alive_s,
        h11_max_incomplete_event_size=limits.max_head_bytes,
        log_config=None,
        access_log=False,
        # The peer address stays the real one: TRUSTED_PROXIES decides whose X-Forwarded-For counts.
        proxy_headers=False,
        server_header=False,
        lifespan="on",
        **options,
    )
