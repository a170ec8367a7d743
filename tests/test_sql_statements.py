"""SQL statements per request: one per root field plus one per related type selected, whatever the
page size (the key lookup is one more when the key is not cached; tests cache no keys)."""

from __future__ import annotations

import pytest

from graphql_api.data.fields import RELATIONS
from tests.conftest import GraphQL, StatementCounter
from tests.factories import Factory

# The regular path's statements (its DataLoaders); the compiled path runs one statement per root
# field, pinned in tests/test_compiled.py.
pytestmark = pytest.mark.regular_path

KEY_LOOKUP = 1
# Relations the busy project's logs leave empty; they link every other one, and the project.
UNLINKED = ("alert", "team")
LINKED = [name for name in RELATIONS if name not in UNLINKED]
RELATED = " ".join(f"{name} {{ {RELATIONS[name].label} }}" for name in LINKED) + " project { name }"
RELATED_TYPES = len(LINKED) + 1


@pytest.fixture
def busy(factory: Factory, gql: GraphQL) -> None:
    """60 logs, each linked to one of three records of every relation but UNLINKED."""
    project = factory.project("Busy")
    records = {
        RELATIONS[name].fk_column.key: [
            factory.related(name, project if RELATIONS[name].project_scoped else None) for _ in range(3)
        ]
        for name in LINKED
    }
    for group in range(6):
        factory.logs(project, 10, **{column: ids[group % 3] for column, ids in records.items()})
    gql.key = factory.api_key(project)


@pytest.mark.parametrize("size", [1, 10, 60])
def test_a_page_costs_one_statement_plus_one_per_related_type(
    gql: GraphQL, busy: None, sql_statements: StatementCounter, size: int
) -> None:
    gql.data(f"{{ whatsAppLogs(limit: {size}) {{ id {RELATED} }} }}")

    assert sql_statements.count == KEY_LOOKUP + 1 + RELATED_TYPES


@pytest.mark.parametrize("size", [1, 60])
def test_a_connection_page_costs_the_same_and_its_total_one_more(
    gql: GraphQL, busy: None, sql_statements: StatementCounter, size: int
) -> None:
    gql.data(f"{{ whatsAppLogsConnection(first: {size}) {{ edges {{ cursor node {{ id {RELATED} }} }} }} }}")
    assert sql_statements.count == KEY_LOOKUP + 1 + RELATED_TYPES

    sql_statements.reset()
    gql.data(
        f"{{ whatsAppLogsConnection(first: {size}) {{ totalCount nodes {{ id incident {{ title }} }} }} }}"
    )
    assert sql_statements.count == KEY_LOOKUP + 1 + 1 + 1


def test_relations_no_row_links_to_cost_nothing(
    gql: GraphQL, busy: None, sql_statements: StatementCounter
) -> None:
    unlinked = " ".join(f"{name} {{ {RELATIONS[name].label} }}" for name in UNLINKED)
    gql.data(f"{{ whatsAppLogs(limit: 50) {{ id {unlinked} }} }}")

    assert sql_statements.count == KEY_LOOKUP + 1


def test_several_root_fields_cost_one_statement_each(
    gql: GraphQL, busy: None, sql_statements: StatementCounter
) -> None:
    gql.data(
        "{ a: whatsAppLogs(limit: 50) { id incident { title } } b: whatsAppLogs(skip: 50, limit: 10) { id } "
        "whatsAppLogCount }"
    )

    assert sql_statements.count == KEY_LOOKUP + 3 + 1
