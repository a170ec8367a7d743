"""whatsAppLogCount without a filter reads per-project counts that triggers keep: they must always equal
the live logs, whatever happens to them (inserts, soft deletes and back, deletes, moves)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, delete, literal, update
from sqlalchemy.ext.asyncio import AsyncConnection

from graphql_api.data.fields import LOG
from graphql_api.data.models import GUID
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


def test_the_count_follows_statements_that_touch_many_logs_of_several_projects(
    gql: GraphQL, factory: Factory
) -> None:
    # Statement-level triggers on PostgreSQL apply one delta per project per statement: mix them.
    acme, globex = factory.project("Acme"), factory.project("Globex")
    acme_key, globex_key = factory.api_key(acme), factory.api_key(globex)
    acme_logs = factory.logs(acme, 6)
    globex_logs = factory.logs(globex, 4)
    assert (_counts(gql, acme_key), _counts(gql, globex_key)) == ((6, 6), (4, 4))

    # One UPDATE that moves two of Acme's logs to Globex, soft-deletes one of each, restores nothing.
    moved, deleted = acme_logs[:2], [acme_logs[2], globex_logs[0]]
    _write(
        factory,
        update(LOG)
        .where(LOG.c.id.in_([*moved, *deleted]))
        .values(
            project_id=case((LOG.c.id.in_(moved), literal(globex, GUID())), else_=LOG.c.project_id),
            deleted_at=case((LOG.c.id.in_(deleted), BASE_TIME), else_=None),
        ),
    )
    assert (_counts(gql, acme_key), _counts(gql, globex_key)) == ((3, 3), (5, 5))

    # One DELETE across both projects, live and soft-deleted logs alike.
    _write(factory, delete(LOG).where(LOG.c.id.in_([acme_logs[3], acme_logs[2], globex_logs[1]])))
    assert (_counts(gql, acme_key), _counts(gql, globex_key)) == ((2, 2), (4, 4))
