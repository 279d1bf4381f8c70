"""/me/agent-login: your own agent credential. Write-only: set it, clear it, see whether it is set.

No answer ever carries the credential (nor anything derived from it); the worker opens it only when
starting your agent. The one implicit person of AUTH_MODE=none and token is the operator, whose agent
uses the operator's own login: for them this answers what that means, and storing one is refused.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Final

import msgspec
from litestar import Controller, delete, get, put
from litestar.exceptions import ClientException
from litestar.params import JSONBody
from litestar.status_codes import HTTP_409_CONFLICT
from sandchat.agent_logins import (
    MAX_SECRET_CHARS,
    AgentLoginReport,
    AgentLoginStatus,
    NoSecretKeyError,
    agent_login_report,
    clear_login,
    login_box,
    store_login,
)
from sandchat.agent_users import AgentLogin, LoginKind, is_person

from sandchat_api.auth import require_user
from sandchat_api.deps import DatabaseDep, PrincipalDep, SettingsDep
from sandchat_api.schemas import RequestBody, ResponseBody

OPERATORS_AGENT: Final = (
    "This stack has no accounts: the agent uses the operator's own login, and nobody stores one here."
)
ONE_LINE: Final = "The credential is one line without spaces: paste exactly what `claude setup-token` printed."

Secret = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_SECRET_CHARS)]


class SetAgentLogin(RequestBody):
    """``kind``: oauth_token (from `claude setup-token`) or api_key; ``secret``: the credential itself."""

    kind: LoginKind
    secret: Secret

    def __post_init__(self) -> None:
        self.secret = self.secret.strip()
        if not self.secret or any(char.isspace() or not char.isprintable() for char in self.secret):
            raise ValueError(ONE_LINE)


class AgentLoginOut(ResponseBody):
    """Whether your agent is logged in, and with what kind of credential; never the credential."""

    is_set: bool
    kind: LoginKind | None
    updated_at: datetime | None
    status: AgentLoginStatus
    message: str

    @classmethod
    def of(cls, report: AgentLoginReport) -> AgentLoginOut:
        state = report.state
        return cls(state.is_set, state.kind, state.updated_at, report.status, report.message)


class AgentLoginEnvelope(ResponseBody):
    agent_login: AgentLoginOut


async def agent_login_answer(database: DatabaseDep, settings: SettingsDep, user_id: str) -> AgentLoginEnvelope:
    async with database.reading() as session:
        report = await agent_login_report(
            session, login_box(settings.secret_key_value()), user_id, shared_login=settings.agent_shared_login
        )
    return AgentLoginEnvelope(AgentLoginOut.of(report))


class AgentLoginController(Controller):
    path = "/me/agent-login"
    tags = ["auth"]
    guards = [require_user]

    @get()
    async def show(self, database: DatabaseDep, settings: SettingsDep, principal: PrincipalDep) -> AgentLoginEnvelope:
        """Whether your agent is logged in: with your own login, the operator's shared one, or not at all."""
        return await agent_login_answer(database, settings, principal.user_id)

    @put()
    async def store(
        self, data: JSONBody[SetAgentLogin], database: DatabaseDep, settings: SettingsDep, principal: PrincipalDep
    ) -> AgentLoginEnvelope:
        """Store (or replace) your own credential, encrypted; it is never shown again."""
        if not is_person(principal.user_id):
            raise ClientException(OPERATORS_AGENT, status_code=HTTP_409_CONFLICT)
        try:
            async with database.transaction() as session:
                await store_login(
                    session,
                    login_box(settings.secret_key_value()),
                    principal.user_id,
                    AgentLogin(data.kind, data.secret),
                )
        except NoSecretKeyError as exc:
            raise ClientException(str(exc), status_code=HTTP_409_CONFLICT) from None
        return await agent_login_answer(database, settings, principal.user_id)

    @delete(status_code=200)
    async def clear(self, database: DatabaseDep, settings: SettingsDep, principal: PrincipalDep) -> AgentLoginEnvelope:
        """Remove your stored credential (your agent then has none, or the operator's shared one)."""
        async with database.transaction() as session:
            await clear_login(session, principal.user_id)
        return await agent_login_answer(database, settings, principal.user_id)
