"""Hypothesis strategies for what a hostile or broken client sends: the classes the fuzz tests share.

Strings with NUL and control bytes, very long strings, integers past 64 bits, JSON nested far
deeper than any request, bodies that are not UTF-8, and pagination cursors holding datetimes at
the calendar's edges.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

CONTROL = "".join(chr(code) for code in [*range(0x20), 0x7F, 0x85, 0x2028, 0x2029, 0xFEFF, 0x202E])


def texts(longest: int) -> st.SearchStrategy[str]:
    """Text a field may hold: control bytes (NUL first among them), bidi marks, words, and long runs."""
    return st.one_of(
        st.text(alphabet=st.sampled_from(CONTROL) | st.characters(codec="utf-8"), max_size=60),
        st.sampled_from(["\x00", "a\x00b", "\n", "\r\nInjected: header", "..", "../../etc/passwd", "%00", " ", ""]),
        st.integers(min_value=65, max_value=longest).map(lambda size: "x" * size),
    )


hostile_text = texts(70_000)  # in a body: past the API's 64 KiB limit
url_text = texts(12_000)  # in a URL: past any id, within a request head
big_integers = st.one_of(
    st.sampled_from([2**31, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1, 2**64, 2**70, -(2**63) - 1, -(2**70)]),
    st.integers(min_value=-(2**80), max_value=2**80),
)
json_leaves = st.one_of(st.none(), st.booleans(), big_integers, st.floats(allow_nan=False), hostile_text)
json_values = st.recursive(
    json_leaves,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(hostile_text, children, max_size=4),
    max_leaves=12,
)


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


deep_json = st.integers(min_value=100, max_value=30_000).map(nested)

# Every offset a datetime can carry (ISO 8601 allows up to ±23:59).
_offsets = st.timedeltas(min_value=-timedelta(hours=23, minutes=59), max_value=timedelta(hours=23, minutes=59)).map(
    lambda delta: timezone(timedelta(minutes=round(delta.total_seconds() / 60)))
)
edge_datetimes = st.one_of(
    st.sampled_from([datetime.min, datetime.max, datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)]),
    st.datetimes(min_value=datetime.min, max_value=datetime(1, 1, 2)).flatmap(
        lambda moment: _offsets.map(lambda offset: moment.replace(tzinfo=offset))
    ),
    st.datetimes(min_value=datetime(9999, 12, 30), max_value=datetime.max).flatmap(
        lambda moment: _offsets.map(lambda offset: moment.replace(tzinfo=offset))
    ),
    st.datetimes(timezones=st.none() | _offsets),
)


def _cursor(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode("utf-8", "surrogatepass")).decode().rstrip("=")


cursors = st.one_of(
    st.tuples(edge_datetimes, url_text).map(lambda pair: _cursor(f"{pair[0].isoformat()}|{pair[1]}")),
    url_text.map(_cursor),
    url_text,
)


def _with_invalid_utf8(junk: bytes) -> bytes:
    return b'{"title": "' + junk + b'"}'


# A request body as bytes: JSON of any shape, JSON with broken UTF-8 inside a string, deep JSON, raw bytes.
bodies = st.one_of(
    st.fixed_dictionaries({}, optional={"title": json_values, "extra": json_values}).map(
        lambda value: json.dumps(value).encode()
    ),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x00"]).map(_with_invalid_utf8),
    deep_json.map(lambda text: ('{"title": ' + text + "}").encode()),
    st.binary(max_size=200),
)


def one_sentence(detail: Any, limit: int = 300) -> bool:
    """An error's text: one line, a sentence's end, and short whatever the input was."""
    return isinstance(detail, str) and 0 < len(detail) <= limit and "\n" not in detail and detail.endswith(".")
