"""whatsAppLogCount without a filter reads per-project counts that triggers keep: they must always equal
the live logs, whatever happens to them (inserts, soft deletes and back, deletes, moves)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncConnection

from graphql_api.fields import LOG
from tests.conftest import GraphQL
from tests.factories import BASE_TIME, Factory


def _write(factory: Factory, stmt: Any) -> None:
    async def work(conn: AsyncConnection) -> None:
        await conn.execute(stmt)

    factory.run(work)


def _counts(gql: GraphQL, key: str) -> tuple[int, int]:
    """(whatsAppLogCount, the number of logs listed one by one) for a key's project."""
    data = gql.data('{ c: whatsAppLogCount f: whatsAppLogCount(where: { status: { ne: "" } }) }', key=key)
    return data["c"], data["f"]


def test_the_count_follows_inserts_soft_deletes_deletes_and_moves(gql: GraphQL, factory: Factory) -> None:
    acme, globex = factory.project("Acme"), factory.project("Globex")
    acme_key, globex_key = factory.api_key(acme), factory.api_key(globex)
    assert _counts(gql, acme_key) == (0, 0)

    logs = factory.logs(acme, 5)
    factory.log(acme, deleted_at=BASE_TIME)  # born deleted: never counted
    assert _counts(gql, acme_key) == (5, 5)

    _write(factory, update(LOG).where(LOG.c.id == logs[0]).values(deleted_at=BASE_TIME))
    assert _counts(gql, acme_key) == (4, 4)

    _write(factory, update(LOG).where(LOG.c.id == logs[0]).values(deleted_at=None))
    assert _counts(gql, acme_key) == (5, 5)

    _write(factory, update(LOG).where(LOG.c.id == logs[1]).values(status="Read"))  # not a counted change
    assert _counts(gql, acme_key) == (5, 5)

    _write(factory, delete(LOG).where(LOG.c.id == logs[2]))
    assert _counts(gql, acme_key) == (4, 4)

    _write(factory, update(LOG).where(LOG.c.id.in_(logs[3:])).values(project_id=globex))
    assert _counts(gql, acme_key) == (2, 2)
    assert _counts(gql, globex_key) == (2, 2)

    _write(factory, delete(LOG).where(LOG.c.deleted_at.is_not(None)))  # deleting deleted logs
    assert _counts(gql, acme_key) == (2, 2)


def test_a_filtered_count_and_the_connection_total_agree_with_the_plain_count(
    gql: GraphQL, factory: Factory
) -> None:
    project = factory.project()
    factory.logs(project, 3, status="Failed")
    factory.logs(project, 4, status="Read")
    gql.key = factory.api_key(project)

    data = gql.data(
        '{ all: whatsAppLogCount failed: whatsAppLogCount(where: { status: { eq: "Failed" } }) '
        "whatsAppLogsConnection(first: 1) { totalCount } }"
    )

    assert data == {"all": 7, "failed": 3, "whatsAppLogsConnection": {"totalCount": 7}}
