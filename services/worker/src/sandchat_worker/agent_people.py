"""Whose agent a turn runs: the person's own (directories, configuration, login) or the operator's.

A person's login is the credential they stored (decrypted only here, at the start of their agent);
without one the operator's login serves them only when AGENT_SHARED_LOGIN allows, else their turn
ends at once with a sentence telling them where to store it, and no agent starts.
"""

from __future__ import annotations

from dataclasses import dataclass

from sandchat.agent_users import AgentLogin, AgentUser, is_person
from sandchat.turns.outcomes import PERSON_LOGIN_UNREADABLE, PERSON_NOT_LOGGED_IN, Ending


@dataclass(frozen=True, slots=True)
class AgentPeople:
    shared_login: bool = False

    async def agent_user(self, user_id: str) -> AgentUser | Ending | None:
        """The person's agent as a runner starts it; None for the operator's; an ending when it cannot run."""
        if not is_person(user_id):
            return None
        login = await self._login(user_id)
        if isinstance(login, Ending):
            return login
        if login is None and not self.shared_login:
            return PERSON_NOT_LOGGED_IN
        return AgentUser(user_id, login, shared_login=self.shared_login)

    async def _login(self, user_id: str) -> AgentLogin | Ending | None:
        return None if user_id else PERSON_LOGIN_UNREADABLE
