"""The one settings object: environment variables (and `.env`), validated once at start.

A bad value never surfaces as a traceback: :func:`load_settings` prints one line naming the
variable and what it accepts, then exits with status 2.
"""

from __future__ import annotations

import ipaddress
import re
import sys
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Final, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from sandchat.agent_cli import PermissionMode
from sandchat.redis_keys import RedisKeys

AgentRunnerName = Literal["docker-sandbox", "local", "sandbox", "simulator"]
AuthMode = Literal["none", "token", "accounts", "proxy"]
ProxyNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Port = Annotated[int, Field(ge=1, le=65535)]

_ASYNC_DRIVERS = ("sqlite+aiosqlite", "postgresql+asyncpg")
_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")

# What each variable accepts, for the one-line error message.
_ACCEPTS: dict[str, str] = {
    "database_url": "an async SQLAlchemy URL: sqlite+aiosqlite:///path or postgresql+asyncpg://user@host/db",
    "redis_url": "a Redis URL such as redis://127.0.0.1:6379/0",
    "api_port": "a port number from 1 to 65535",
    "gateway_port": "a port number from 1 to 65535",
    "agent_runner": "one of docker-sandbox, local, sandbox, simulator",
    "sandbox_port": "a port number from 1 to 65535",
    "sandbox_url": "a ws:// or wss:// URL of the sandbox service, such as ws://127.0.0.1:8002",
    "sandbox_token": "a secret of at least 16 characters shared by the worker and the sandbox",
    "sandbox_token_file": "a readable file holding SANDBOX_TOKEN",
    "sandbox_cli": "docker or sbx",
    "agent_env_passthrough": "comma-separated names of variables to pass to the agent, none of them a setting",
    "agent_inactivity_timeout_s": "a number of seconds greater than 0",
    "worker_max_jobs": "a whole number of at least 1",
    "agent_permission_mode": "one of bypassPermissions, acceptEdits, default, plan",
    "approval_timeout_s": "a number of seconds greater than 0, or nothing to wait forever",
    "turn_pickup_timeout_s": "a number of seconds greater than 0",
    "agent_idle_s": "a number of seconds greater than 0",
    "worker_max_agents": "a whole number of at least 1",
    "allowed_origins": "a comma-separated list of origins such as http://127.0.0.1:8000",
    "allowed_hosts": "a comma-separated list of host names such as chat.example.com, 127.0.0.1:8000 or [::1], or *",
    "redis_namespace": "1 to 64 letters, digits, dots, dashes or underscores",
    "gateway_public_url": "a ws:// or wss:// URL of the gateway's /chat endpoint",
    "worker_metrics_port": "a port number from 1 to 65535",
    "log_format": "text or json",
    "otel_exporter_otlp_endpoint": "an http:// or https:// URL of an OTLP/HTTP collector, such as http://127.0.0.1:4318",
    "auth_mode": "one of none, token, accounts, proxy",
    "auth_proxy_header": "the name of the header your proxy puts the signed-in user in, such as X-Forwarded-Email",
    "trusted_proxies": "comma-separated addresses or networks of your reverse proxies, such as 127.0.0.1,10.0.0.0/8",
    "agent_shared_login": "true or false",
    "secret_key": "a random secret of at least 32 characters (e.g. from `openssl rand -hex 32`)",
    "user_max_turns": "a whole number of at least 1",
    "local_workspace": "a directory for the local and simulator runners' agents",
}


_SECRET_BEARING = frozenset(
    {
        "auth_token",
        "database_url",
        "redis_url",
        "sandbox_token",
        "sandbox_url",
        "otel_exporter_otlp_endpoint",
        "secret_key",
    }
)
MIN_SECRET_KEY_CHARS = 32
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MIN_SANDBOX_TOKEN_CHARS = 16

# A Host header's name: a DNS name, an IPv4 address or a bracketed IPv6 one, with an optional port.
_HOST: Final = re.compile(r"(?:[a-z0-9_.-]+|\[[0-9a-f:.]+\])(?::[0-9]{1,5})?")
LOOPBACK_HOSTS: Final = ("localhost", "127.0.0.1", "[::1]")
_WILDCARD_BINDS: Final = ("0.0.0.0", "::", "")  # noqa: S104 - compared against, never bound


