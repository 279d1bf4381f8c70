"""The wire protocol (:mod:`sandchat.wire`, and the permission modes of settings) as TypeScript, for the web UI.

``python -m sandchat.protocol_ts`` prints the file; ``make protocol`` writes it to
``services/web/src/chat/protocol.generated.ts``, and a test fails when the committed file is not what
this module generates, so the Python definitions stay the one source of the protocol.
"""

from __future__ import annotations

import json
import sys
import typing
from collections.abc import Iterable
from typing import Any, Final

import msgspec.inspect as mi

from sandchat import agent_cli, wire

GENERATED_PATH: Final = "services/web/src/chat/protocol.generated.ts"

# Literal types rendered as named TypeScript unions (a field of one of these types uses the name).
NAMED_LITERALS: Final[dict[str, Any]] = {
    "ErrorCode": wire.ErrorCode,
    "Decision": wire.Decision,
    "Resolution": wire.Resolution,
    "PermissionMode": agent_cli.PermissionMode,
    "ThreadActivity": wire.ThreadActivity,
}

# (TypeScript union name, Python union, name of the constant listing its `type` tags)
UNIONS: Final[tuple[tuple[str, Any, str], ...]] = (
    ("ClientRequest", wire.ClientRequest, "CLIENT_REQUEST_TYPES"),
    ("ServerEvent", wire.ServerEvent, "SERVER_EVENT_TYPES"),
    ("TurnEvent", wire.TurnEvent, "TURN_EVENT_TYPES"),
    ("ThreadEvent", wire.ThreadEvent, "THREAD_EVENT_TYPES"),
)

CONSTANTS: Final[dict[str, object]] = {
    "MAX_CONTENT_CHARS": wire.MAX_CONTENT_CHARS,
    "AGENT_OFFLINE_MESSAGE": wire.AGENT_OFFLINE_MESSAGE,
}

HEADER: Final = """\
// GENERATED from shared/src/sandchat/wire.py (and settings.py's permission modes) by `make protocol`.
// Do not edit: change the Python definitions and regenerate. A test fails when this file drifts.
// The protocol itself is described in docs/protocol.md.
"""


def _client_types() -> tuple[type[Any], ...]:
    return typing.get_args(wire.ClientRequest)


def interface_name(struct: type[Any]) -> str:
    """``Approve`` -> ``ApproveRequest``, ``Approval`` -> ``ApprovalEvent`` (``Error`` must not shadow JS's)."""
    return struct.__name__ + ("Request" if struct in _client_types() else "Event")


def _literal_name(values: Iterable[object]) -> str | None:
    wanted = set(values)
    for name, alias in NAMED_LITERALS.items():
        if set(typing.get_args(alias)) == wanted:
            return name
    return None


def _type(t: mi.Type) -> str:
    if isinstance(t, mi.StrType):
        return "string"
    if isinstance(t, mi.IntType | mi.FloatType):
        return "number"
    if isinstance(t, mi.BoolType):
        return "boolean"
    if isinstance(t, mi.NoneType):
        return "null"
    if isinstance(t, mi.AnyType):
        return "unknown"
    if isinstance(t, mi.LiteralType):
        return _literal_name(t.values) or " | ".join(json.dumps(v) for v in t.values)
    if isinstance(t, mi.UnionType):
        return " | ".join(_type(member) for member in t.types)
    if isinstance(t, mi.ListType):
        inner = _type(t.item_type)
        return f"({inner})[]" if "|" in inner else f"{inner}[]"
    if isinstance(t, mi.DictType):
        return f"Record<{_type(t.key_type)}, {_type(t.value_type)}>"
    raise TypeError(f"no TypeScript rendering for {t!r}: extend sandchat.protocol_ts")


def _doc(text: str | None, indent: str = "") -> list[str]:
    if not text:
        return []
    lines = [line.strip() for line in text.strip().splitlines()]
    if len(lines) == 1:
        return [f"{indent}/** {lines[0]} */"]
    return [f"{indent}/**", *(f"{indent} * {line}".rstrip() for line in lines), f"{indent} */"]


def _interface(struct: type[Any]) -> list[str]:
    info = mi.type_info(struct)
    assert isinstance(info, mi.StructType)
    lines = [*_doc(struct.__doc__), f"export interface {interface_name(struct)} {{"]
    lines.append(f"  {info.tag_field}: {json.dumps(info.tag)};")
    for field in info.fields:
        optional = "" if field.required else "?"
        lines.append(f"  {field.encode_name}{optional}: {_type(field.type)};")
    lines.append("}")
    return lines


def _structs() -> list[type[Any]]:
    """Every frame type once, in the order of the unions (requests first, then server events)."""
    seen: list[type[Any]] = []
    for _name, union, _tags in UNIONS:
        for struct in typing.get_args(union):
            if struct not in seen:
                seen.append(struct)
    return seen


def _constant(name: str, value: object) -> str:
    if isinstance(value, dict):
        body = "".join(f"\n  {key}: {json.dumps(item)}," for key, item in value.items())
        return f"export const {name} = {{{body}\n}} as const;"
    return f"export const {name} = {json.dumps(value)};"


def render() -> str:
    """The whole generated TypeScript module."""
    out = [HEADER]
    out += [_constant(name, value) for name, value in CONSTANTS.items()]
    out.append("")
    for name, alias in NAMED_LITERALS.items():
        out.append(f"export type {name} = {' | '.join(json.dumps(v) for v in typing.get_args(alias))};")
    for struct in _structs():
        out.append("")
        out += _interface(struct)
    for name, union, tags_name in UNIONS:
        members = typing.get_args(union)
        out.append("")
        out.append(f"export type {name} =")
        out += [f"  | {interface_name(m)}" for m in members[:-1]]
        out.append(f"  | {interface_name(members[-1])};")
        tags = ", ".join(json.dumps(mi.type_info(m).tag) for m in members)  # type: ignore[attr-defined]
        out.append(f"export const {tags_name} = [{tags}] as const;")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
