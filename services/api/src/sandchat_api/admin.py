"""`sandchat-admin`: manage the people of AUTH_MODE=accounts (and proxy) from the server's shell.

    sandchat-admin create-user NAME [--admin]   # the password is read from stdin (one line)
    sandchat-admin list-users
    sandchat-admin disable-user NAME            # also closes their open chat sockets
    sandchat-admin reset-password NAME          # the new password from stdin; their sessions end

An admin can list and disable people; nothing here (nor in the API) shows anyone's threads.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from typing import Final

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sandchat import accounts, identity
from sandchat.database import Database
from sandchat.settings import Settings, load_settings
from sqlalchemy.exc import SQLAlchemyError

USER_CREDENTIAL: Final = identity.USER_CREDENTIAL


def _password() -> str:
    """The password: typed twice at a terminal, else the first line of stdin."""
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != first:
            raise accounts.AccountError("The two passwords differ.")
        return first
    return sys.stdin.readline().rstrip("\r\n")


async def _run(settings: Settings, arguments: argparse.Namespace) -> str:
    database = Database(settings.database_url)
    try:
        async with database.transaction() as session:
            if arguments.command == "create-user":
                user = await accounts.create_user(session, arguments.name, _password(), is_admin=arguments.admin)
                return f"created {user.username}" + (" (admin)" if user.is_admin else "")
            if arguments.command == "list-users":
                rows = [
                    f"{user.username}\t{'admin' if user.is_admin else 'user'}\t"
                    f"{'disabled' if user.disabled else 'active'}\t{user.created_at:%Y-%m-%d}"
                    for user in await accounts.list_users(session)
                ]
                return "\n".join(rows) if rows else "no users yet"
            if arguments.command == "disable-user":
                user = await accounts.disable_user(session, arguments.name)
                await _close_sockets(settings, user.id)
                return f"disabled {user.username}"
            user = await accounts.set_password(session, arguments.name, _password())
            return f"new password set for {user.username}; their sessions have ended"
    finally:
        await database.close()


async def _close_sockets(settings: Settings, user_id: str) -> None:
    redis = Redis.from_url(settings.redis_url, socket_connect_timeout=2)
    try:
        await redis.publish(settings.redis_keys.credentials_revoked, USER_CREDENTIAL + user_id)
    except (RedisError, OSError):
        print("sandchat-admin: Redis unreachable: their open chat sockets stay open until they close", file=sys.stderr)
    finally:
        await redis.aclose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sandchat-admin", description="Manage sandchat's users.")
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create-user", help="create a user (password on stdin)")
    create.add_argument("name")
    create.add_argument("--admin", action="store_true", help="may list and disable users")
    commands.add_parser("list-users", help="every user, whether admin, whether disabled")
    commands.add_parser("disable-user", help="stop a user from signing in or using tokens").add_argument("name")
    commands.add_parser("reset-password", help="set a new password (on stdin)").add_argument("name")
    arguments = parser.parse_args(argv)
    settings = load_settings()
    try:
        print(asyncio.run(_run(settings, arguments)))
    except accounts.AccountError as exc:
        print(f"sandchat-admin: {exc}", file=sys.stderr)
        return 1
    except (SQLAlchemyError, OSError) as exc:
        print(f"sandchat-admin: the database is unavailable ({type(exc).__name__})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
