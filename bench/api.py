"""The HTTP API at scale: thread pages, a long thread's newest page, and search, on SQLite and PostgreSQL.

The database is seeded directly with SQLAlchemy bulk inserts. The baseline is the API's cheapest
database read, GET /threads/{id} (one primary-key lookup), timed in the same run.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sandchat.database import create_engine
from sandchat.models import LOCAL_USER_ID, Message, Thread
from sqlalchemy import insert, text

from bench.report import Figure, ScenarioResult, summary
from tests.stack import Stack

BATCH = 2000


async def seed(database_url: str, threads: int, big_thread_messages: int) -> str:
    """``threads`` threads with two messages each, one of them with ``big_thread_messages``; returns its id."""
    engine = create_engine(database_url)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    big = str(uuid.uuid4())
    thread_rows: list[dict[str, Any]] = []
    message_rows: list[dict[str, Any]] = []
    for index in range(threads):
        thread_id = big if index == threads // 2 else str(uuid.uuid4())
        stamp = start + timedelta(seconds=index)
        thread_rows.append(
            {
                "id": thread_id,
                "owner_id": LOCAL_USER_ID,
                "title": f"Thread {index}",
                "created_at": stamp,
                "updated_at": stamp,
            }
        )
        count = big_thread_messages if thread_id == big else 2
        for number in range(count):
            message_rows.append(
                {
                    "id": str(uuid.uuid4()),
                    "thread_id": thread_id,
                    "role": "user" if number % 2 == 0 else "assistant",
                    "content": f"Message {number} of thread {index}. " * 5,
                    "status": "complete",
                    "created_at": stamp + timedelta(microseconds=number),
                }
            )
    try:
        async with engine.begin() as connection:
            for offset in range(0, len(thread_rows), BATCH):
                await connection.execute(insert(Thread), thread_rows[offset : offset + BATCH])
            for offset in range(0, len(message_rows), BATCH):
                await connection.execute(insert(Message), message_rows[offset : offset + BATCH])
        # The steady state autovacuum reaches on its own: planner statistics, and PostgreSQL's GIN
        # pending list (filled by the bulk insert, scanned by every search until it is merged) merged.
        async with engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            statement = "ANALYZE" if engine.dialect.name == "sqlite" else "VACUUM ANALYZE"
            await autocommit.execute(text(statement))
    finally:
        await engine.dispose()
    return big


async def _timed(http: httpx.AsyncClient, path: str, count: int) -> list[float]:
    timings: list[float] = []
    for _ in range(count):
        started = time.perf_counter()
        response = await http.get(path)
        elapsed = time.perf_counter() - started
        response.raise_for_status()
        timings.append(elapsed * 1000)
    return timings


# A search for a word in every title and most messages ranks all of them: fewer requests of it.
COMMON_SEARCH_SHARE = 5


async def api_reads(stack: Stack, backend: str, big: str, requests: int, seeded: dict[str, int]) -> ScenarioResult:
    result = ScenarioResult(f"api_{backend}", {"requests": requests, **seeded})
    rare = seeded["threads"] * 3 // 4  # "Thread <rare>": one title and its two messages hold this word
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=60) as http:
        first = (await http.get("/threads", params={"limit": 50})).json()
        paths = {
            "baseline": f"/threads/{big}",
            "threads": "/threads",
            "threads_next": f"/threads?cursor={first['nextCursor']}",
            "messages": f"/threads/{big}/messages",
            "search_rare": f"/search?q={rare}",
            "search_common": "/search?q=thread",
        }
        counts = dict.fromkeys(paths, requests)
        counts["search_common"] = max(5, requests // COMMON_SEARCH_SHARE)
        for path in paths.values():  # warm-up: connection pool, statement caches
            await _timed(http, path, 3)
        # Interleaved rounds, so that load from other processes hits them all alike.
        timings: dict[str, list[float]] = {name: [] for name in paths}
        rounds = 5
        for _ in range(rounds):
            for name, path in paths.items():
                timings[name] += await _timed(http, path, max(1, counts[name] // rounds))
        sizes = {name: len((await http.get(path)).content) for name, path in paths.items()}
    stats = {name: summary(values) for name, values in timings.items()}
    result.raw = {"ms": stats, "response_bytes": sizes}
    limit = 10 if backend == "sqlite" else 15
    base = stats["baseline"]
    result.figures = [
        Figure("GET /threads p50", stats["threads"]["p50"], "ms", base["p50"]),
        Figure(
            "GET /threads p99",
            stats["threads"]["p99"],
            "ms",
            base["p99"],
            f"<= {limit} ms",
            stats["threads"]["p99"] <= limit,
        ),
        Figure("GET /threads?cursor= p50", stats["threads_next"]["p50"], "ms", base["p50"]),
        Figure("GET /threads?cursor= p99", stats["threads_next"]["p99"], "ms", base["p99"]),
        Figure(
            f"GET messages ({_count(seeded['big_thread_messages'])}, newest page) p50",
            stats["messages"]["p50"],
            "ms",
            base["p50"],
        ),
        Figure(
            f"GET messages ({_count(seeded['big_thread_messages'])}, newest page) p99",
            stats["messages"]["p99"],
            "ms",
            base["p99"],
        ),
        Figure("GET /search rare word p50", stats["search_rare"]["p50"], "ms", base["p50"]),
        Figure("GET /search rare word p99", stats["search_rare"]["p99"], "ms", base["p99"]),
        Figure("GET /search common word p50", stats["search_common"]["p50"], "ms", base["p50"]),
        Figure("GET /search common word p99", stats["search_common"]["p99"], "ms", base["p99"]),
    ]
    result.notes.append("baseline = GET /threads/{id} (one primary-key read through the same API)")
    result.notes.append(
        f"search: rare = a word in 1 title and 2 messages; common = 'thread', in every title and message "
        f"({counts['search_common']} requests)"
    )
    return result


def _count(number: int) -> str:
    return f"{number // 1000}k" if number >= 1000 else str(number)


def run_seed(database_url: str, threads: int, big_thread_messages: int) -> str:
    return asyncio.run(seed(database_url, threads, big_thread_messages))
