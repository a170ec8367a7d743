"""SQL statements per request: one per root field plus one per related type selected, whatever the
page size (the key lookup is one more when the key is not cached; tests cache no keys)."""

from __future__ import annotations

import pytest

from tests.conftest import GraphQL, StatementCounter
from tests.factories import Factory

# The regular path's statements (its DataLoaders); the compiled path runs one statement per root
# field, pinned in tests/test_compiled.py.
pytestmark = pytest.mark.regular_path

KEY_LOOKUP = 1
RELATED = "incident { title } monitor { name } project { name } user { name }"


@pytest.fixture
def busy(factory: Factory, gql: GraphQL) -> None:
    project = factory.project("Busy")
    incidents = [factory.related("incident", project) for _ in range(3)]
    monitors = [factory.related("monitor", project) for _ in range(3)]
    users = [factory.related("user", None) for _ in range(2)]
    for i in range(60):
        factory.log(project, incident_id=incidents[i % 3], monitor_id=monitors[i % 3], user_id=users[i % 2])
    gql.key = factory.api_key(project)


@pytest.mark.parametrize("size", [1, 10, 60])
def test_a_page_costs_one_statement_plus_one_per_related_type(
    gql: GraphQL, busy: None, sql_statements: StatementCounter, size: int
) -> None:
    gql.data(f"{{ whatsAppLogs(limit: {size}) {{ id {RELATED} }} }}")

    assert sql_statements.count == KEY_LOOKUP + 1 + 4


@pytest.mark.parametrize("size", [1, 60])
def test_a_connection_page_costs_the_same_and_its_total_one_more(
    gql: GraphQL, busy: None, sql_statements: StatementCounter, size: int
) -> None:
    gql.data(f"{{ whatsAppLogsConnection(first: {size}) {{ edges {{ cursor node {{ id {RELATED} }} }} }} }}")
    assert sql_statements.count == KEY_LOOKUP + 1 + 4

    sql_statements.reset()
    gql.data(
        f"{{ whatsAppLogsConnection(first: {size}) {{ totalCount nodes {{ id incident {{ title }} }} }} }}"
    )
    assert sql_statements.count == KEY_LOOKUP + 1 + 1 + 1


def test_relations_no_row_links_to_cost_nothing(
    gql: GraphQL, busy: None, sql_statements: StatementCounter
) -> None:
    gql.data("{ whatsAppLogs(limit: 50) { id alert { title } team { name } } }")

    assert sql_statements.count == KEY_LOOKUP + 1


def test_several_root_fields_cost_one_statement_each(
    gql: GraphQL, busy: None, sql_statements: StatementCounter
) -> None:
    gql.data(
        "{ a: whatsAppLogs(limit: 50) { id incident { title } } b: whatsAppLogs(skip: 50, limit: 10) { id } "
        "whatsAppLogCount }"
    )

    assert sql_statements.count == KEY_LOOKUP + 3 + 1