def host_name(host: str) -> str:
    """How a host appears in a Host header: lower case, IPv6 literals in brackets, no trailing dot."""
    host = host.strip().lower().rstrip(".")
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def derived_allowed_hosts(allowed_origins: tuple[str, ...], api_host: str) -> tuple[str, ...]:
    """ALLOWED_HOSTS when unset: the hosts of ALLOWED_ORIGINS, and the address the API is bound to.

    Bound to a wildcard or loopback address, that is the loopback names: a page on another site
    cannot send those as its Host (DNS rebinding sends the attacker's name), and local health
    checks use them.
    """
    hosts = [host_name(urlsplit(origin).hostname or "") for origin in allowed_origins]
    bound = host_name(api_host)
    hosts += LOOPBACK_HOSTS if bound in (*_WILDCARD_BINDS, "[::]", *LOOPBACK_HOSTS) else (bound,)
    return tuple(dict.fromkeys(host for host in hosts if host))


def _comma_separated(value: object, parse: Callable[[str], object]) -> object:
    """A comma-separated setting as a tuple of its non-empty parts, each stripped and parsed (``parse``
    raises ValueError for a bad one); a value that is not a string, as it is."""
    if isinstance(value, str):
        return tuple(parse(part.strip()) for part in value.split(",") if part.strip())
    return value


def _origin(part: str) -> str:
    origin = part.rstrip("/")
    if not origin.startswith(("http://", "https://")):
        raise ValueError(f"{origin!r} is not an http(s) origin")
    return origin


def _host(part: str) -> str:
    host = part.lower()
    if host != "*" and not _HOST.fullmatch(host):
        raise ValueError(f"{host!r} is not a host name")
    return host


