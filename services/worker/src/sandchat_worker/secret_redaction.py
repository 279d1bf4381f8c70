"""Masking secrets in what the agent printed, before it is written to the server log.

Never the only guard: clients get no raw agent output at all (sandchat_worker.agent_failures). This
is for the operator's log, which should not become a store of keys either. Patterns cover the
formats in tests/data/secret-corpus.txt; anything that looks like a long random token is masked too.
"""

from __future__ import annotations

import re
from typing import Final

MAX_LOGGED_CHARS: Final = 2000
MASK: Final = "…"

_PATTERNS: Final[tuple[tuple[re.Pattern[str], str], ...]] = (
    # PEM private keys, also cut off before their END line.
    (
        re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|$)", re.DOTALL),
        "<private key>",
    ),
    # Credentials in a URL: scheme://user:password@host, scheme://token@host.
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)(?:[^\s/@:]+(?::[^\s/@]*)?|:[^\s/@]+)@"), rf"\1{MASK}@"),
    # Header lines that carry credentials, whatever the scheme.
    (
        re.compile(r"(?i)\b((?:proxy-)?authorization|cookie|set-cookie|x-api-key)(\s*[:=]\s*)[^\r\n\"',}]+"),
        rf"\1\2{MASK}",
    ),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}"), rf"\1 {MASK}"),
    # Known token formats.
    (re.compile(r"\bsk-ant-[A-Za-z0-9_-]+"), f"sk-ant-{MASK}"),
    (re.compile(r"\b(?:sk|rk|pk)[-_](?:live|test|proj)?[-_]?[A-Za-z0-9_-]{20,}"), MASK),
    (re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA)[0-9A-Z]{16}\b"), MASK),
    (re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})"), MASK),
    (re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"), MASK),
    (re.compile(r"\bAIza[0-9A-Za-z_-]{30,}"), MASK),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}(?:\.[A-Za-z0-9_-]*){0,2}"), MASK),
    # name=value, name: value, "name": "value" (also escaped JSON) where the name says it is secret.
    (
        re.compile(
            r"(?i)([A-Za-z0-9_.-]*(?:key|token|secret|passw(?:or)?d|pwd|credential|auth|cookie|signature)"
            r"[A-Za-z0-9_.-]*)(\\?[\"']?\s*[:=]\s*)"
            r"(?:\\?\"(?:[^\"\\]|\\[^\"])*\\?\"|'[^']*'|[^\s\"',;}\\]+)"
        ),
        rf"\1\2{MASK}",
    ),
    # Anything else that looks like a long random token (a UUID is an id, not a secret).
    (
        re.compile(
            r"(?<![A-Za-z0-9_-])(?![0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(?![A-Za-z0-9_-]))"
            r"(?=[A-Za-z0-9+/_=-]*[0-9])(?=[A-Za-z0-9+/_=-]*[A-Za-z])[A-Za-z0-9+/_=-]{32,}"
        ),
        MASK,
    ),
)


def redact(text: str, limit: int = MAX_LOGGED_CHARS) -> str:
    """``text`` with every secret it recognises masked, bounded to ``limit`` characters."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text if len(text) <= limit else text[: limit - 1] + MASK
