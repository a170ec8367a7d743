"""HTTP caching and compression: GET answers carry a strong ETag, `Cache-Control: private, no-cache` and
`Vary`; `If-None-Match` gives 304 with no body; answers are compressed as `Accept-Encoding` allows."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
import zstandard
from starlette.testclient import TestClient

from tests.factories import Factory

PAGE = "{ whatsAppLogs(limit: 50) { id messageText toNumber status } }"
VARY = {"apikey", "authorization", "accept", "accept-encoding"}


@pytest.fixture
def project(factory: Factory) -> str:
    project = factory.project("Cached")
    factory.logs(project, 30)
    return project


@pytest.fixture
def key(factory: Factory, project: str) -> str:
    return factory.api_key(project)


def get(client: TestClient, key: str | None, query: str = PAGE, **headers: str) -> Any:
    if key is not None:
        headers["ApiKey"] = key
    return client.get("/graphql", params={"query": query}, headers=headers)


def decoded(response: Any) -> Any:
    """The JSON of an answer; the HTTP client decodes gzip and Brotli itself, zstd not."""
    if response.headers.get("content-encoding") == "zstd":
        return json.loads(zstandard.ZstdDecompressor().decompress(response.content))
    return response.json()


def vary(response: Any) -> set[str]:
    return {name.strip().lower() for name in response.headers["vary"].split(",")}


def test_a_get_answer_has_a_strong_etag_and_may_be_kept_only_privately(client: TestClient, key: str) -> None:
    response = get(client, key, **{"Accept-Encoding": "identity"})
    assert response.status_code == 200
    etag = response.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"') and not etag.startswith("W/")
    assert response.headers["cache-control"] == "private, no-cache"
    assert vary(response) >= VARY
    # The same answer again: the same tag.
    assert get(client, key, **{"Accept-Encoding": "identity"}).headers["etag"] == etag


@pytest.mark.parametrize("form", ["{tag}", "W/{tag}", '"other", {tag}', "*"])
def test_if_none_match_naming_the_answer_gives_304_with_no_body(
    client: TestClient, key: str, form: str
) -> None:
    etag = get(client, key).headers["etag"]
    response = get(client, key, **{"If-None-Match": form.format(tag=etag)})
    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == etag
    assert response.headers["cache-control"] == "private, no-cache"
    assert vary(response) >= VARY


def test_a_changed_answer_has_a_new_tag_and_is_sent_in_full(
    client: TestClient, factory: Factory, project: str, key: str
) -> None:
    etag = get(client, key).headers["etag"]
    factory.log(project, message_text="a new message")
    response = get(client, key, **{"If-None-Match": etag})
    assert response.status_code == 200
    assert response.headers["etag"] != etag
    assert "a new message" in response.text


def test_another_projects_key_gets_its_own_answer_not_a_304(
    client: TestClient, factory: Factory, key: str
) -> None:
    other = factory.project("Other")
    factory.logs(other, 2)
    etag = get(client, key).headers["etag"]
    response = get(client, factory.api_key(other), **{"If-None-Match": etag})
    assert response.status_code == 200
    assert len(response.json()["data"]["whatsAppLogs"]) == 2


def test_a_rest_get_has_an_etag_and_answers_304(
    client: TestClient, factory: Factory, project: str, key: str
) -> None:
    log_id = factory.log(project)
    path = f"/api/whatsapp-log/{log_id}/get-item"
    response = client.get(path, headers={"ApiKey": key})
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "private, no-cache"
    again = client.get(path, headers={"ApiKey": key, "If-None-Match": response.headers["etag"]})
    assert (again.status_code, again.content) == (304, b"")


def test_a_post_answer_has_no_etag(client: TestClient, key: str) -> None:
    response = client.post("/graphql", json={"query": PAGE}, headers={"ApiKey": key})
    assert response.status_code == 200
    assert "etag" not in response.headers


@pytest.mark.parametrize("encoding", ["gzip", "br", "zstd"])
def test_a_large_answer_is_compressed_as_the_client_accepts(
    client: TestClient, key: str, encoding: str
) -> None:
    plain = get(client, key, **{"Accept-Encoding": "identity"})
    response = get(client, key, **{"Accept-Encoding": encoding})
    assert response.headers["content-encoding"] == encoding
    assert decoded(response) == plain.json()
    assert response.num_bytes_downloaded < plain.num_bytes_downloaded / 2
    # Each encoding is a representation of its own, with its own strong tag, stable across requests.
    assert response.headers["etag"] != plain.headers["etag"]
    assert get(client, key, **{"Accept-Encoding": encoding}).headers["etag"] == response.headers["etag"]
    again = get(client, key, **{"Accept-Encoding": encoding, "If-None-Match": response.headers["etag"]})
    assert again.status_code == 304


def test_compression_follows_the_clients_preferences(client: TestClient, key: str) -> None:
    assert "content-encoding" not in get(client, key, **{"Accept-Encoding": "gzip;q=0"}).headers
    assert get(client, key, **{"Accept-Encoding": "gzip, br;q=0"}).headers["content-encoding"] == "gzip"
    # A POST answer is compressed too.
    response = client.post("/graphql", json={"query": PAGE}, headers={"ApiKey": key, "Accept-Encoding": "br"})
    assert response.headers["content-encoding"] == "br"


def test_a_small_answer_is_sent_as_it_is(client: TestClient, key: str) -> None:
    response = get(client, key, "{ whatsAppLogCount }", **{"Accept-Encoding": "gzip, br, zstd"})
    assert "content-encoding" not in response.headers
    assert response.json() == {"data": {"whatsAppLogCount": 30}}


@pytest.mark.parametrize("overrides", [{"etags": False, "compression": False}])
def test_both_can_be_turned_off(client: TestClient, key: str) -> None:
    response = get(client, key, **{"Accept-Encoding": "gzip"})
    assert "etag" not in response.headers
    assert "content-encoding" not in response.headers


def test_a_persisted_query_by_get_has_an_etag_and_answers_304(client: TestClient, key: str) -> None:
    digest = hashlib.sha256(PAGE.encode()).hexdigest()
    extensions = json.dumps({"persistedQuery": {"version": 1, "sha256Hash": digest}})
    registered = client.post(
        "/graphql", json={"query": PAGE, "extensions": json.loads(extensions)}, headers={"ApiKey": key}
    )
    assert "errors" not in registered.json()
    by_hash = client.get("/graphql", params={"extensions": extensions}, headers={"ApiKey": key})
    assert len(by_hash.json()["data"]["whatsAppLogs"]) == 30
    assert by_hash.headers["cache-control"] == "private, no-cache"
    again = client.get(
        "/graphql",
        params={"extensions": extensions},
        headers={"ApiKey": key, "If-None-Match": by_hash.headers["etag"]},
    )
    assert (again.status_code, again.content) == (304, b"")
