"""The change feed under whatsAppLogStream (data/feed_queries.py): commits that land out of order are
neither skipped nor repeated, soft-deleted logs and other projects' logs are never read."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

import pytest
from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool

from graphql_api.data import feed_queries
from graphql_api.data.feed_queries import FeedPosition
from graphql_api.data.fields import LOG
from graphql_api.settings import Settings
from tests.factories import Factory

T = TypeVar("T")
NOW = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)


def run(url: str, work: Callable[[Callable[[], Awaitable[AsyncConnection]]], Awaitable[T]]) -> T:
    """Run `work` with a factory of fresh connections to `url` (each one a writer or a reader)."""

    async def go() -> T:
        engine = create_async_engine(url, poolclass=NullPool)
        opened: list[AsyncConnection] = []

        async def connect() -> AsyncConnection:
            conn = await engine.connect()
            opened.append(conn)
            return conn

        try:
            return await work(connect)
        finally:
            for conn in opened:
                await conn.close()
            await engine.dispose()

    return asyncio.run(go())


class Reader:
    """One stream's reads: the place it got to and every log id it was given, in order."""

    def __init__(self, conn: AsyncConnection, project: str, start: FeedPosition, limit: int = 50) -> None:
        self.conn, self.project, self.position, self.limit = conn, project, start, limit
        self.batches = feed_queries.BatchReader(
            where=None, settings=Settings(), limit=limit, fields=["status"], dialect=conn.dialect
        )
        self.seen: list[str] = []

    async def read(self) -> list[str]:
        """Every batch there is now; the ids read."""
        got: list[str] = []
        while True:
            batch = await self.batches.read(self.conn, self.project, self.position)
            await self.conn.rollback()  # each read in a transaction of its own, as requests do
            self.position = batch.position
            got += [row.id for row in batch.rows]
            if len(batch.rows) < self.limit:
                break
        self.seen += got
        return got

    async def read_until(self, count: int, seconds: float = 10) -> list[str]:
        """Reads until `count` logs came (or time is up): on PostgreSQL the bound is the oldest writing
        transaction of the whole server, which other databases' writers (other test runs) hold back too."""
        got = await self.read()
        deadline = asyncio.get_running_loop().time() + seconds
        while len(got) < count and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
            got += await self.read()
        return got


# Writers of one project's logs queue on its live-count row (migration 0004), so each writer first writes
# a log of a project of its own: that gives it its transaction id, in the order the writers began.


@pytest.mark.backends("postgresql")
@pytest.mark.parametrize("limit", [1, 50])
def test_a_transaction_that_began_first_and_commits_last_is_not_skipped(
    database_url: str, factory: Factory, limit: int
) -> None:
    project, elsewhere = factory.project(), factory.project()

    async def work(connect: Callable[[], Awaitable[AsyncConnection]]) -> None:
        first, second, conn = await connect(), await connect(), await connect()
        start = FeedPosition(await feed_queries.feed_bound(conn))
        await conn.rollback()
        reader = Reader(conn, project, start, limit)
        early, late = factory.log_row(project), factory.log_row(project)
        # Begins first: the lower transaction id.
        await first.execute(insert(LOG).values(factory.log_row(elsewhere)))
        await second.execute(insert(LOG).values(late))
        await second.commit()  # ...but commits first

        assert await reader.read() == []  # the feed is complete only below the first one's id

        await first.execute(insert(LOG).values(early))
        await first.commit()
        assert await reader.read_until(2) == [early["id"], late["id"]]  # in transaction order
        assert await reader.read() == []
        assert reader.seen == [early["id"], late["id"]]

    run(database_url, work)


@pytest.mark.backends("postgresql")
def test_many_interleaved_writers_are_each_read_once(database_url: str, factory: Factory) -> None:
    project = factory.project()
    own = [factory.project() for _ in range(6)]

    async def work(connect: Callable[[], Awaitable[AsyncConnection]]) -> None:
        conn = await connect()
        reader = Reader(conn, project, FeedPosition(await feed_queries.feed_bound(conn)), 3)
        await conn.rollback()
        writers = [await connect() for _ in own]
        for writer, own_project in zip(writers, own, strict=True):  # all begun, in this order
            await writer.execute(insert(LOG).values(factory.log_row(own_project)))
        written: list[str] = []
        for i in (4, 1, 5, 0, 3, 2):  # committed out of order, with reads in between
            rows = [factory.log_row(project) for _ in range(2)]
            written += [row["id"] for row in rows]
            await writers[i].execute(insert(LOG).values(rows))
            await writers[i].commit()
            await reader.read()
        for writer in writers:
            await writer.rollback()
        await reader.read_until(len(written) - len(reader.seen))
        assert sorted(reader.seen) == sorted(written)
        assert len(reader.seen) == len(set(reader.seen))

    run(database_url, work)


def test_changes_come_again_and_deleted_or_foreign_logs_never(database_url: str, factory: Factory) -> None:
    project, other = factory.project(), factory.project()

    async def work(connect: Callable[[], Awaitable[AsyncConnection]]) -> None:
        writer, conn = await connect(), await connect()
        reader = Reader(conn, project, FeedPosition(await feed_queries.feed_bound(conn)))
        await conn.rollback()
        mine, deleted, foreign = factory.log_row(project), factory.log_row(project), factory.log_row(other)
        await writer.execute(insert(LOG).values([mine, deleted, foreign]))
        await writer.commit()
        assert sorted(await reader.read_until(2)) == sorted([mine["id"], deleted["id"]])

        await writer.execute(update(LOG).where(LOG.c.id == mine["id"]).values(status="Delivered"))
        await writer.execute(update(LOG).where(LOG.c.id == deleted["id"]).values(deleted_at=NOW))
        await writer.execute(update(LOG).where(LOG.c.id == foreign["id"]).values(status="Read"))
        await writer.commit()
        assert await reader.read_until(1) == [mine["id"]]  # changed again; the deleted one is gone
        assert await reader.read() == []

    run(database_url, work)


def test_an_uncommitted_write_is_read_once_committed(database_url: str, factory: Factory) -> None:
    project = factory.project()

    async def work(connect: Callable[[], Awaitable[AsyncConnection]]) -> None:
        writer, conn = await connect(), await connect()
        reader = Reader(conn, project, FeedPosition(await feed_queries.feed_bound(conn)))
        await conn.rollback()
        row = factory.log_row(project)
        await writer.execute(insert(LOG).values(row))
        assert await reader.read() == []
        await writer.commit()
        assert await reader.read_until(1) == [row["id"]]

    run(database_url, work)
