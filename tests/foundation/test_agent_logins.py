"""People's stored agent logins, on SQLite and PostgreSQL: encrypted at rest, opened only with the same
SECRET_KEY and only for the person who stored them, and how the worker uses (or refuses) them."""

from __future__ import annotations

import pytest
from sandchat.agent_logins import (
    LoginBox,
    LoginUnreadableError,
    NoSecretKeyError,
    clear_login,
    load_login,
    login_state,
    store_login,
)
from sandchat.agent_users import AgentLogin, AgentUser
from sandchat.database import Database
from sandchat.models import LOCAL_USER_ID, StoredAgentLogin, User
from sandchat.turns.outcomes import PERSON_LOGIN_UNREADABLE, PERSON_NOT_LOGGED_IN
from sandchat_worker.agent_people import AgentPeople
from sqlalchemy import delete, select, text

KEY = "k" * 16 + "-first-secret-key-0123456789"
OTHER_KEY = "k" * 16 + "-other-secret-key-0123456789"
SECRET = "sk-ant-oat01-alice-very-secret-0001"


async def person(database: Database, name: str) -> str:
    async with database.transaction() as session:
        user = User(username=name)
        session.add(user)
        await session.flush()
        return user.id


async def test_a_stored_login_is_not_in_the_database_in_clear_and_opens_for_its_person(database: Database) -> None:
    alice = await person(database, "alice")
    async with database.transaction() as session:
        await store_login(session, LoginBox(KEY), alice, AgentLogin("oauth_token", SECRET))

    async with database.reading() as session:
        rows = (await session.execute(text("SELECT * FROM agent_login"))).all()
        state = await login_state(session, LoginBox(KEY), alice)
        opened = await load_login(session, LoginBox(KEY), alice)
    assert len(rows) == 1
    assert SECRET not in repr(rows)
    assert "alice-very-secret" not in repr(rows)
    assert (state.is_set, state.kind, state.readable) == (True, "oauth_token", True)
    assert opened == AgentLogin("oauth_token", SECRET)
    assert SECRET not in repr(opened)


async def test_another_secret_key_cannot_open_it_and_says_so(database: Database) -> None:
    alice = await person(database, "alice")
    async with database.transaction() as session:
        await store_login(session, LoginBox(KEY), alice, AgentLogin("api_key", SECRET))

    async with database.reading() as session:
        state = await login_state(session, LoginBox(OTHER_KEY), alice)
        with pytest.raises(LoginUnreadableError, match="SECRET_KEY"):
            await load_login(session, LoginBox(OTHER_KEY), alice)
        with pytest.raises(LoginUnreadableError):
            await load_login(session, None, alice)
    assert (state.is_set, state.readable) == (True, False)


async def test_a_login_copied_onto_another_persons_row_does_not_open(database: Database) -> None:
    alice, mallory = await person(database, "alice"), await person(database, "mallory")
    async with database.transaction() as session:
        await store_login(session, LoginBox(KEY), alice, AgentLogin("oauth_token", SECRET))
        await store_login(session, LoginBox(KEY), mallory, AgentLogin("oauth_token", "sk-mallory-0002"))
    async with database.transaction() as session:
        sealed = (
            await session.execute(select(StoredAgentLogin.sealed).where(StoredAgentLogin.user_id == alice))
        ).scalar()
        mallorys = await session.get(StoredAgentLogin, mallory)
        assert mallorys is not None
        mallorys.sealed = sealed or ""

    async with database.reading() as session:
        with pytest.raises(LoginUnreadableError):
            await load_login(session, LoginBox(KEY), mallory)


async def test_clearing_or_deleting_the_person_forgets_the_login(database: Database) -> None:
    alice, bob = await person(database, "alice"), await person(database, "bob")
    async with database.transaction() as session:
        await store_login(session, LoginBox(KEY), alice, AgentLogin("oauth_token", SECRET))
        await store_login(session, LoginBox(KEY), bob, AgentLogin("api_key", "sk-bob-0002"))
        await store_login(session, LoginBox(KEY), bob, AgentLogin("oauth_token", "sk-bob-0003"))

    async with database.transaction() as session:
        assert await clear_login(session, alice)
        assert not await clear_login(session, alice)
        await session.execute(delete(User).where(User.id == bob))
    async with database.reading() as session:
        assert not (await login_state(session, LoginBox(KEY), alice)).is_set
        assert (await session.execute(text("SELECT count(*) FROM agent_login"))).scalar() == 0


async def test_without_a_secret_key_nothing_is_stored(database: Database) -> None:
    alice = await person(database, "alice")
    async with database.transaction() as session:
        with pytest.raises(NoSecretKeyError, match="SECRET_KEY"):
            await store_login(session, None, alice, AgentLogin("oauth_token", SECRET))


async def test_the_worker_gives_a_person_their_own_login_or_ends_their_turn_with_a_sentence(
    database: Database,
) -> None:
    alice, bob = await person(database, "alice"), await person(database, "bob")
    async with database.transaction() as session:
        await store_login(session, LoginBox(KEY), alice, AgentLogin("oauth_token", SECRET))

    people = AgentPeople(database, LoginBox(KEY), shared_login=False)
    assert await people.agent_user(alice) == AgentUser(alice, AgentLogin("oauth_token", SECRET))
    assert await people.agent_user(bob) == PERSON_NOT_LOGGED_IN
    assert await people.agent_user(LOCAL_USER_ID) is None  # the operator's own agent, as before
    assert await AgentPeople(database, LoginBox(OTHER_KEY)).agent_user(alice) == PERSON_LOGIN_UNREADABLE
    shared = AgentPeople(database, LoginBox(KEY), shared_login=True)
    assert await shared.agent_user(bob) == AgentUser(bob, None, shared_login=True)
