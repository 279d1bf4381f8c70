"""A low-cost stand-in for the live CLI: replays a recorded real-CLI stream, paced like a model.

Run as the agent (``AGENT_RUNNER=local``, ``CLAUDE_BIN`` = the script :func:`bench.relay_load.install_player`
writes, which starts this file with ``python -S -I``: no site, no project imports, a few ms of CPU
to start). It speaks the live protocol the worker uses: each user message on stdin is one turn,
answered with the recording's opening lines, ``deltas`` text deltas ``interval_s`` apart (each
line a recorded `content_block_delta` with its text taken in turn from the recording's deltas and
``"sandchat_stamp"``: when it was written, for the delivery latency; a message saying
``deltas=N`` gets N), then the recording's closing
lines and its `result`. The whole turn's text is known in advance (:func:`reply_text`).
Everything it needs is in ``<this script>.json``, written by the bench.
"""

from __future__ import annotations

import json
import os
import sys
import time


def reply_text(texts: list[str], deltas: int) -> str:
    return "".join(texts[index % len(texts)] for index in range(deltas))


def _session(argv: list[str]) -> str:
    for arg in argv:
        for flag in ("--session-id=", "--resume="):
            if arg.startswith(flag):
                return arg[len(flag) :]
    return "00000000-0000-0000-0000-000000000000"


def _turn(config: dict[str, object], session: str, deltas: int) -> None:
    recorded = str(config["session"])
    opening = [str(line).replace(recorded, session) + "\n" for line in config["opening"]]  # type: ignore[attr-defined]
    closing = [str(line).replace(recorded, session) + "\n" for line in config["closing"]]  # type: ignore[attr-defined]
    before, after = str(config["delta_before"]).replace(recorded, session), str(config["delta_after"])
    after = after.replace(recorded, session) + "\n"
    texts = [json.dumps(text)[1:-1] for text in config["texts"]]  # type: ignore[attr-defined]
    interval = float(config["interval_s"])  # type: ignore[arg-type]
    os.write(1, "".join(opening).encode())
    started = time.monotonic()
    for index in range(deltas):
        delay = started + index * interval - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        line = f'{{"sandchat_stamp":{time.time()!r},' + before + texts[index % len(texts)] + after
        os.write(1, line.encode())
    os.write(1, "".join(closing).encode())


def main() -> None:
    argv = sys.argv[1:]
    if argv[:2] == ["auth", "status"]:
        print(json.dumps({"loggedIn": True, "authMethod": "claude.ai", "apiProvider": "firstParty"}))
        return
    with open(sys.argv[0] + ".json") as file:
        config = json.load(file)
    session = _session(argv)
    for line in sys.stdin:
        if '"user"' in line.split(",", 1)[0]:
            # The message may ask for its length ("deltas=20"), else the configured one.
            asked = line.partition("deltas=")[2]
            digits = asked[: len(asked) - len(asked.lstrip("0123456789"))]
            _turn(config, session, int(digits) if digits else int(config["deltas"]))


if __name__ == "__main__":
    main()
