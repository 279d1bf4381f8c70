"""SANDBOX_TOKEN on the sandbox side: the token itself, or only its SHA-256 (``sha256:<hex>``).

With the hashed form the sandbox holds nothing that would let anyone in, not even an agent that
somehow read the sandbox's own configuration: the worker keeps the token, the sandbox its hash.
Compose generates such a pair on first start (`sandchat-sandbox new-token`).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path
from typing import Final

HASHED: Final = "sha256:"


def token_matches(presented: str, configured: str) -> bool:
    """Constant-time: does the presented token match the configured token (or hash)?"""
    if configured.startswith(HASHED):
        digest = hashlib.sha256(presented.encode()).hexdigest()
        return hmac.compare_digest(digest.encode(), configured[len(HASHED) :].strip().lower().encode())
    return hmac.compare_digest(presented.encode(), configured.encode())


def hashed(token: str) -> str:
    return HASHED + hashlib.sha256(token.encode()).hexdigest()


def write_token_pair(worker_file: Path, sandbox_file: Path) -> bool:
    """Create the worker's token and the sandbox's hash of it, unless they exist; True when written."""
    if worker_file.exists() and sandbox_file.exists():
        return False
    token = worker_file.read_text().strip() if worker_file.exists() else secrets.token_urlsafe(32)
    for path, content in ((worker_file, token), (sandbox_file, hashed(token))):
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
            with os.fdopen(descriptor, "w") as file:
                file.write(content + "\n")
    return True
