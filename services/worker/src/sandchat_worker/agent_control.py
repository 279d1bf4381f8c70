"""What we write to a live CLI's stdin: user messages, our control requests, and answers to its requests.

One NDJSON object per line (``--input-format stream-json``). An answer to a ``can_use_tool`` request
is a ``control_response``: ``allow`` with the tool's input (plus the person's ``answers`` for
AskUserQuestion), optionally with permission rules for the rest of the session; or ``deny`` with a
reason the agent reads. "Allow always" grants only the CLI's own ``addRules`` suggestions, and only
for the session (never written to a settings file): the caller stores the rules on the thread and
gives them back with ``--allowedTools`` when a new process resumes it.
"""

from __future__ import annotations

import json
from typing import Any, Final, NotRequired, TypedDict

from sandchat.wire import Decision

from sandchat_worker.agent_events import ApprovalRequest

DENIED_MESSAGE: Final = "The user denied this tool use."


class PermissionRule(TypedDict):
    """A rule as the CLI writes it (and as the thread stores it): a tool, and what it may be used for."""

    toolName: str
    ruleContent: NotRequired[str]


def user_message(prompt: str) -> bytes:
    return _line({"type": "user", "message": {"role": "user", "content": prompt}})


def control_request(request_id: str, subtype: str, **fields: Any) -> bytes:
    return _line({"type": "control_request", "request_id": request_id, "request": {"subtype": subtype, **fields}})


def control_error(request_id: str, error: str) -> bytes:
    return _line(
        {"type": "control_response", "response": {"subtype": "error", "request_id": request_id, "error": error}}
    )


def approval_answer(
    request: ApprovalRequest, decision: Decision, message: str | None, answers: dict[str, str] | None
) -> tuple[bytes, list[PermissionRule]]:
    """The control_response for a person's decision, and the rules it grants for the session."""
    response: dict[str, Any]
    rules: list[PermissionRule] = []
    if decision == "deny":
        response = {"behavior": "deny", "message": message or DENIED_MESSAGE}
    else:
        updated = request.input
        if answers and isinstance(updated, dict):
            updated = {**updated, "answers": answers}
        response = {"behavior": "allow", "updatedInput": updated}
        if decision == "allow_always":
            rules = suggested_rules(request.suggestions)
        if rules:
            grant = {"type": "addRules", "rules": rules, "behavior": "allow", "destination": "session"}
            response["updatedPermissions"] = [grant]
    success = {"subtype": "success", "request_id": request.request_id, "response": response}
    return _line({"type": "control_response", "response": success}), rules


def suggested_rules(suggestions: list[Any]) -> list[PermissionRule]:
    """The allow rules among the CLI's suggestions (its `addRules` entries), well-formed ones only."""
    rules: list[PermissionRule] = []
    for suggestion in suggestions:
        if not isinstance(suggestion, dict) or suggestion.get("type") != "addRules":
            continue
        if suggestion.get("behavior", "allow") != "allow" or not isinstance(suggestion.get("rules"), list):
            continue
        for rule in suggestion["rules"]:
            if parsed := parse_rule(rule):
                rules.append(parsed)
    return rules


def parse_rule(value: object) -> PermissionRule | None:
    """A stored or suggested rule, or None when it is not one."""
    if not isinstance(value, dict) or not isinstance(value.get("toolName"), str) or not value["toolName"]:
        return None
    rule = PermissionRule(toolName=value["toolName"])
    content = value.get("ruleContent")
    if isinstance(content, str) and content:
        rule["ruleContent"] = content
    return rule


def rule_flag(rule: PermissionRule) -> str:
    """The rule as `--allowedTools` takes it: `Bash(npm test)`, or `Read` for the whole tool."""
    content = rule.get("ruleContent")
    return f"{rule['toolName']}({content})" if content else rule["toolName"]


def _line(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode() + b"\n"
