"""The tools sandchat-fake-claude pretends to run, and whether its permission mode asks before each.

Nothing is really run: each scenario prints what the real CLI would (tool_use, then tool_result). A
scenario that asks (by mode, as the pinned CLI does; AskUserQuestion in every mode) goes through a
:class:`Gate`: with `--permission-prompt-tool stdio` in live mode the question is a `control_request`
on stdout and the answer a `control_response` on stdin (see :mod:`sandchat_worker.simulator_live`);
otherwise nobody can answer and the tool is refused, as the real CLI refuses it.
"""

from __future__ import annotations

import os
import re
from typing import Any, NamedTuple, Protocol

from sandchat_worker.simulator_output import Simulator

ALL_MODES = frozenset({"bypassPermissions", "acceptEdits", "default", "plan"})
ASKING_MODES = frozenset({"default", "plan"})
QUESTION = "Which colour should the button be?"
_RULE = re.compile(r"^([A-Za-z][\w-]*)(?:\((.*)\))?$", re.DOTALL)


class ToolScenario(NamedTuple):
    name: str
    input: dict[str, Any]
    # The permission modes in which the CLI asks before running it.
    asks_in: frozenset[str]
    suggestions: list[dict[str, Any]]

    def output(self, tool_input: dict[str, Any]) -> str:
        """What the tool prints when it is allowed to run (with the input it was allowed with)."""
        match self.name:
            case "Bash":
                return "hi" if tool_input.get("command") == "echo hi" else "(Bash completed with no output)"
            case "Edit":
                return f"The file {tool_input.get('file_path')} has been updated."
            case "Write":
                return f"File created successfully at: {tool_input.get('file_path')}"
        answers = tool_input.get("answers")
        if not isinstance(answers, dict) or not answers:
            return "The user did not answer the questions."
        chosen = ", ".join(f'"{question}"="{answer}"' for question, answer in answers.items())
        return f"Your questions have been answered: {chosen}. You can now continue with these answers in mind."


def tool_scenario(word: str) -> ToolScenario:
    cwd = os.getcwd()
    accept_edits = {"type": "setMode", "mode": "acceptEdits", "destination": "session"}
    match word:
        case "tool":
            return ToolScenario("Bash", {"command": "echo hi", "description": "Say hi"}, frozenset(), [])
        case "touch":
            rule = {"toolName": "Bash", "ruleContent": "touch touched.txt"}
            suggestions: list[dict[str, Any]] = [
                {"type": "addRules", "rules": [rule], "behavior": "allow", "destination": "localSettings"},
                {"type": "addDirectories", "directories": [cwd], "destination": "session"},
                accept_edits,
            ]
            command = {"command": "touch touched.txt", "description": "Create a file"}
            return ToolScenario("Bash", command, ASKING_MODES, suggestions)
        case "edit":
            tool_input: dict[str, Any] = {
                "file_path": f"{cwd}/notes.md",
                "old_string": "The button is blue.",
                "new_string": "The button is green.",
                "replace_all": False,
            }
            return ToolScenario("Edit", tool_input, ASKING_MODES, [accept_edits])
        case "write":
            written = {"file_path": f"{cwd}/written.txt", "content": "written by the agent\n"}
            return ToolScenario("Write", written, ASKING_MODES, [accept_edits])
    options = [{"label": label, "description": f"Make it {label.lower()}."} for label in ("Blue", "Green")]
    question = {"question": QUESTION, "header": "Colour", "options": options, "multiSelect": False}
    return ToolScenario("AskUserQuestion", {"questions": [question]}, ALL_MODES, [])


class Permissions:
    """The session's permission mode and the rules it allows (from --allowedTools and "allow always")."""

    def __init__(self, mode: str = "bypassPermissions") -> None:
        self.mode = mode
        self.rules: list[dict[str, str]] = []

    def asks(self, scenario: ToolScenario) -> bool:
        return self.mode in scenario.asks_in and not any(_matches(rule, scenario) for rule in self.rules)

    def allow_flag(self, value: str) -> None:
        """One --allowedTools value: `Bash(npm test)` or `Read`."""
        if match := _RULE.match(value.strip()):
            rule = {"toolName": match.group(1)}
            if match.group(2):
                rule["ruleContent"] = match.group(2)
            self.rules.append(rule)

    def grant(self, updates: object) -> None:
        """A control_response's updatedPermissions: allow rules only, kept for this process (never a file)."""
        for update in updates if isinstance(updates, list) else []:
            if isinstance(update, dict) and update.get("type") == "addRules" and update.get("behavior") == "allow":
                self.rules += [rule for rule in update.get("rules") or [] if isinstance(rule, dict)]


class Answer(NamedTuple):
    allowed: bool
    input: dict[str, Any]
    message: str = ""


class Gate(Protocol):
    permissions: Permissions

    def ask(self, simulator: Simulator, scenario: ToolScenario, tool_use_id: str) -> Answer:
        """Ask before running the tool; raises Interrupted when the turn is stopped meanwhile."""
        ...


class NobodyToAsk:
    """No permission prompt tool: whatever would ask is refused, as the real CLI does."""

    def __init__(self, permissions: Permissions) -> None:
        self.permissions = permissions

    def ask(self, simulator: Simulator, scenario: ToolScenario, tool_use_id: str) -> Answer:
        message = f"Claude requested permissions to use {scenario.name}, but you haven't granted it yet."
        return Answer(allowed=False, input=scenario.input, message=message)


def run_tool(simulator: Simulator, scenario: ToolScenario, gate: Gate) -> None:
    tool_use_id = simulator.tool_use(scenario.name, scenario.input)
    if gate.permissions.asks(scenario):
        answer = gate.ask(simulator, scenario, tool_use_id)
    else:
        answer = Answer(allowed=True, input=scenario.input)
    if answer.allowed:
        simulator.tool_result(tool_use_id, scenario.output(answer.input), is_error=False)
    else:
        simulator.tool_result(tool_use_id, answer.message, is_error=True)


def _matches(rule: dict[str, str], scenario: ToolScenario) -> bool:
    if rule.get("toolName") != scenario.name:
        return False
    content = rule.get("ruleContent")
    return content is None or content in (scenario.input.get("command"), scenario.input.get("file_path"))
