"""Typed aliases for what the app injects into handlers (by parameter name)."""

from __future__ import annotations

from typing import TypeAlias

from litestar.di import NamedDependency
from litestar.params import SkipValidation
from redis.asyncio import Redis
from sandchat.database import Database
from sandchat.identity import Principal
from sandchat.settings import Settings
from sandchat.turns.store import TurnStore

DatabaseDep: TypeAlias = NamedDependency[SkipValidation[Database]]
RedisDep: TypeAlias = NamedDependency[SkipValidation[Redis]]
SettingsDep: TypeAlias = NamedDependency[SkipValidation[Settings]]
TurnStoreDep: TypeAlias = NamedDependency[SkipValidation[TurnStore]]
PrincipalDep: TypeAlias = NamedDependency[SkipValidation[Principal]]
