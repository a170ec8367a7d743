from __future__ import annotations

from tests.conftest import GraphQL
from tests.factories import Factory


def test_a_key_lists_its_projects_logs_with_their_incident(gql: GraphQL, factory: Factory) -> None:
    project = factory.project("Acme")
    incident = factory.related("incident", project, "Checkout is down")
    log = factory.log(project, incident_id=incident, status="Delivered")
    gql.key = factory.api_key(project)

    data = gql.data("{ whatsAppLogs { id status incident { id title } project { name } } whatsAppLogCount }")

    assert data == {
        "whatsAppLogs": [
            {"id": log, "status": "Delivered", "incident": {"id": incident, "title": "Checkout is down"},
             "project": {"name": "Acme"}}
        ],
        "whatsAppLogCount": 1,
    }  # fmt: skip
