"""Approval requests in a terminal: what the agent asks for, read as text, and the answer typed back.

y = allow once, a = allow always for this thread, n = deny (then an optional reason). For
AskUserQuestion each question is answered with an option's number (several, comma-separated, when
it allows more than one) or with free text.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final

from sandchat import wire

# Asks one line of the person at the terminal; None when nobody can answer (no more input).
Ask = Callable[[str], Awaitable[str | None]]

CHOICES: Final = "[y] allow once  [a] allow always for this thread  [n] deny"
DECISION_KEYS: Final[dict[str, wire.Decision]] = {"y": "allow", "a": "allow_always", "n": "deny"}
RESOLUTION_TEXT: Final[dict[str, str]] = {
    "allow": "allowed once",
    "allow_always": "allowed always for this thread",
    "deny": "denied",
    "interrupted": "not answered: the worker running the agent stopped",
    "cancelled": "withdrawn: the reply was stopped",
    "expired": "expired: nobody answered in time, so the agent was told no",
}


@dataclass(frozen=True, slots=True)
class Answer:
    decision: wire.Decision
    message: str | None = None
    answers: dict[str, str] | None = field(default=None)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _fields(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _diff(before: str, after: str, path: str) -> list[str]:
    lines = difflib.unified_diff(before.splitlines(), after.splitlines(), f"a{path}", f"b{path}", lineterm="", n=2)
    return list(lines)


def _edit_lines(tool: str, data: dict[str, Any]) -> list[str] | None:
    path = _text(data.get("file_path"))
    if path is None:
        return None
    if tool == "Write":
        content = _text(data.get("content"))
        return None if content is None else _diff("", content, path)
    edits = data.get("edits") if tool == "MultiEdit" else [data]
    if not isinstance(edits, list):
        return None
    lines: list[str] = []
    for edit in edits:
        before, after = _text(_fields(edit).get("old_string")), _text(_fields(edit).get("new_string"))
        if before is None or after is None:
            return None
        lines += _diff(before, after, path)
    return lines


def questions_of(request: wire.Approval) -> list[dict[str, Any]]:
    """AskUserQuestion's questions that have a text (anything else in the input is ignored)."""
    if request.tool != "AskUserQuestion":
        return []
    questions = _fields(request.input).get("questions")
    return [_fields(q) for q in questions if _text(_fields(q).get("question"))] if isinstance(questions, list) else []


def describe(request: wire.Approval) -> list[str]:
    """The request as lines of text: the command for Bash, a diff for edits, the input as JSON else."""
    if questions_of(request):
        return ["[approval] the agent asks you:"]
    data = _fields(request.input)
    head = f"[approval] the agent wants to use {request.tool}"
    if request.tool == "Bash" and _text(data.get("command")) is not None:
        description = _text(data.get("description"))
        return [head + (f": {description}" if description else ""), f"  $ {data['command']}"]
    if request.tool in ("Edit", "Write", "MultiEdit"):
        lines = _edit_lines(request.tool, data)
        if lines is not None:
            return [head, *(f"  {line}" for line in lines)]
    return [head, *(f"  {line}" for line in json.dumps(request.input, indent=2).splitlines())]


async def _decision(ask: Ask) -> Answer | None:
    while True:
        line = await ask(f"{CHOICES} > ")
        if line is None:
            return None
        decision = DECISION_KEYS.get(line.strip().lower()[:1])
        if decision is None:
            continue
        if decision != "deny":
            return Answer(decision)
        reason = await ask("Reason (optional, Enter for none) > ")
        return Answer("deny", (reason or "").strip() or None)


async def _question(ask: Ask, question: dict[str, Any]) -> str | None:
    options = [o for o in question.get("options") or [] if _text(_fields(o).get("label"))]
    multi = question.get("multiSelect") is True
    lines = [f"[question] {question['question']}"]
    for number, option in enumerate(options, 1):
        description = _text(option.get("description"))
        lines.append(f"  {number}) {option['label']}" + (f" - {description}" if description else ""))
    pick = "numbers separated by commas" if multi else "a number"
    prompt = "\n".join(lines) + f"\nPick {pick}, or type your own answer > "
    while True:
        line = await ask(prompt)
        if line is None:
            return None
        text = line.strip()
        if not text:
            continue
        parts = [p.strip() for p in text.split(",")] if multi else [text]
        if all(p.isdigit() and 1 <= int(p) <= len(options) for p in parts):
            return ", ".join(str(options[int(p) - 1]["label"]) for p in parts)
        return text


async def answer(request: wire.Approval, ask: Ask) -> Answer | None:
    """Ask the person at the terminal; None when nobody can answer here."""
    questions = questions_of(request)
    if not questions:
        return await _decision(ask)
    answers: dict[str, str] = {}
    for question in questions:
        chosen = await _question(ask, question)
        if chosen is None:
            return None
        answers[str(question["question"])] = chosen
    return Answer("allow", answers=answers)
