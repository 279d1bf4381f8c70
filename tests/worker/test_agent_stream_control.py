"""The parser on the CLI's control protocol: a live process's approvals, withdrawals, answers and turns.

The transcripts are real output of the pinned CLI run with `--input-format stream-json
--permission-prompt-tool stdio --permission-mode default` (what we wrote to it is beside each one,
`*.stdin.ndjson`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from sandchat_worker.agent_events import AgentEvent, ApprovalRequest, ApprovalWithdrawn, ToolOutput
from sandchat_worker.agent_stream import AgentResult, AgentStreamParser, ControlAnswer, UnservedControlRequest

from tests.worker.conftest import CLI_DATA
from tests.worker.test_agent_stream import text_of


@dataclass
class Turn:
    events: list[AgentEvent] = field(default_factory=list)
    control: list[ControlAnswer | UnservedControlRequest] = field(default_factory=list)
    result: AgentResult | None = None


def turns(name: str) -> list[Turn]:
    """The transcript cut at each `result`, the way a live agent reads it."""
    parser = AgentStreamParser()
    cut: list[Turn] = [Turn()]
    for line in (CLI_DATA / name).read_bytes().splitlines():
        cut[-1].events += parser.feed(line)
        cut[-1].control += parser.take_control()
        if parser.result is not None:
            cut[-1].result = parser.result
            parser.begin_turn()
            cut.append(Turn())
    assert cut[-1] == Turn(), "nothing follows the last result"
    return cut[:-1]


def approvals(turn: Turn) -> list[ApprovalRequest]:
    return [event for event in turn.events if isinstance(event, ApprovalRequest)]


def test_a_tool_that_needs_permission_is_asked_for_with_the_clis_suggestions() -> None:
    first = turns("live-approvals.jsonl")[0]
    [request] = approvals(first)
    assert request.tool == "Bash"
    assert request.input == {"command": "touch touched.txt", "description": "Create a file"}
    assert request.tool_use_id
    assert request.tool_use_id.startswith("toolu_")
    add_rules = [s for s in request.suggestions if s["type"] == "addRules"]
    assert add_rules[0]["rules"] == [{"toolName": "Bash", "ruleContent": "touch touched.txt"}]
    assert first.result is not None
    assert not first.result.is_error


def test_each_turn_of_one_process_ends_with_its_own_result_and_keeps_the_session() -> None:
    cut = turns("live-approvals.jsonl")
    assert len(cut) == 4
    assert all(turn.result is not None and turn.result.text == "Done." for turn in cut)
    assert len({turn.result.session_id for turn in cut if turn.result}) == 1
    assert [text_of(turn.events) for turn in cut] == ["Let me check.Done."] * 4


def test_a_rule_granted_for_the_session_is_not_asked_for_again() -> None:
    second = turns("live-approvals.jsonl")[1]
    assert approvals(second) == []
    assert [event.output for event in second.events if isinstance(event, ToolOutput)] == [
        "(Bash completed with no output)"
    ]


def test_a_denied_tool_reports_the_reason_as_its_error_output() -> None:
    third = turns("live-approvals.jsonl")[2]
    [request] = approvals(third)
    assert request.tool == "Write"
    [output] = [event for event in third.events if isinstance(event, ToolOutput)]
    assert output.is_error
    assert output.output == "Not that file, please."


def test_a_question_to_the_user_arrives_as_an_approval_request() -> None:
    fourth = turns("live-approvals.jsonl")[3]
    [request] = approvals(fourth)
    assert request.tool == "AskUserQuestion"
    assert request.input["questions"][0]["question"] == "Which colour should the button be?"
    assert request.suggestions == []
    [output] = [event for event in fourth.events if isinstance(event, ToolOutput)]
    assert '"Which colour should the button be?"="Green"' in output.output


def test_an_interrupt_mid_reply_is_answered_then_ends_the_turn_with_the_partial_text() -> None:
    first = turns("live-interrupts.jsonl")[0]
    assert first.control == [ControlAnswer("req_1_interrupt", None, {"still_queued": []})]
    assert text_of(first.events).startswith("slow… slow… ")
    assert first.result is not None
    assert first.result.subtype == "error_during_execution"
    assert not first.result.is_stale_session


def test_an_interrupt_while_asking_withdraws_the_request() -> None:
    second = turns("live-interrupts.jsonl")[1]
    [request] = approvals(second)
    withdrawn = [event for event in second.events if isinstance(event, ApprovalWithdrawn)]
    assert withdrawn == [ApprovalWithdrawn(request.request_id)]
    assert second.events.index(request) < second.events.index(withdrawn[0])
    assert second.result is not None
    assert second.result.subtype == "error_during_execution"


def test_a_refused_control_request_carries_the_clis_reason() -> None:
    third = turns("live-interrupts.jsonl")[2]
    accepted, refused = third.control
    assert accepted == ControlAnswer("req_3_mode", None, {"mode": "acceptEdits"})
    assert refused.request_id == "req_4_mode"
    assert isinstance(refused, ControlAnswer)
    assert refused.error is not None
    assert "dangerously-skip-permissions" in refused.error


def test_a_control_request_we_do_not_serve_is_reported_so_it_can_be_refused() -> None:
    parser = AgentStreamParser()
    line = {"type": "control_request", "request_id": "r1", "request": {"subtype": "hook_callback", "callback_id": "x"}}
    assert parser.feed(json.dumps(line)) == []
    assert parser.take_control() == [UnservedControlRequest("r1", "hook_callback")]
    assert parser.take_control() == []


def test_control_lines_of_the_wrong_shape_are_ignored() -> None:
    parser = AgentStreamParser()
    for line in (
        {"type": "control_request", "request_id": 5, "request": {"subtype": "can_use_tool"}},
        {"type": "control_request", "request_id": "r", "request": "not an object"},
        {"type": "control_cancel_request"},
        {"type": "control_response", "response": {"subtype": "success"}},
        {"type": "control_response", "response": []},
    ):
        assert parser.feed(json.dumps(line)) == []
    assert parser.take_control() == []
