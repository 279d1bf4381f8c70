"""The one NDJSON parser, against real CLI transcripts and the edge cases the CLI can produce."""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sandchat_worker.agent_events import AgentEvent, StatusNote, TextDelta, ToolOutput, ToolUse, merge_text_deltas
from sandchat_worker.agent_stream import MAX_TOOL_OUTPUT_CHARS, TRUNCATED_MARKER, AgentStreamParser, LineSplitter

from tests.worker.conftest import CLI_DATA

REPLY = "Hello! Here is **bold** and a list:\n\n- one\n- two\n\n```python\nprint('hi')\n```\n"


def parse(path: Path) -> tuple[AgentStreamParser, list[AgentEvent]]:
    parser = AgentStreamParser()
    events: list[AgentEvent] = []
    for line in path.read_bytes().splitlines():
        events += parser.feed(line)
    return parser, events


def text_of(events: list[AgentEvent]) -> str:
    return "".join(event.text for event in events if isinstance(event, TextDelta))


def test_every_transcript_parses_without_skipping_a_line() -> None:
    transcripts = sorted(CLI_DATA.glob("*.jsonl"))
    assert len(transcripts) == 8
    for path in transcripts:
        parser, _ = parse(path)
        assert parser.skipped_lines == 0, path.name
        assert parser.session_id, path.name


def test_text_reply_streams_deltas_once_and_ends_with_the_result() -> None:
    parser, events = parse(CLI_DATA / "text-reply.jsonl")
    assert all(isinstance(event, TextDelta) for event in events)
    assert len(events) > 5  # token by token, not one block
    assert text_of(events) == REPLY  # the `assistant` copy of the text is not repeated
    assert parser.session_id == "aee49d3f-0a55-4fca-b9ba-963e4190ed50"
    assert parser.result is not None
    assert not parser.result.is_error
    assert parser.result.cost_usd == pytest.approx(0.000648)
    assert parser.result.duration_ms == 274
    assert parser.result.num_turns == 1
    assert parser.result.session_id == parser.session_id


def test_resumed_reply_keeps_the_session() -> None:
    first, _ = parse(CLI_DATA / "text-reply.jsonl")
    resumed, events = parse(CLI_DATA / "resumed-reply.jsonl")
    assert resumed.session_id == first.session_id
    assert text_of(events) == REPLY


def test_tool_use_is_emitted_once_with_its_complete_input_then_its_output() -> None:
    _, events = parse(CLI_DATA / "tool-use.jsonl")
    tools = [event for event in events if isinstance(event, ToolUse)]
    outputs = [event for event in events if isinstance(event, ToolOutput)]
    assert tools == [ToolUse("toolu_01XYZ", "Bash", {"command": "echo hi", "description": "Say hi"})]
    assert outputs == [ToolOutput("toolu_01XYZ", "hi", is_error=False)]
    kinds = [type(event).__name__ for event in merge_text_deltas(events)]
    assert kinds == ["TextDelta", "ToolUse", "ToolOutput", "TextDelta"]
    assert text_of(events) == "Let me check." + REPLY


def test_tool_input_is_assembled_from_deltas_when_no_assistant_block_comes() -> None:
    parser = AgentStreamParser()
    lines = [
        {
            "type": "stream_event",
            "event": {
                "type": "content_block_start",
                "index": 2,
                "content_block": {"type": "tool_use", "id": "t1", "name": "Read", "input": {}},
            },
        },
        {
            "type": "stream_event",
            "event": {
                "type": "content_block_delta",
                "index": 2,
                "delta": {"type": "input_json_delta", "partial_json": '{"file_'},
            },
        },
        {
            "type": "stream_event",
            "event": {
                "type": "content_block_delta",
                "index": 2,
                "delta": {"type": "input_json_delta", "partial_json": 'path": "a.txt"}'},
            },
        },
        {"type": "stream_event", "event": {"type": "content_block_stop", "index": 2}},
        {
            "type": "assistant",
            "message": {
                "id": "m",
                "content": [{"type": "tool_use", "id": "t1", "name": "Read", "input": {"file_path": "a.txt"}}],
            },
        },
    ]
    events = [event for line in lines for event in parser.feed(json.dumps(line))]
    assert events == [ToolUse("t1", "Read", {"file_path": "a.txt"})]


