"""Container health check for the api, gateway and sandbox images: exit 0 when GET /health answers 200.

    python /app/docker/healthcheck.py api       # http://127.0.0.1:$API_PORT/health
    python /app/docker/healthcheck.py gateway   # http://127.0.0.1:$GATEWAY_PORT/health
    python /app/docker/healthcheck.py sandbox   # http://127.0.0.1:$SANDBOX_PORT/health

Standard library only (the slim images carry no curl). Prints one line saying why when unhealthy;
Docker keeps that line in `docker inspect --format '{{json .State.Health}}' <container>`.
The worker's check is `sandchat-worker check`.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

PORT_VARIABLE = {"api": ("API_PORT", 8000), "gateway": ("GATEWAY_PORT", 8001), "sandbox": ("SANDBOX_PORT", 8002)}
TIMEOUT_S = 4.0


def health_url(service: str, environ: dict[str, str]) -> str:
    variable, default = PORT_VARIABLE[service]
    port = environ.get(variable) or str(default)
    return f"http://127.0.0.1:{port}/health"


def check(url: str) -> str | None:
    """None when healthy, else the reason in one line."""
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:  # noqa: S310 (a fixed http URL)
            status: int = response.status
    except urllib.error.HTTPError as exc:
        body = exc.read(300).decode("utf-8", "replace").strip()
        return f"{url} answered {exc.code}: {body}"
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return f"{url} unreachable: {reason}"
    return None if status == 200 else f"{url} answered {status}"


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in PORT_VARIABLE:
        print("usage: healthcheck.py api|gateway|sandbox", file=sys.stderr)
        return 2
    problem = check(health_url(argv[0], dict(os.environ)))
    if problem is not None:
        print(f"unhealthy: {problem}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
