"""The web UI's protocol types are generated from the Python definitions, never edited by hand."""

from __future__ import annotations

import typing
from pathlib import Path

from sandchat import protocol_ts, wire

REPOSITORY = Path(__file__).resolve().parents[2]


def test_committed_typescript_types_match_the_python_protocol() -> None:
    committed = (REPOSITORY / protocol_ts.GENERATED_PATH).read_text()
    assert committed == protocol_ts.render(), (
        f"{protocol_ts.GENERATED_PATH} is out of date with shared/src/sandchat/wire.py: run `make protocol`"
    )


def test_every_frame_type_is_in_the_typescript_types() -> None:
    rendered = protocol_ts.render()
    frames = {*typing.get_args(wire.ClientRequest), *typing.get_args(wire.ServerEvent)}
    missing = [f.__name__ for f in frames if f"export interface {protocol_ts.interface_name(f)} {{" not in rendered]
    assert missing == []


def test_an_optional_field_is_optional_and_a_nullable_one_names_null() -> None:
    rendered = protocol_ts.render()
    assert "  message?: string | null;\n  answers?: Record<string, string> | null;\n}" in rendered
    assert (
        'export interface WatchingEvent {\n  type: "watching";\n  threadId: string;\n  turnId: string | null;\n}'
        in rendered
    )