def _network(part: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(part, strict=False)


def derived_allowed_origins(api_host: str, api_port: int) -> tuple[str, ...]:
    """ALLOWED_ORIGINS when unset: the address the API serves the page at (both loopback names when
    it is bound to loopback or to every address), so that changing API_PORT alone keeps the page working.
    """
    bound = host_name(api_host)
    hosts = ("127.0.0.1", "localhost") if bound in (*_WILDCARD_BINDS, "[::]", *LOOPBACK_HOSTS) else (bound,)
    return tuple(f"http://{host}:{api_port}" for host in hosts)


class Settings(BaseSettings):
    """Every setting of every service (docs/operating.md#configuration); field names are the env vars, lower-cased."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///./data/sandchat.db"
    redis_url: str = "redis://127.0.0.1:6379/0"
    api_host: str = "127.0.0.1"
    api_port: Port = 8000
    gateway_host: str = "127.0.0.1"
    gateway_port: Port = 8001
    # Where browsers reach the gateway when it is not API host + GATEWAY_PORT (a proxy, TLS).
    gateway_public_url: str | None = None
    # Derived from API_HOST and API_PORT when unset (http://127.0.0.1:8000 and http://localhost:8000).
    allowed_origins: Annotated[tuple[str, ...], NoDecode] = ()
    # The Host names the API answers to (a page on another site reaching it by DNS rebinding is
    # refused); derived from ALLOWED_ORIGINS and API_HOST when unset. `*` answers to any.
    allowed_hosts: Annotated[tuple[str, ...], NoDecode] = ()
    auth_token: SecretStr | None = None
    # Who may use the stack (docs/security.md): none (one implicit person, loopback only), token
    # (AUTH_TOKEN; the default when it is set), accounts (built-in users), proxy (a signing-in proxy).
    auth_mode: AuthMode | None = None
    # proxy mode: the header holding the signed-in user, honoured only from TRUSTED_PROXIES.
    auth_proxy_header: str | None = None
    trusted_proxies: Annotated[tuple[ProxyNetwork, ...], NoDecode] = ()
    # Compose only: the one address the stack is published on (its `edge`); the services inside
    # listen on every interface of the compose network.
    sandchat_bind: str | None = None
    agent_runner: AgentRunnerName = "docker-sandbox"
    sandbox_name: str = "my-sandbox"
    sandbox_workspace: str = "/workspace"
    # docker-sandbox: Docker Desktop's `docker sandbox` commands, or the standalone `sbx` CLI.
    sandbox_cli: Literal["docker", "sbx"] = "docker"
    claude_bin: str = "claude"
    # The sandbox service (AGENT_RUNNER=sandbox): where it listens, where the worker finds it, and
    # the secret they share (or a file holding it; on the sandbox side it may be `sha256:<hex>`).
    sandbox_host: str = "127.0.0.1"
    sandbox_port: Port = 8002
    sandbox_url: str = "ws://127.0.0.1:8002"
    sandbox_token: SecretStr | None = None
    sandbox_token_file: Path | None = None
    # Extra variables, by name, that the agent may see beside the allow-list (sandchat.agent_env).
    agent_env_passthrough: Annotated[tuple[str, ...], NoDecode] = ()
    agent_inactivity_timeout_s: Annotated[float, Field(gt=0)] = 600
    worker_max_jobs: Annotated[int, Field(ge=1)] = 50
    # How the agent asks before it acts, for threads that chose no mode of their own.
    agent_permission_mode: PermissionMode = "bypassPermissions"
    # An approval request nobody answers is refused after this long; unset: it waits forever.
    approval_timeout_s: Annotated[float, Field(gt=0)] | None = None
    # A turn no worker takes within this long ends with an error (the message stays stored).
    turn_pickup_timeout_s: Annotated[float, Field(gt=0)] = 30
    # A live agent (one CLI process per active thread) ends after this long without a turn; the next
    # message resumes its session in a new process.
    agent_idle_s: Annotated[float, Field(gt=0)] = 600
    # Live agents one worker keeps (an idle real CLI takes about 215 MB): past this the longest-idle one
    # ends first; one in use never does (busy agents go over it until their turns end).
    worker_max_agents: Annotated[int, Field(ge=1)] = 8
    # Prefix of every Redis key, queue and channel: stacks sharing one Redis need different ones.
    redis_namespace: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")] = "sandchat"
    # The built web UI; found next to the sources when unset (services/web/dist).
    web_dist_dir: Path | None = None
    # Observability (docs/operating.md): the worker's /metrics listener, the log lines' format, and
    # where traces go (OTLP/HTTP; unset: tracing off).
    worker_metrics_host: str = "127.0.0.1"
    worker_metrics_port: Port = 8003
    log_format: Literal["text", "json"] = "text"
    otel_exporter_otlp_endpoint: str | None = None
    # People (docs/security.md, "Each person's agent"): whether the operator's own agent login serves a
    # person who stored none, and how many turns one person may have running at once (the rest wait).
    agent_shared_login: bool = False
    # The key people's stored agent logins are encrypted with (sandchat.agent_logins); unset: none can be stored.
    secret_key: SecretStr | None = None
    user_max_turns: Annotated[int, Field(ge=1)] = 3
    # The local and simulator runners: the directory people's directories (users/<id>/…) are made in;
    # unset: the worker's working directory (where those agents have always run).
    local_workspace: Path | None = None

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        try:
            url = make_url(value)
        except ArgumentError as exc:
            raise ValueError("not a database URL") from exc
        if url.drivername not in _ASYNC_DRIVERS:
            raise ValueError(f"driver {url.drivername!r} is not an async driver")
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str) -> str:
        if not value.startswith(_REDIS_SCHEMES):
            raise ValueError("not a Redis URL")
        return value

    @field_validator("gateway_public_url")
    @classmethod
    def _check_gateway_public_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("ws://", "wss://")):
            raise ValueError("not a WebSocket URL")
        return value or None

    @field_validator("otel_exporter_otlp_endpoint")
    @classmethod
    def _check_otlp_endpoint(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("not an HTTP URL")
        return value

    @field_validator("sandbox_url")
    @classmethod
    def _check_sandbox_url(cls, value: str) -> str:
        if not value.startswith(("ws://", "wss://")):
            raise ValueError("not a WebSocket URL")
        return value.rstrip("/")

    @field_validator("sandbox_token", "secret_key")
    @classmethod
    def _check_secret_length(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        shortest = MIN_SECRET_KEY_CHARS if info.field_name == "secret_key" else MIN_SANDBOX_TOKEN_CHARS
        if value is not None and len(value.get_secret_value().strip()) < shortest:
            raise ValueError("too short")
        return value

    @field_validator("agent_env_passthrough", mode="before")
    @classmethod
    def _split_passthrough(cls, value: object) -> object:
        value = _comma_separated(value, str)
        if isinstance(value, tuple | list):
            settings = {name.upper() for name in cls.model_fields}
            for name in value:
                if not isinstance(name, str) or not _ENV_NAME.match(name) or name.upper() in settings:
                    raise ValueError(f"{name!r} cannot be passed to the agent")
        return value

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        return _comma_separated(value, _origin)

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        return _comma_separated(value, _host)

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: object) -> object:
        return _comma_separated(value, _network)

    @field_validator("auth_proxy_header")
    @classmethod
    def _check_proxy_header(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9-]{1,100}", value):
            raise ValueError("not a header name")
        return value

    @model_validator(mode="after")
    def _resolve_auth_mode(self) -> Settings:
        if self.auth_mode is None:
            self.auth_mode = "token" if self.auth_token is not None else "none"
        if self.auth_mode == "token" and self.auth_token is None:
            raise SettingsError("AUTH_MODE=token needs AUTH_TOKEN: set it, or choose AUTH_MODE=accounts or proxy.")
        if self.auth_mode == "proxy" and (self.auth_proxy_header is None or not self.trusted_proxies):
            raise SettingsError(
                "AUTH_MODE=proxy needs AUTH_PROXY_HEADER and TRUSTED_PROXIES (the header is honoured only from those)."
            )
        if self.auth_mode == "none" and (exposed := self.exposed_address()) is not None:
            raise SettingsError(
                f"AUTH_MODE=none lets anyone who reaches {exposed} drive the agent: bind to 127.0.0.1, "
                "or set AUTH_MODE=accounts (or AUTH_TOKEN)."
            )
        return self

    def exposed_address(self) -> str | None:
        """An address beyond loopback that the stack listens on (compose: SANDCHAT_BIND), else ``None``."""
        binds = (self.sandchat_bind,) if self.sandchat_bind else (self.api_host, self.gateway_host)
        for bind in binds:
            if host_name(bind) not in LOOPBACK_HOSTS and not bind.startswith("127."):
                return bind
        return None

    @model_validator(mode="after")
    def _derive_allowed_hosts(self) -> Settings:
        if not self.allowed_origins:
            self.allowed_origins = derived_allowed_origins(self.api_host, self.api_port)
        if not self.allowed_hosts:
            self.allowed_hosts = derived_allowed_hosts(self.allowed_origins, self.api_host)
        return self

    @field_validator(
        "auth_token",
        "gateway_public_url",
        "web_dist_dir",
        "sandbox_token",
        "sandbox_token_file",
        "approval_timeout_s",
        "otel_exporter_otlp_endpoint",
        "auth_mode",
        "auth_proxy_header",
        "sandchat_bind",
        "local_workspace",
        "secret_key",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # `VAR=` in .env or compose means "not set", not "set to nothing".
        return None if value == "" else value

    @field_validator("redis_namespace", mode="before")
    @classmethod
    def _default_namespace(cls, value: object) -> object:
        return "sandchat" if value == "" else value

    @property
    def redis_keys(self) -> RedisKeys:
        return RedisKeys(self.redis_namespace)

    def secret_key_value(self) -> str | None:
        return self.secret_key.get_secret_value().strip() if self.secret_key else None

    def auth_token_value(self) -> str | None:
        return self.auth_token.get_secret_value() if self.auth_token else None

    def sandbox_token_value(self) -> str:
        """SANDBOX_TOKEN, else the contents of SANDBOX_TOKEN_FILE; :class:`SettingsError` when neither is usable."""
        if self.sandbox_token is not None:
            return self.sandbox_token.get_secret_value().strip()
        if self.sandbox_token_file is None:
            raise SettingsError(f"invalid setting SANDBOX_TOKEN (not set): expected {_ACCEPTS['sandbox_token']}")
        try:
            token = self.sandbox_token_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise SettingsError(
                f"invalid setting SANDBOX_TOKEN_FILE ({getattr(exc, 'strerror', None) or type(exc).__name__}): "
                f"expected {_ACCEPTS['sandbox_token_file']}"
            ) from None
        if len(token) < MIN_SANDBOX_TOKEN_CHARS:
            raise SettingsError(f"invalid setting SANDBOX_TOKEN_FILE: expected {_ACCEPTS['sandbox_token']}")
        return token


class SettingsError(Exception):
    """A setting has a value the services cannot use; the message is the one line to print."""


def describe_error(error: ValidationError) -> str:
    """One line naming the first bad variable and what it accepts."""
    first = error.errors()[0]
    field = str(first["loc"][0]) if first["loc"] else "settings"
    accepts = _ACCEPTS.get(field, first["msg"])
    given = first.get("input")
    # URLs may carry passwords and the token is a secret: never echo those back.
    shown = "" if field in _SECRET_BEARING else f" (got {given!r})"
    return f"invalid setting {field.upper()}{shown}: expected {accepts}"


def build_settings(**overrides: object) -> Settings:
    """Read settings from the environment; raise :class:`SettingsError` with one line on a bad value."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        cause = exc.errors()[0].get("ctx", {}).get("error")
        if isinstance(cause, SettingsError):  # a rule between settings, already one line
            raise cause from None
        raise SettingsError(describe_error(exc)) from None


@lru_cache(maxsize=1)
def load_settings() -> Settings:
    """The process-wide settings; on a bad value print one line and exit (never a traceback)."""
    try:
        return build_settings()
    except SettingsError as exc:
        print(f"sandchat: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
