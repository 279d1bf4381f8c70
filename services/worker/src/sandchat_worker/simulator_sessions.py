"""The simulator's sessions: one file per session id, one JSON line per event of its history.

``{"prompt": …}`` when a turn starts (its first 200 characters), ``{"entry": <uuid>}`` when it ends
(the uuid of its last ``assistant`` or ``user`` line: the chain entry ``--resume-session-at`` names).
``--fork-session`` copies a session's history into a new one, up to an entry when asked: what the
real CLI keeps of a conversation, enough to show which turns a session remembers (``[[history]]``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Final

PROMPT_CHARS: Final = 200
_SESSION_ID: Final = re.compile(r"^[0-9a-fA-F-]{1,64}$")


def _path(sessions: Path, session_id: str) -> Path | None:
    return sessions / session_id if _SESSION_ID.match(session_id) else None


def known(sessions: Path, session_id: str) -> bool:
    path = _path(sessions, session_id)
    return path is not None and path.is_file()


def _append(sessions: Path, session_id: str, record: dict[str, str]) -> None:
    path = _path(sessions, session_id)
    if path is not None:
        with path.open("a", encoding="utf-8") as log:
            log.write(json.dumps(record) + "\n")


def record_prompt(sessions: Path, session_id: str, prompt: str) -> None:
    _append(sessions, session_id, {"prompt": prompt[:PROMPT_CHARS]})


def record_entry(sessions: Path, session_id: str, entry: str | None) -> None:
    if entry is not None:
        _append(sessions, session_id, {"entry": entry})


def _records(sessions: Path, session_id: str) -> list[dict[str, str]]:
    path = _path(sessions, session_id)
    if path is None or not path.is_file():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def history(sessions: Path, session_id: str) -> list[str]:
    """The prompts the session remembers, oldest first."""
    return [record["prompt"] for record in _records(sessions, session_id) if isinstance(record.get("prompt"), str)]


def fork(sessions: Path, source: str, target: str, at: str | None) -> bool:
    """Write ``source``'s history (up to and including the entry ``at``) as session ``target``; False
    when ``at`` is no entry of ``source``."""
    records = _records(sessions, source)
    if at is not None:
        ends = [index for index, record in enumerate(records) if record.get("entry") == at]
        if not ends:
            return False
        records = records[: ends[0] + 1]
    path = _path(sessions, target)
    if path is not None:
        path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    return True
