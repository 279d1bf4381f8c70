"""One message and its reply over the chat WebSocket, every frame built and read by the wire module.

The reply's text goes to stdout; everything else (queue position, approvals, status lines) to the
terminal on stderr. The message may be queued behind turns already running on the thread: the
conversation then follows only the turn that answers it. Approval requests of that turn are asked at
the terminal one at a time; one answered elsewhere (the web UI) first is shown and not asked again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from dataclasses import dataclass, field

import msgspec
from sandchat import wire
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

from sandchat_cli import approval_prompt
from sandchat_cli.terminal import Terminal

# How long `sandchat stop` waits for the running reply to end before saying none was running.
STOP_WAIT_S = 3.0


@dataclass(slots=True)
class _Conversation:
    websocket: ClientConnection
    thread_id: str
    terminal: Terminal
    show_json: bool
    message_id: str | None = None  # known once the message is queued
    turn_id: str | None = None  # known once its turn starts
    requests: asyncio.Queue[wire.Approval] = field(default_factory=asyncio.Queue)
    answered: dict[str, asyncio.Event] = field(default_factory=dict)
    mine: set[str] = field(default_factory=set)

    # --- the turn -----------------------------------------------------------------------------

    def on_thread_event(self, event: wire.Queued | wire.Started) -> None:
        if self.turn_id is not None:
            return
        if isinstance(event, wire.Queued):
            if self.message_id is None:  # the answer to our message (others' come with other ids)
                self.message_id = event.message_id
                ahead = "it starts next" if event.position == 1 else f"{event.position - 1} ahead of it"
                self.terminal.say(f"[queued behind the running reply: {ahead}]")
        elif self.message_id is None or event.user_message_id == self.message_id:
            self.turn_id = event.turn_id

    def on_turn_event(self, event: wire.TurnEvent) -> int | None:
        """Show one event of our turn; the exit status once it has ended."""
        if isinstance(event, wire.Token):
            if not self.show_json:
                print(event.text, end="", flush=True)
        elif isinstance(event, wire.Tool):
            if not self.show_json:
                print(f"\n[tool {event.name}: {json.dumps(event.input)[:200]}]", flush=True)
        elif isinstance(event, wire.Status):
            self.terminal.say(f"\n[{event.message}]")
        elif isinstance(event, wire.Approval):
            self.answered.setdefault(event.request_id, asyncio.Event())
            self.requests.put_nowait(event)
        elif isinstance(event, wire.ApprovalAnswered):
            self.answered.setdefault(event.request_id, asyncio.Event()).set()
            whose = "" if event.request_id in self.mine else " (answered elsewhere)"
            self.terminal.say(f"[approval: {approval_prompt.RESOLUTION_TEXT[event.decision]}{whose}]")
        elif isinstance(event, wire.Done):
            if not self.show_json:
                cost = f" · ${event.cost_usd:.4f}" if event.cost_usd else ""
                print(f"\n\n[done · thread {self.thread_id}{cost}]", flush=True)
            return 0
        elif isinstance(event, wire.Error):
            self.terminal.say(f"\nerror ({event.code}): {event.message}")
            return 1
        return None

    # --- approvals ----------------------------------------------------------------------------

    async def answer_requests(self) -> None:
        """Ask about each request in the order they came, skipping those someone else answered."""
        while True:
            request = await self.requests.get()
            answered = self.answered[request.request_id]
            if answered.is_set():
                continue
            for line in approval_prompt.describe(request):
                self.terminal.say(line)
            asking = asyncio.ensure_future(approval_prompt.answer(request, self.terminal.ask))
            elsewhere = asyncio.ensure_future(answered.wait())
            await asyncio.wait({asking, elsewhere}, return_when=asyncio.FIRST_COMPLETED)
            elsewhere.cancel()
            if not asking.done():
                asking.cancel()
                self.terminal.say("")
                continue
            reply = asking.result()
            if reply is None:
                self.terminal.say("[nobody can answer here: waiting for an answer from another client]")
                await answered.wait()
                continue
            self.mine.add(request.request_id)
            approve = wire.Approve(self.thread_id, request.request_id, reply.decision, reply.message, reply.answers)
            await self.websocket.send(wire.encode(approve).decode())

    # --- the frames ---------------------------------------------------------------------------

    async def run(self, content: str | None) -> int:
        """Send ``content`` (None: run the thread's last message again) and follow its turn to the end."""
        request = wire.SendMessage(self.thread_id, content) if content is not None else wire.Retry(self.thread_id)
        await self.websocket.send(wire.encode(request).decode())
        async for frame in self.websocket:
            if self.show_json:
                print(frame if isinstance(frame, str) else frame.decode(), flush=True)
            try:
                event = wire.decode_event(frame)
            except (msgspec.ValidationError, msgspec.DecodeError):
                continue  # a frame of a newer protocol: nothing this client knows to do with it
            if isinstance(event, wire.Queued | wire.Started):
                self.on_thread_event(event)
            elif isinstance(event, wire.Error) and event.turn_id is None:
                self.terminal.say(f"error ({event.code}): {event.message}")
                if self.turn_id is None and self.message_id is None:
                    return 1  # the message was refused
            elif isinstance(event, wire.Title | wire.Unqueued | wire.Watching):
                continue
            elif self.turn_id is not None and event.turn_id == self.turn_id:
                status = self.on_turn_event(event)
                if status is not None:
                    return status
        self.terminal.say("error: the gateway closed the connection before the reply ended")
        return 1


async def chat(
    gateway: str,
    thread_id: str,
    content: str | None,
    *,
    headers: dict[str, str],
    show_json: bool = False,
    terminal: Terminal | None = None,
) -> int:
    """Send ``content`` to the thread (None: retry its last message, whose reply failed or was stopped)
    and follow its reply to the end; the process exit status."""
    async with connect(gateway, additional_headers=headers, max_size=None) as websocket:
        conversation = _Conversation(websocket, thread_id, terminal or Terminal(), show_json)
        answering = asyncio.create_task(conversation.answer_requests())
        try:
            return await conversation.run(content)
        except asyncio.CancelledError:
            # Ctrl-C: the reply this message started stops too, instead of running on unseen. (A message
            # still queued is left alone: a stop would end someone else's reply.)
            if conversation.turn_id is not None:
                with contextlib.suppress(OSError, WebSocketException):
                    await websocket.send(wire.encode(wire.Cancel(thread_id)).decode())
                conversation.terminal.say("\n[stopped]")
            raise
        finally:
            answering.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await answering
            sys.stdout.flush()


async def stop(gateway: str, thread_id: str, *, headers: dict[str, str], wait_s: float = STOP_WAIT_S) -> int:
    """Stop the thread's running reply, whichever client started it; 0 also when nothing was running."""
    async with connect(gateway, additional_headers=headers, max_size=None) as websocket:
        await websocket.send(wire.encode(wire.Cancel(thread_id)).decode())
        try:
            async with asyncio.timeout(wait_s):
                async for frame in websocket:
                    with contextlib.suppress(msgspec.ValidationError, msgspec.DecodeError):
                        event = wire.decode_event(frame)
                        if isinstance(event, wire.Done) or (isinstance(event, wire.Error) and event.turn_id):
                            print(f"stopped the reply on thread {thread_id}")
                            return 0
        except TimeoutError:
            pass
    # The gateway answers a stop only with the end of a running reply.
    print(f"no reply was running on thread {thread_id}")
    return 0
