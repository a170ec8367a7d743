"""`gql`, a widely used Python GraphQL client, against `graphql-api serve`: introspection, then pages.

The client builds its schema from the server's introspection (`build_client_schema`) and validates every
query against it before sending, as typed clients and code generators do.
"""

from __future__ import annotations

import subprocess
import sys
from typing import TYPE_CHECKING

import pytest
from gql import Client, GraphQLRequest, gql
from gql.transport.exceptions import TransportQueryError
from gql.transport.httpx import HTTPXTransport
from graphql import GraphQLSchema, build_schema, lexicographic_sort_schema, print_schema

from tests.factories import Factory
from tests.live import serve

if TYPE_CHECKING:
    from collections.abc import Iterator

# What is tested here is the client side; the backends are covered by the other tests.
pytestmark = pytest.mark.backends("sqlite")


PAGE = """
query Page($where: WhatsAppLogFilter, $skip: Int!, $limit: Int!) {
  whatsAppLogs(where: $where, orderBy: [{ createdAt: ASC }], skip: $skip, limit: $limit) {
    id toNumber status
    incident { title }
  }
  whatsAppLogCount(where: $where)
}
"""


@pytest.fixture
def server(database_url: str) -> Iterator[str]:
    with serve(database_url) as url:
        yield url


def _client(url: str, key: str | None = None) -> Client:
    headers = {"ApiKey": key} if key else {}
    transport = HTTPXTransport(url=f"{url}/graphql", headers=headers)
    # Ask for everything the schema uses (`@oneOf` on the orderBy inputs, `@specifiedBy` on scalars).
    introspection = {"input_object_one_of": True, "specified_by_url": True}
    return Client(transport=transport, fetch_schema_from_transport=True, introspection_args=introspection)


def _sdl(schema: GraphQLSchema) -> str:
    return print_schema(lexicographic_sort_schema(schema))


def test_introspection_gives_the_client_the_exported_schema(server: str) -> None:
    client = _client(server)
    with client:
        pass  # connecting fetches the schema
    exported = subprocess.run(
        [sys.executable, "-m", "graphql_api", "export-schema"], capture_output=True, text=True, check=True
    ).stdout

    assert client.schema is not None
    assert _sdl(client.schema) == _sdl(build_schema(exported))


def test_the_client_pages_through_a_filtered_list_with_variables(server: str, factory: Factory) -> None:
    project = factory.project("Acme")
    incident = factory.related("incident", project, "Checkout is down")
    failed = factory.logs(project, 23, status="Failed", incident_id=incident)
    factory.logs(project, 5, status="Delivered")
    client = _client(server, factory.api_key(project))
    where = {"status": {"eq": "Failed"}}

    pages = []
    with client as session:
        for skip in (0, 10, 20):
            request = GraphQLRequest(PAGE, variable_values={"where": where, "skip": skip, "limit": 10})
            pages.append(session.execute(request))

    assert [len(page["whatsAppLogs"]) for page in pages] == [10, 10, 3]
    assert {page["whatsAppLogCount"] for page in pages} == {23}
    assert [log["id"] for page in pages for log in page["whatsAppLogs"]] == failed
    assert {log["incident"]["title"] for page in pages for log in page["whatsAppLogs"]} == {
        "Checkout is down"
    }


def test_the_client_checks_queries_against_the_schema_before_sending(server: str) -> None:
    with _client(server) as session, pytest.raises(Exception, match="Cannot query field 'phone'"):
        session.execute(gql("{ whatsAppLogs { phone } }"))


def test_the_client_sees_the_error_code_of_a_bad_key(server: str) -> None:
    with _client(server, "wal_not-a-real-key") as session, pytest.raises(TransportQueryError) as error:
        session.execute(gql("{ whatsAppLogCount }"))

    assert error.value.errors is not None
    assert error.value.errors[0]["extensions"]["code"] == "UNAUTHENTICATED"
