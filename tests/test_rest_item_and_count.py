"""`GET|POST /api/whatsapp-log/:id/get-item` and `POST /api/whatsapp-log/count`, tenants kept apart."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.factories import Factory
from tests.rest_client import Rest

NOT_FOUND = {"message": "WhatsApp Log not found."}


@pytest.fixture
def project(factory: Factory, rest: Rest) -> str:
    project_id = factory.project("Acme")
    rest.key = factory.api_key(project_id)
    return project_id


# --- get-item ---


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_get_item_without_a_body_returns_the_id_only(
    rest: Rest, factory: Factory, project: str, method: str
) -> None:
    log = factory.log(project)

    assert rest.ok(method, f"{log}/get-item") == {"_id": log}


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_get_item_with_a_select_returns_those_fields_as_in_the_reference(
    rest: Rest, factory: Factory, project: str, method: str
) -> None:
    log = factory.log(project, status="Sent", to_number="+1-555-123-4567", whatsapp_cost_in_usd_cents=100)
    select = dict.fromkeys(["projectId", "status", "toNumber", "whatsAppCostInUSDCents", "_id"], True)

    item = rest.ok(method, f"{log}/get-item", {"select": select})

    assert item == {
        "_id": log,
        "projectId": project,
        "status": "Sent",
        "toNumber": "+1-555-123-4567",
        "whatsAppCostInUSDCents": 100,
    }


def test_get_item_selects_relations_by_id_or_with_columns(rest: Rest, factory: Factory, project: str) -> None:
    monitor = factory.related("monitor", project, "API Gateway")
    user = factory.related("user", None, "Ana Silva")
    created = datetime(2026, 7, 21, tzinfo=UTC)
    log = factory.log(project, monitor_id=monitor, user_id=user, created_at=created)
    select = {
        "createdAt": True,
        "monitor": {"name": True},
        "user": True,
        "team": True,
        "alert": {"title": True},
    }

    item = rest.ok("POST", f"{log}/get-item", {"select": select})

    assert item == {
        "_id": log,
        "createdAt": "2026-07-21T00:00:00+00:00",
        "monitor": {"_id": monitor, "name": "API Gateway"},
        "user": {"_id": user},
        "team": None,
        "alert": None,
    }


def test_get_item_of_a_missing_a_malformed_a_deleted_or_another_projects_id_is_the_same_404(
    rest: Rest, factory: Factory, project: str
) -> None:
    other = factory.project("Other")
    theirs = factory.log(other)
    deleted = factory.log(project, deleted_at=datetime(2026, 7, 2, tzinfo=UTC))

    for log_id in (theirs, deleted, "00000000-0000-4000-8000-000000000000", "not-an-id"):
        for method in ("GET", "POST"):
            response = rest(method, f"{log_id}/get-item", {"select": {"status": True}})
            assert (response.status_code, response.json()) == (404, NOT_FOUND)
            assert response.content == b'{"message":"WhatsApp Log not found."}'


# --- count ---


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_count_without_a_body_counts_every_live_log_of_the_project(
    rest: Rest, factory: Factory, project: str, method: str
) -> None:
    factory.logs(project, 3)
    factory.log(project, deleted_at=datetime(2026, 7, 2, tzinfo=UTC))

    assert rest.ok(method, "count") == {"count": 3}


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_count_with_a_query_counts_the_matches(
    rest: Rest, factory: Factory, project: str, method: str
) -> None:
    factory.logs(project, 2, status="Failed")
    factory.logs(project, 5, status="Delivered", whatsapp_cost_in_usd_cents=7)

    assert rest.ok(method, "count", {"query": {"status": "Failed"}}) == {"count": 2}
    assert rest.ok(method, "count", {"query": {"status": {"_type": "Search", "value": "LIV"}}}) == {
        "count": 5
    }
    assert rest.ok(method, "count", {"query": {"whatsAppCostInUSDCents": [7, 8]}}) == {"count": 5}
    assert rest.ok(method, "count", {"query": {}}) == {"count": 7}


def test_count_agrees_with_the_lists_count(rest: Rest, factory: Factory, project: str) -> None:
    factory.logs(project, 12, status="Read")
    query = {"status": {"_type": "EqualTo", "value": "Read"}}

    counted = rest.ok("POST", "count", {"query": query})
    listed = rest.ok("POST", "get-list", {"query": query})

    assert counted["count"] == listed["count"] == 12


# --- tenant isolation on all three endpoints ---


def test_a_key_of_one_project_never_sees_another_on_any_endpoint(rest: Rest, factory: Factory) -> None:
    mine, theirs = factory.project("Mine"), factory.project("Theirs")
    my_logs = factory.logs(mine, 2, status="Sent")
    their_logs = factory.logs(theirs, 5, status="Sent")
    rest.key = factory.api_key(mine)
    everything = {"query": {"status": "Sent"}, "select": {"projectId": True}}

    listed = rest.ok("POST", "get-list", everything)
    counted = rest.ok("POST", "count", {"query": {"_id": their_logs}})
    their_item = rest("POST", f"{their_logs[0]}/get-item", {"select": {"projectId": True}})

    assert sorted(item["_id"] for item in listed["data"]) == sorted(my_logs)
    assert {item["projectId"] for item in listed["data"]} == {mine}
    assert listed["count"] == 2
    assert counted == {"count": 0}
    assert rest.ok("POST", "count", {"query": {"projectId": theirs}}) == {"count": 0}
    assert rest.ids({"_id": their_logs}) == []
    assert (their_item.status_code, their_item.json()) == (404, NOT_FOUND)