def test_resume_of_an_unknown_session_is_recognised_as_stale() -> None:
    parser, events = parse(CLI_DATA / "resume-not-found.stdout.jsonl")
    assert events == []
    assert parser.result is not None
    assert parser.result.is_error
    assert parser.result.is_stale_session
    assert "No conversation found" in (CLI_DATA / "resume-not-found.stderr.txt").read_text()


def test_rejected_credentials_are_flagged_at_the_first_retry() -> None:
    parser, events = parse(CLI_DATA / "auth-failed-retrying.jsonl")
    assert parser.auth_failed
    assert StatusNote("Claude API retrying (attempt 1/10): authentication_failed") in events


def test_unreachable_api_becomes_a_status_note_not_an_auth_failure() -> None:
    parser, events = parse(CLI_DATA / "api-unreachable-retrying.jsonl")
    assert not parser.auth_failed
    assert events[:2] == [
        StatusNote("Claude API retrying (attempt 1/10): unknown"),
        StatusNote("Claude API retrying (attempt 2/10): unknown"),
    ]


def test_unknown_types_fields_and_non_json_lines_are_ignored() -> None:
    parser = AgentStreamParser()
    assert parser.feed(b"not json at all") == []
    assert parser.feed(b"[1, 2]") == []
    assert parser.feed(b"") == []
    assert parser.feed(json.dumps({"type": "brand_new_event", "x": 1})) == []
    delta = {"delta": {"text": "hi", "type": "text_delta", "extra": True}, "index": 0, "type": "content_block_delta"}
    assert parser.feed(json.dumps({"future_field": [], "event": delta, "type": "stream_event"})) == [TextDelta("hi")]
    assert parser.skipped_lines == 2


def test_a_line_of_several_megabytes_is_parsed_and_its_tool_output_bounded() -> None:
    big = "x" * (5 * 1024 * 1024)
    line = json.dumps(
        {
            "type": "user",
            "message": {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "t",
                        "is_error": True,
                        "content": [{"type": "text", "text": big}],
                    }
                ],
            },
        }
    )
    [output] = AgentStreamParser().feed(line.encode())
    assert isinstance(output, ToolOutput)
    assert output.is_error
    assert output.output.endswith(TRUNCATED_MARKER)
    assert len(output.output) == MAX_TOOL_OUTPUT_CHARS + len(TRUNCATED_MARKER)


def test_sub_agent_messages_are_not_shown_as_the_reply() -> None:
    delta = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "inner"}}
    line = {"type": "stream_event", "event": delta, "parent_tool_use_id": "toolu_task"}
    assert AgentStreamParser().feed(json.dumps(line)) == []


def test_merging_joins_only_adjacent_text() -> None:
    events: list[AgentEvent] = [TextDelta("a"), TextDelta("b"), StatusNote("s"), TextDelta("c"), TextDelta("")]
    assert merge_text_deltas(events) == [TextDelta("ab"), StatusNote("s"), TextDelta("c")]


@settings(max_examples=200, deadline=None)
@given(
    data=st.lists(st.binary(max_size=40) | st.just(b"\n"), max_size=40).map(b"".join),
    cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=20),
)
def test_lines_come_out_whole_however_the_output_is_cut_into_reads(data: bytes, cuts: list[int]) -> None:
    splitter = LineSplitter(max_line_bytes=10_000)
    bounds = sorted({0, len(data), *(cut for cut in cuts if cut < len(data))})
    lines = [line for start, end in pairwise(bounds) for line in splitter.feed(data[start:end])]
    lines += splitter.finish()
    expected = data.split(b"\n")
    if expected[-1] == b"":
        expected.pop()  # the output ended with a newline: no last partial line
    assert lines == expected


def test_a_line_over_the_limit_is_skipped_and_counted_and_the_next_lines_come_through() -> None:
    splitter = LineSplitter(max_line_bytes=100)
    lines = splitter.feed(b"first\n" + b"x" * 60)
    lines += splitter.feed(b"y" * 60)  # now over the limit: dropped as it arrives
    lines += splitter.feed(b"z" * 1000 + b"\nlast\n")
    assert (lines, splitter.oversized) == ([b"first", b"last"], 1)


def test_a_line_exactly_at_the_limit_is_kept() -> None:
    splitter = LineSplitter(max_line_bytes=100)
    assert splitter.feed(b"a" * 50) + splitter.feed(b"a" * 50 + b"\n") == [b"a" * 100]
    assert splitter.oversized == 0
