"""Tenancy and soft deletes: a key sees its own project's live logs, and nothing else, by every route."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from tests.conftest import GraphQL
from tests.factories import BASE_TIME, Factory

RELATED = "incident { id title } monitor { id name } team { id name } project { id name }"


@dataclass
class Tenant:
    project: str
    key: str
    logs: list[str]
    incident: str
    monitor: str
    team: str


def _tenant(factory: Factory, name: str, count: int) -> Tenant:
    project = factory.project(name)
    incident = factory.related("incident", project, f"{name} incident")
    monitor = factory.related("monitor", project, f"{name} monitor")
    team = factory.related("team", project, f"{name} team")
    logs = factory.logs(
        project, count, incident_id=incident, monitor_id=monitor, team_id=team, status="Delivered"
    )
    return Tenant(project, factory.api_key(project), logs, incident, monitor, team)


@pytest.fixture
def tenants(factory: Factory) -> tuple[Tenant, Tenant]:
    """Two projects with the same kinds of data: 3 logs in one, 4 in the other."""
    return _tenant(factory, "Acme", 3), _tenant(factory, "Globex", 4)


def ids(gql: GraphQL, key: str, where: dict[str, Any] | None = None) -> list[str]:
    query = "query($w: WhatsAppLogFilter) { whatsAppLogs(where: $w, limit: 100) { id } }"
    return sorted(log["id"] for log in gql.data(query, {"w": where}, key=key)["whatsAppLogs"])


def count(gql: GraphQL, key: str, where: dict[str, Any] | None = None) -> int:
    query = "query($w: WhatsAppLogFilter) { whatsAppLogCount(where: $w) }"
    return int(gql.data(query, {"w": where}, key=key)["whatsAppLogCount"])


@pytest.mark.parametrize("who", [0, 1])
def test_a_key_lists_and_counts_only_its_projects_logs(
    gql: GraphQL, tenants: tuple[Tenant, Tenant], who: int
) -> None:
    me = tenants[who]

    assert ids(gql, me.key) == sorted(me.logs)
    assert count(gql, me.key) == len(me.logs)


def test_another_projects_log_by_id_is_null_like_a_missing_one(
    gql: GraphQL, tenants: tuple[Tenant, Tenant]
) -> None:
    me, other = tenants
    query = "query($id: ID!) { whatsAppLog(id: $id) { id projectId } }"

    mine = gql.data(query, {"id": me.logs[0]}, key=me.key)
    theirs = gql.data(query, {"id": other.logs[0]}, key=me.key)
    missing = gql.data(query, {"id": "00000000-0000-4000-8000-000000000000"}, key=me.key)
    malformed = gql.data(query, {"id": "not-an-id"}, key=me.key)

    assert mine == {"whatsAppLog": {"id": me.logs[0], "projectId": me.project}}
    assert theirs == missing == malformed == {"whatsAppLog": None}


def test_nested_records_are_the_keys_own(gql: GraphQL, tenants: tuple[Tenant, Tenant]) -> None:
    me, _ = tenants

    logs = gql.data(f"{{ whatsAppLogs {{ {RELATED} }} }}", key=me.key)["whatsAppLogs"]

    assert len(logs) == len(me.logs)
    for log in logs:
        assert log == {
            "incident": {"id": me.incident, "title": "Acme incident"},
            "monitor": {"id": me.monitor, "name": "Acme monitor"},
            "team": {"id": me.team, "name": "Acme team"},
            "project": {"id": me.project, "name": "Acme"},
        }


def test_filters_on_the_other_project_find_nothing(gql: GraphQL, tenants: tuple[Tenant, Tenant]) -> None:
    me, other = tenants
    wheres: list[dict[str, Any]] = [
        {"projectId": {"eq": other.project}},
        {"projectId": {"in": [other.project]}},
        {"id": {"in": other.logs}},
        {"incidentId": {"eq": other.incident}},
        {"or": [{"projectId": {"eq": other.project}}, {"teamId": {"eq": other.team}}]},
    ]

    for where in wheres:
        assert ids(gql, me.key, where) == [], where
        assert count(gql, me.key, where) == 0, where


def test_no_filter_reaches_beyond_the_project(gql: GraphQL, tenants: tuple[Tenant, Tenant]) -> None:
    me, other = tenants
    wheres: list[dict[str, Any]] = [
        {"projectId": {"in": [me.project, other.project]}},
        {"projectId": {"ne": other.project}},
        {"not": {"projectId": {"eq": other.project}}},
        {"id": {"in": me.logs + other.logs}},
        {"or": [{"status": {"eq": "Delivered"}}, {"projectId": {"eq": other.project}}]},
    ]

    for where in wheres:
        assert ids(gql, me.key, where) == sorted(me.logs), where
        assert count(gql, me.key, where) == len(me.logs), where
    # `not` is a complement within the project: it never brings the other project's logs in.
    assert ids(gql, me.key, {"not": {"projectId": {"eq": me.project}}}) == []


# --- soft deletes -----------------------------------------------------------------------------------


def test_soft_deleted_logs_are_invisible_in_lists_by_id_and_counts(gql: GraphQL, factory: Factory) -> None:
    project = factory.project()
    live = factory.log(project, status="Failed")
    deleted = factory.log(project, status="Failed", deleted_at=BASE_TIME + timedelta(days=1))
    gql.key = factory.api_key(project)

    assert ids(gql, gql.key) == [live]
    assert count(gql, gql.key) == 1
    assert gql.data(f'{{ whatsAppLog(id: "{deleted}") {{ id }} }}') == {"whatsAppLog": None}
    cases: list[tuple[dict[str, Any], list[str]]] = [
        ({"id": {"eq": deleted}}, []),
        ({"status": {"eq": "Failed"}}, [live]),
        ({"not": {"id": {"eq": live}}}, []),
        ({"createdAt": {"isNull": False}}, [live]),
    ]

    for where, expected in cases:
        assert ids(gql, gql.key, where) == expected, where
        assert count(gql, gql.key, where) == len(expected), where


def test_a_project_whose_logs_are_all_deleted_has_none(gql: GraphQL, factory: Factory) -> None:
    project = factory.project()
    factory.logs(project, 3, deleted_at=BASE_TIME)
    gql.key = factory.api_key(project)

    assert gql.data("{ whatsAppLogs { id } whatsAppLogCount }") == {"whatsAppLogs": [], "whatsAppLogCount": 0}
