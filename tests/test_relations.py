"""The relations of a log: null and non-null, scoped to the key's project, without N+1 queries."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from graphql_api.data.fields import RELATIONS
from tests.conftest import GraphQL, StatementCounter
from tests.factories import BASE_TIME, Factory
from tests.rest_client import REFERENCE_RELATIONS

# relation -> the label the API shows
LABELS = {name: r.label for name, r in RELATIONS.items()}
# the log's column for each relation
COLUMNS = {name: r.fk_column.key for name, r in RELATIONS.items()}
# Users span projects; every other related record belongs to one.
PROJECT_SCOPED = [name for name, r in RELATIONS.items() if r.project_scoped]
RELATED_CREATED_AT = (BASE_TIME - timedelta(days=1)).isoformat()
# The reference's relations (and the project) with the label each shows: renaming one breaks clients.
REFERENCE_LABELS = {
    "incident": "title", "user": "name", "alert": "title", "monitor": "name", "scheduledMaintenance": "title",
    "statusPage": "name", "statusPageAnnouncement": "title", "team": "name", "onCallDutyPolicy": "name",
    "onCallDutyPolicyEscalationRule": "name", "onCallDutyPolicySchedule": "name",
}  # fmt: skip


def selection(relation: str) -> str:
    fields = f"id {LABELS[relation]}" + (" createdAt" if RELATIONS[relation].shows_created_at else "")
    return f"{relation} {{ {fields} }}"


ALL_RELATIONS = " ".join([*(selection(r) for r in LABELS), "project { id name createdAt }"])


def test_the_references_relations_are_all_there_with_their_labels() -> None:
    assert set(REFERENCE_RELATIONS) == {*REFERENCE_LABELS, "project"}
    assert REFERENCE_LABELS.items() <= LABELS.items()
    # Only users are shared by projects, and they carry no createdAt.
    assert [name for name in REFERENCE_LABELS if name not in PROJECT_SCOPED] == ["user"]
    assert [name for name in REFERENCE_LABELS if not RELATIONS[name].shows_created_at] == ["user"]


@pytest.mark.parametrize("relation", LABELS)
def test_a_relation_is_the_linked_record_or_null(gql: GraphQL, factory: Factory, relation: str) -> None:
    project = factory.project()
    record = factory.related(relation, project, f"The {relation}")
    linked = factory.log(project, **{COLUMNS[relation]: record})
    unlinked = factory.log(project)
    gql.key = factory.api_key(project)
    expected: dict[str, Any] = {"id": record, LABELS[relation]: f"The {relation}"}
    if RELATIONS[relation].shows_created_at:
        expected["createdAt"] = RELATED_CREATED_AT

    # In a list (batched) and by id (through the DataLoader), without selecting the `…Id` field.
    logs = gql.data(f"{{ whatsAppLogs {{ id {selection(relation)} }} }}")["whatsAppLogs"]
    one = gql.data(f'{{ a: whatsAppLog(id: "{linked}") {{ {selection(relation)} }} '
                   f'b: whatsAppLog(id: "{unlinked}") {{ {selection(relation)} }} }}')  # fmt: skip

    assert {log["id"]: log[relation] for log in logs} == {linked: expected, unlinked: None}
    assert one == {"a": {relation: expected}, "b": {relation: None}}


def test_the_project_is_never_null(gql: GraphQL, factory: Factory) -> None:
    project = factory.project("Acme")
    log = factory.log(project)
    gql.key = factory.api_key(project)
    expected = {"id": project, "name": "Acme", "createdAt": BASE_TIME.isoformat()}

    fields = "project { id name createdAt }"
    data = gql.data(f'{{ whatsAppLogs {{ {fields} }} whatsAppLog(id: "{log}") {{ projectId {fields} }} }}')

    assert data == {
        "whatsAppLogs": [{"project": expected}],
        "whatsAppLog": {"projectId": project, "project": expected},
    }


@pytest.mark.parametrize("relation", PROJECT_SCOPED)
def test_a_link_to_another_projects_record_resolves_to_null(
    gql: GraphQL, factory: Factory, relation: str
) -> None:
    mine, theirs = factory.project("Mine"), factory.project("Theirs")
    foreign = factory.related(relation, theirs, "Not yours")
    log = factory.log(mine, **{COLUMNS[relation]: foreign})
    gql.key = factory.api_key(mine)

    data = gql.data(
        f'{{ whatsAppLogs {{ {selection(relation)} }} whatsAppLog(id: "{log}") {{ {selection(relation)} }} }}'
    )

    assert data == {"whatsAppLogs": [{relation: None}], "whatsAppLog": {relation: None}}


def test_users_are_shared_by_every_project(gql: GraphQL, factory: Factory) -> None:
    mine, theirs = factory.project("Mine"), factory.project("Theirs")
    user = factory.related("user", None, "Ana Silva")
    factory.log(mine, user_id=user)
    factory.log(theirs, user_id=user)
    gql.key = factory.api_key(mine)

    assert gql.data("{ whatsAppLogs { user { id name } } }") == {
        "whatsAppLogs": [{"user": {"id": user, "name": "Ana Silva"}}]
    }


def test_relations_selected_through_fragments_resolve(gql: GraphQL, factory: Factory) -> None:
    project = factory.project()
    incident = factory.related("incident", project, "Checkout is down")
    team = factory.related("team", project, "SRE")
    factory.log(project, incident_id=incident, team_id=team)
    gql.key = factory.api_key(project)

    data = gql.data(
        "query { whatsAppLogs { ...Cause ... on WhatsAppLog { team { name } } } }"
        " fragment Cause on WhatsAppLog { incident { title } }"
    )

    assert data == {"whatsAppLogs": [{"incident": {"title": "Checkout is down"}, "team": {"name": "SRE"}}]}


# --- no N+1 -----------------------------------------------------------------------------------------

PAGE_WITH_EVERY_RELATION = f"query($limit: Int) {{ whatsAppLogs(limit: $limit) {{ id {ALL_RELATIONS} }} }}"
# 1 for the API key, 1 for the page, 1 per related type (every relation and the project).
STATEMENTS_FOR_A_PAGE = 1 + 1 + len(RELATIONS) + 1


def _logs_linking_everything(factory: Factory, project: str, count: int, groups: int) -> None:
    """`count` logs linked to every relation, spread over `groups` distinct records of each type."""
    for _ in range(groups):
        links = {COLUMNS[r]: factory.related(r, project if r in PROJECT_SCOPED else None) for r in LABELS}
        factory.logs(project, count // groups, **links)


@pytest.mark.regular_path  # the DataLoaders' statements; the compiled path's: tests/test_compiled.py
def test_a_page_of_100_costs_as_many_statements_as_a_page_of_5(
    gql: GraphQL, factory: Factory, sql_statements: StatementCounter
) -> None:
    project = factory.project()
    _logs_linking_everything(factory, project, 100, groups=4)
    gql.key = factory.api_key(project)
    gql.data("{ whatsAppLogCount }")  # warm: the first connection may ask the database about itself

    costs = {}
    for limit in (5, 100):
        sql_statements.reset()
        logs = gql.data(PAGE_WITH_EVERY_RELATION, {"limit": limit})["whatsAppLogs"]
        assert len(logs) == limit
        assert all(log[relation] is not None for log in logs for relation in [*LABELS, "project"])
        costs[limit] = sql_statements.count

    assert costs == {5: STATEMENTS_FOR_A_PAGE, 100: STATEMENTS_FOR_A_PAGE}, sql_statements.statements


@pytest.mark.regular_path  # the DataLoaders' statements; the compiled path's: tests/test_compiled.py
def test_one_log_by_id_loads_each_relation_in_one_statement(
    gql: GraphQL, factory: Factory, sql_statements: StatementCounter
) -> None:
    project = factory.project()
    _logs_linking_everything(factory, project, 1, groups=1)
    gql.key = factory.api_key(project)
    [log] = gql.data("{ whatsAppLogs { id } }")["whatsAppLogs"]

    sql_statements.reset()
    data = gql.data(f'{{ whatsAppLog(id: "{log["id"]}") {{ {ALL_RELATIONS} }} }}')

    assert all(value is not None for value in data["whatsAppLog"].values())
    assert sql_statements.count == STATEMENTS_FOR_A_PAGE, sql_statements.statements


@pytest.mark.regular_path  # the DataLoaders' statements; the compiled path's: tests/test_compiled.py
def test_relations_not_linked_by_any_log_cost_no_statement(
    gql: GraphQL, factory: Factory, sql_statements: StatementCounter
) -> None:
    project = factory.project()
    factory.logs(project, 3)
    gql.key = factory.api_key(project)
    gql.data("{ whatsAppLogCount }")

    sql_statements.reset()
    logs = gql.data(PAGE_WITH_EVERY_RELATION, {"limit": 10})["whatsAppLogs"]

    assert all(log[relation] is None for log in logs for relation in LABELS)
    # the key, the page and the project: nothing for the relations that every log leaves empty
    assert sql_statements.count == 3, sql_statements.statements
