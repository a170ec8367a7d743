"""`GET /api/openapi.json`: a valid OpenAPI 3.1 document whose schemas the real answers satisfy, whose
request schemas agree with what the endpoints accept, and from which a generated client calls a server."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from starlette.testclient import TestClient

from graphql_api.data.fields import FIELDS
from tests.factories import Factory
from tests.live import serve

LIST = "/api/whatsapp-log/get-list"
COUNT = "/api/whatsapp-log/count"
EVERYTHING = {
    **{f.rest_name: True for f in FIELDS.values()},
    "incident": {"title": True, "createdAt": True},
    "monitor": True,
    "project": {"name": True},
}


@pytest.fixture
def spec(client: TestClient) -> dict[str, Any]:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


@pytest.fixture
def project(factory: Factory) -> str:
    project = factory.project("Documented")
    incident = factory.related("incident", project, "Database down")
    factory.logs(project, 3, incident_id=incident)
    factory.log(project, status_message=None)
    return project


@pytest.fixture
def key(factory: Factory, project: str) -> str:
    return factory.api_key(project)


def schema_validator(spec: dict[str, Any], name: str) -> Draft202012Validator:
    """A JSON Schema 2020-12 validator (OpenAPI 3.1's dialect) for one of the document's schemas."""
    registry = Registry().with_resource("urn:spec", Resource.from_contents(spec, DRAFT202012))
    return Draft202012Validator({"$ref": f"urn:spec#/components/schemas/{name}"}, registry=registry)


def answer_schema(spec: dict[str, Any], path: str, method: str, status: int) -> str:
    """The schema name the document declares for an answer of `status`."""
    answers = spec["paths"][path][method]["responses"]
    assert str(status) in answers, f"{method.upper()} {path} answered {status}, which the document omits"
    ref: str = answers[str(status)]["content"]["application/json"]["schema"]["$ref"]
    return ref.rsplit("/", 1)[-1]


def check(spec: dict[str, Any], path: str, method: str, response: Any, documented_path: str = "") -> Any:
    """The answer satisfies the schema the document declares for its path, method and status."""
    name = answer_schema(spec, documented_path or path, method, response.status_code)
    body = response.json()
    schema_validator(spec, name).validate(body)
    return body


def test_the_document_is_valid_openapi_3_1(spec: dict[str, Any]) -> None:
    validate(spec)
    assert spec["openapi"] == "3.1.0"
    assert set(spec["paths"]) == {LIST, COUNT, "/api/whatsapp-log/{id}/get-item"}


def test_every_field_of_the_model_is_in_the_document(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    for name in ("WhatsAppLog", "Select", "Query"):
        assert {f.rest_name for f in FIELDS.values()} <= set(schemas[name]["properties"]), name


def test_real_answers_satisfy_the_documented_schemas(
    client: TestClient, spec: dict[str, Any], factory: Factory, project: str, key: str
) -> None:
    headers = {"ApiKey": key}
    page = check(
        spec, LIST, "post", client.post(LIST, json={"select": EVERYTHING, "limit": 100}, headers=headers)
    )
    assert len(page["data"]) == 4
    assert {log["incident"]["title"] for log in page["data"] if log["incident"]} == {"Database down"}
    log_id = page["data"][0]["_id"]
    item = f"/api/whatsapp-log/{log_id}/get-item"
    documented = "/api/whatsapp-log/{id}/get-item"
    check(spec, item, "post", client.post(item, json={"select": EVERYTHING}, headers=headers), documented)
    check(spec, item, "get", client.get(item, headers=headers), documented)
    assert check(spec, COUNT, "post", client.post(COUNT, json={}, headers=headers)) == {"count": 4}
    check(spec, LIST, "get", client.get(LIST, params={"limit": 2}, headers=headers))


def test_error_answers_satisfy_the_documented_error_schema(
    client: TestClient, spec: dict[str, Any], factory: Factory, project: str, key: str
) -> None:
    no_permission = {"ApiKey": factory.api_key(project, permissions=["ReadIncident"])}
    refusals = [
        client.post(LIST, json={}),  # 401
        client.post(LIST, json={}, headers={"X-Api-Key": key}),  # 401 with a hint
        client.post(LIST, json={"query": {"status": {"_type": "Nope"}}}, headers={"ApiKey": key}),  # 400
        client.post(LIST, json={"limit": 1000}, headers={"ApiKey": key}),  # 400
        client.post(LIST, json={"query": "x" * 70_000}, headers={"ApiKey": key}),  # 413
        client.post(LIST, json={}, headers=no_permission),  # 422
    ]
    assert [r.status_code for r in refusals] == [401, 401, 400, 400, 413, 422]
    for response in refusals:
        check(spec, LIST, "post", response)
    missing = "/api/whatsapp-log/00000000-0000-4000-8000-000000000000/get-item"
    response = client.post(missing, json={}, headers={"ApiKey": key})
    assert response.status_code == 404
    check(spec, missing, "post", response, "/api/whatsapp-log/{id}/get-item")


ACCEPTED = [
    {"query": {"status": ["Sent", "Delivered"], "toNumber": None}},
    {"query": {"createdAt": {"_type": "InBetween", "startValue": "2026-01-01", "endValue": "2027-01-01"}}},
    {
        "query": {
            "messageText": {"_type": "Search", "value": "down"},
            "_id": {"_type": "ObjectID", "value": "x"},
        }
    },
    {"query": {"whatsAppCostInUSDCents": {"_type": "GreaterThan", "value": 1}}, "sort": {"createdAt": "ASC"}},
    {"select": {"_id": True, "incident": {"title": True}}, "skip": 0, "limit": 5},
]
REFUSED = [
    {"query": {"status": {"_type": "GreaterThan", "value": 5}}},  # a number for a text field
    {"query": {"noSuchField": 1}},
    {"query": {"whatsAppCostInUSDCents": {"_type": "Search", "value": "1"}}},  # Search on a number
    {"select": {"incident": {"noSuchColumn": True}}},
    {"sort": {"messageText": "ASC"}},  # not sortable
    {"limit": 101},
]


@pytest.mark.parametrize("body", ACCEPTED)
def test_a_body_the_document_allows_is_accepted(
    client: TestClient, spec: dict[str, Any], key: str, body: dict[str, Any]
) -> None:
    schema_validator(spec, "ListRequest").validate(body)
    assert client.post(LIST, json=body, headers={"ApiKey": key}).status_code == 200


@pytest.mark.parametrize("body", REFUSED)
def test_a_body_the_document_forbids_is_refused(
    client: TestClient, spec: dict[str, Any], key: str, body: dict[str, Any]
) -> None:
    assert not schema_validator(spec, "ListRequest").is_valid(body)
    assert client.post(LIST, json=body, headers={"ApiKey": key}).status_code == 400


@pytest.fixture(scope="module")
def generated_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A Python client generated from the document by openapi-python-client, imported."""
    directory = tmp_path_factory.mktemp("generated")
    with TestClient(_app_without_database(directory)) as client:
        (directory / "openapi.json").write_bytes(client.get("/api/openapi.json").content)
    tools = Path(sys.executable).parent  # the generator, and ruff, which it runs on what it wrote
    subprocess.run(
        [str(tools / "openapi-python-client"), "generate", "--path", str(directory / "openapi.json"),
         "--meta", "none", "--fail-on-warning", "--output-path", str(directory / "whatsapp_log_api_client")],
        check=True, capture_output=True, timeout=120,
        env={**os.environ, "PATH": f"{tools}:{os.environ['PATH']}"},
    )  # fmt: skip
    sys.path.insert(0, str(directory))
    try:
        yield importlib.import_module("whatsapp_log_api_client")
    finally:
        sys.path.remove(str(directory))


def _app_without_database(directory: Path) -> Any:
    from graphql_api.http.app import create_app
    from graphql_api.settings import Settings

    return create_app(Settings(database_url=f"sqlite:///{directory / 'unused.db'}"))


def test_a_generated_client_calls_a_running_server(
    generated_client: Any, database_url: str, factory: Factory, project: str, key: str
) -> None:
    api = importlib.import_module("whatsapp_log_api_client.api.default")
    models = importlib.import_module("whatsapp_log_api_client.models")
    with serve(database_url) as url:
        client = generated_client.AuthenticatedClient(
            base_url=url, token=key, prefix="", auth_header_name="ApiKey"
        )
        body = models.ListRequest.from_dict({"select": {"status": True}, "limit": 2})
        page = importlib.import_module(f"{api.__name__}.post_whats_app_logs").sync(client=client, body=body)
        assert (page.count, page.limit, page.skip, len(page.data)) == (4, 2, 0, 2)
        count = importlib.import_module(f"{api.__name__}.post_whats_app_log_count").sync(
            client=client, body=models.CountRequest.from_dict({"query": {"incidentId": {"_type": "NotNull"}}})
        )
        assert count.count == 3
        refused = importlib.import_module(f"{api.__name__}.post_whats_app_log_count").sync(
            client=generated_client.AuthenticatedClient(
                base_url=url, token="wal_" + "x" * 43, prefix="", auth_header_name="ApiKey"
            ),
            body=models.CountRequest.from_dict({}),
        )
        assert refused.message == "Invalid or missing API key."
