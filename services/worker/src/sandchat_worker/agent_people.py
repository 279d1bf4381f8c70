"""Whose agent a turn runs: the person's own (directories, configuration, login) or the operator's.

A person's login is the credential they stored (opened only here, at the start of their agent);
without one the operator's login serves them only when AGENT_SHARED_LOGIN allows, else their turn
ends at once with a sentence telling them where to store it, and no agent starts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sandchat.agent_logins import LoginBox, LoginUnreadableError, load_login
from sandchat.agent_users import AgentUser, is_person
from sandchat.database import Database
from sandchat.turns.outcomes import PERSON_LOGIN_UNREADABLE, PERSON_NOT_LOGGED_IN, Ending

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AgentPeople:
    database: Database | None = None
    box: LoginBox | None = None
    shared_login: bool = False

    async def agent_user(self, user_id: str) -> AgentUser | Ending | None:
        """The person's agent as a runner starts it; None for the operator's; an ending when it cannot run."""
        if not is_person(user_id):
            return None
        login = None
        if self.database is not None:
            try:
                async with self.database.reading() as session:
                    login = await load_login(session, self.box, user_id)
            except LoginUnreadableError:
                log.warning("user %s: their stored agent login does not open with this SECRET_KEY", user_id)
                if not self.shared_login:
                    return PERSON_LOGIN_UNREADABLE
        if login is None and not self.shared_login:
            return PERSON_NOT_LOGGED_IN
        return AgentUser(user_id, login, shared_login=self.shared_login)
