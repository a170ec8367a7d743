"""The compiled path: one SQL statement per root field builds the response JSON in the database, and the
answer is the regular path's answer, value for value, error for error."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from starlette.testclient import TestClient
from strawberry.extensions import SchemaExtension

from graphql_api.compiler import CompiledExecution
from graphql_api.data.fields import FIELDS, RELATIONS
from graphql_api.http.app import create_app
from graphql_api.schema import build_schema
from graphql_api.settings import Settings
from tests.conftest import GraphQL
from tests.factories import BASE_TIME, Factory, unnamed_values

EVERY_FIELD = f"__typename {' '.join(FIELDS)} project {{ __typename id name createdAt }} " + " ".join(
    f"{name} {{ __typename id {r.label}{' createdAt' if r.shows_created_at else ''} }}"
    for name, r in RELATIONS.items()
)


@dataclass
class Paths:
    """The same database behind two apps: compiled execution on, and forced off."""

    compiled: GraphQL
    regular: GraphQL
    execution: CompiledExecution

    def same(self, query: str, variables: dict[str, Any] | None = None, *, key: str | None = None) -> Any:
        """The body both paths answer (asserting they agree); it must come from the compiled path."""
        before = self.execution.stats.compiled + self.execution.stats.repeated
        body = self.compiled(query, variables, key=key)
        assert self.execution.stats.compiled + self.execution.stats.repeated == before + 1, "not compiled"
        regular = self.regular(query, variables, key=key)
        assert body == regular, _first_difference(body, regular)
        return body

    def same_on_the_regular_path(self, query: str, variables: dict[str, Any] | None = None, **kw: Any) -> Any:
        """The body both paths answer, when the compiled path must have handed the request over."""
        before = self.execution.stats.compiled + self.execution.stats.repeated
        body = self.compiled(query, variables, **kw)
        assert self.execution.stats.compiled + self.execution.stats.repeated == before, "compiled"
        regular = self.regular(query, variables, **kw)
        assert _without_request_ids(body) == _without_request_ids(regular), _first_difference(body, regular)
        return body


def _without_request_ids(body: dict[str, Any]) -> dict[str, Any]:
    """A body with its errors' request ids left out (every request gets its own)."""
    errors = [{**e, "extensions": {k: v for k, v in e.get("extensions", {}).items() if k != "requestId"}}
              for e in body.get("errors", [])]  # fmt: skip
    return {**body, "errors": errors} if errors else body


def _first_difference(compiled: Any, regular: Any) -> str:
    a, b = json.dumps(compiled, indent=1).splitlines(), json.dumps(regular, indent=1).splitlines()
    at = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    return (
        "compiled:\n"
        + "\n".join(a[max(0, at - 4) : at + 2])
        + "\nregular:\n"
        + "\n".join(b[max(0, at - 4) : at + 2])
    )


@pytest.fixture
def paths_with(settings: Settings) -> Iterator[Callable[..., Paths]]:
    """Paths over this test's database, with some settings changed."""
    with ExitStack() as stack:

        def make(**changes: Any) -> Paths:
            # One cursor secret for both apps, so that their cursors can be compared.
            changes.setdefault("cursor_secret", "the same for both paths")
            compiled_app = create_app(settings.with_(**changes, compiled_execution=True))
            regular_app = create_app(settings.with_(**changes, compiled_execution=False))
            compiled = stack.enter_context(TestClient(compiled_app))
            regular = stack.enter_context(TestClient(regular_app))
            return Paths(GraphQL(compiled), GraphQL(regular), compiled_app.state.compiled)

        yield make


@pytest.fixture
def paths(paths_with: Callable[..., Paths]) -> Paths:
    return paths_with()


@pytest.fixture
def project(factory: Factory, paths: Paths) -> str:
    project = factory.project("Acme ☃")
    key = factory.api_key(project)
    paths.compiled.key = paths.regular.key = key
    return project


def test_a_page_with_relations_is_one_statement_built_by_the_database(
    paths: Paths, factory: Factory, project: str
) -> None:
    incident = factory.related("incident", project, "Checkout down")
    monitor = factory.related("monitor", project, "API")
    factory.logs(project, 30, incident_id=incident, monitor_id=monitor)

    body = paths.same(
        "{ whatsAppLogs(limit: 25) { id incident { title } monitor { name } } whatsAppLogCount }"
    )

    assert len(body["data"]["whatsAppLogs"]) == 25
    assert body["data"]["whatsAppLogs"][0]["incident"] == {"title": "Checkout down"}
    assert body["data"]["whatsAppLogCount"] == 30
    assert paths.execution.stats.statements == 2  # one per root field, whatever the relations


def test_a_repeated_request_skips_strawberry_and_still_answers_the_same(
    paths: Paths, factory: Factory, project: str
) -> None:
    factory.logs(project, 3)
    query = "query Page($n: Int!) { whatsAppLogs(limit: $n) { id status } }"

    first = paths.same(query, {"n": 2})
    again = paths.same(query, {"n": 2})

    assert first == again
    assert (paths.execution.stats.compiled, paths.execution.stats.repeated) == (1, 1)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Accept": "application/graphql-response+json"},
        {"Accept": "application/json", "Content-Type": "application/json; charset=utf-8"},
        {"X-Request-Id": "mine-1"},
    ],
)
def test_a_repeated_request_gets_the_first_ones_http_answer(
    paths: Paths, factory: Factory, project: str, headers: dict[str, str]
) -> None:
    """The fast path answers a repeated JSON POST before Strawberry's request handling: the status, media
    type, headers and body are still the pipeline's, and the regular path's."""
    factory.logs(project, 2)
    headers = {"ApiKey": paths.compiled.key or "", **headers}

    def answer(client: TestClient, query: str) -> tuple[Any, ...]:
        response = client.post("/graphql", json={"query": query}, headers=headers)
        request_id = response.headers["x-request-id"]
        return (
            response.status_code,
            response.headers["content-type"],
            request_id if "X-Request-Id" in headers else len(request_id),
            _without_request_ids(response.json()),
        )

    bodies = []
    for query in ("{ whatsAppLogs { id } }", "{ whatsAppLogs(limit: -1) { id } }"):  # answered, refused
        first, again = answer(paths.compiled.client, query), answer(paths.compiled.client, query)
        assert first == again == answer(paths.regular.client, query)
        bodies.append(first[3])
    stats = paths.execution.stats
    assert (stats.compiled, stats.repeated) == (1, 1)  # the refusal is never compiled
    assert len(bodies[0]["data"]["whatsAppLogs"]) == 2
    assert bodies[1]["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


def test_every_field_and_relation_and_awkward_values_match_the_regular_path(
    paths: Paths, factory: Factory, project: str
) -> None:
    other = factory.project("Other")
    label = '“ü” \\ " 🚀'
    links = {
        r.fk_column.key: factory.related(name, project if r.project_scoped else None, label)
        for name, r in RELATIONS.items()
    }
    foreign = {
        r.fk_column.key: factory.related(name, other if r.project_scoped else None)
        for name, r in RELATIONS.items()
    }
    texts = [
        "",
        "plain",
        "ünïcödé 🚀 ‮rtl‬ e\u0301",
        'tab\tnew\nline \x01\x1f quote" back\\slash',
        "x" * 100_000,
    ]
    for i, text in enumerate(texts):
        named = dict(message_text=text, status_message=None if i % 2 else text[:500],
                     whatsapp_cost_in_usd_cents=[0, -1, 2**31 - 1, -(2**31), 7][i], from_number=None,
                     created_at=BASE_TIME + timedelta(microseconds=[0, 1, 500_000, 999_999, 0][i], days=i),
                     **(links if i % 2 else foreign))  # fmt: skip
        # Every other field (to_number, status, updated_at…) with a value of its kind, or null.
        factory.log(project, **named, **unnamed_values(i, named))

    body = paths.same(f"{{ whatsAppLogs(limit: 100, orderBy: [{{createdAt: ASC}}]) {{ {EVERY_FIELD} }} }}")

    logs = body["data"]["whatsAppLogs"]
    assert [log["messageText"] for log in logs] == texts
    assert [log["createdAt"][19:] for log in logs] == [
        "+00:00",
        ".000001+00:00",
        ".500000+00:00",
        ".999999+00:00",
        "+00:00",
    ]
    assert logs[1]["incident"]["title"] == label
    assert [name for name in RELATIONS if logs[1][name] is None] == []
    # Another project's records are not this key's to see, users (shared by projects) are.
    assert [name for name in RELATIONS if logs[0][name] is not None] == [
        name for name, r in RELATIONS.items() if not r.project_scoped
    ]
    assert logs[0]["project"]["name"] == "Acme ☃"


def test_aliases_fragments_inline_fragments_variables_and_typename(
    paths: Paths, factory: Factory, project: str
) -> None:
    incident = factory.related("incident", project, "Down")
    logs = factory.logs(project, 5, incident_id=incident, status="Failed")
    query = """
      query Q($w: WhatsAppLogFilter, $n: Int = 3, $id: ID!) {
        __typename
        page: whatsAppLogs(where: $w, limit: $n, orderBy: [{status: ASC}, {createdAt: DESC}]) {
          ...Log
          ... on WhatsAppLog { sent: createdAt incident { t: title ...Inc } }
          ... { status }
          again: id
        }
        total: whatsAppLogCount(where: $w)
        one: whatsAppLog(id: $id) { ...Log }
        none: whatsAppLog(id: "not-a-uuid") { id }
      }
      fragment Log on WhatsAppLog { __typename id status incident { id } }
      fragment Inc on Incident { __typename title }
    """
    variables = {"w": {"status": {"in": ["Failed"]}, "createdAt": {"gte": "2026-01-01"}}, "id": logs[2]}

    data = paths.same(query, variables)["data"]

    assert list(data) == ["__typename", "page", "total", "one", "none"]
    assert list(data["page"][0]) == ["__typename", "id", "status", "incident", "sent", "again"]
    assert list(data["page"][0]["incident"]) == ["id", "t", "__typename", "title"]
    assert data["total"] == 5 and data["one"]["id"] == logs[2] and data["none"] is None


SKIP_AND_INCLUDE = """
query Page($all: Boolean!, $brief: Boolean!, $count: Boolean = true) {
  whatsAppLogs(limit: 5) {
    id
    status @include(if: $all)
    messageText @skip(if: $brief)
    toNumber @include(if: true) @skip(if: $brief)
    incident @include(if: $all) { title id @skip(if: $all) }
    ... on WhatsAppLog @skip(if: $all) { fromNumber }
    ...Costs @include(if: $brief)
  }
  whatsAppLogCount @include(if: $count)
  total: whatsAppLogCount @skip(if: true)
}
fragment Costs on WhatsAppLog { whatsAppCostInUSDCents createdAt @skip(if: $all) }
"""


@pytest.mark.parametrize(
    "variables",
    [
        {"all": True, "brief": False},
        {"all": False, "brief": True},
        {"all": True, "brief": True, "count": False},
        {"all": False, "brief": False},
    ],
)
def test_skip_and_include_are_compiled_for_each_requests_variables(
    paths: Paths, factory: Factory, project: str, variables: dict[str, Any]
) -> None:
    incident = factory.related("incident", project, "Outage")
    for n in range(3):
        factory.log(
            project,
            status="Delivered",
            message_text=f"hello {n}",
            whatsapp_cost_in_usd_cents=n,
            incident_id=incident if n == 0 else None,
        )

    body = paths.same(SKIP_AND_INCLUDE, variables)
    again = paths.same(SKIP_AND_INCLUDE, variables)

    assert body == again
    first = body["data"]["whatsAppLogs"][0]
    assert ("status" in first) is variables["all"]
    assert ("messageText" in first) is not variables["brief"]
    assert ("whatsAppCostInUSDCents" in first) is variables["brief"]
    assert ("whatsAppLogCount" in body["data"]) is variables.get("count", True)
    assert "total" not in body["data"]


def test_a_skip_or_include_condition_of_null_is_the_regular_paths_error(
    paths: Paths, factory: Factory, project: str
) -> None:
    factory.logs(project, 2)

    body = paths.same_on_the_regular_path(SKIP_AND_INCLUDE, {"all": True, "brief": False, "count": None})

    assert body["errors"]


def test_a_selection_wider_than_the_databases_function_arguments(
    paths_with: Callable[..., Paths], factory: Factory
) -> None:
    # SQLite takes 127 arguments per function and PostgreSQL 100: 70 keys need several calls.
    paths = paths_with(max_aliases=200, max_tokens=10_000)
    project = factory.project()
    factory.logs(project, 2)
    paths.compiled.key = paths.regular.key = factory.api_key(project)
    aliases = " ".join(f"a{i}: {'status' if i % 2 else 'createdAt'}" for i in range(70))

    data = paths.same(
        f"{{ whatsAppLogs {{ {aliases} incident {{ id }} }} one: whatsAppLogs(limit: 1) {{ {aliases} }} }}"
    )["data"]

    assert list(data["whatsAppLogs"][0]) == [f"a{i}" for i in range(70)] + ["incident"]


def test_filters_sorts_and_pages_are_the_shared_ones(paths: Paths, factory: Factory, project: str) -> None:
    for i in range(12):
        factory.log(project, status=["Sent", "Failed", "Read"][i % 3], to_number=f"+44 {i % 5}",
                    from_number=None if i % 4 else f"+1 {i}", message_text=f"100% _done_ {i}",
                    whatsapp_cost_in_usd_cents=i % 4)  # fmt: skip
    factory.log(project, status="Sent", deleted_at=BASE_TIME)  # soft-deleted: never seen
    cases = [
        (
            'where: {messageText: {contains: "% _D"}}',
            "orderBy: [{fromNumber: ASC}, {whatsAppCostInUSDCents: DESC}]",
        ),
        ('where: {or: [{status: {eq: "Read"}}, {not: {fromNumber: {isNull: true}}}]}', "skip: 2, limit: 3"),
        (
            'where: {toNumber: {notIn: ["+44 1", "+44 2"]}, whatsAppCostInUSDCents: {gt: 0, lte: 2}}',
            "limit: 100",
        ),
        ('where: {id: {in: ["nope", "00000000-0000-0000-0000-000000000000"]}}', "limit: 100"),
        ("where: {}", "orderBy: [{status: DESC}, {toNumber: ASC}], skip: 10"),
    ]
    for where, page in cases:
        paths.same(f"{{ whatsAppLogs({where}, {page}) {{ id status }} whatsAppLogCount({where}) }}")


def test_variables_are_bound_parameters_never_sql_text(paths: Paths, factory: Factory, project: str) -> None:
    hostile = "'); DROP TABLE whatsapp_log; --"
    factory.log(project, message_text=hostile)
    factory.log(project, message_text="harmless")

    data = paths.same(
        "query($t: String) { whatsAppLogs(where: {messageText: {eq: $t}}) { messageText } }", {"t": hostile}
    )

    assert data["data"]["whatsAppLogs"] == [{"messageText": hostile}]
    assert all(hostile not in sql and "harmless" not in sql for sql in paths.execution.sql())


@pytest.mark.parametrize(
    "query",
    [
        "{ whatsAppLogs { id } __schema { queryType { name } } }",
        '{ whatsAppLogs { id } __type(name: "WhatsAppLog") { name } }',
    ],
    ids=["introspection", "type-introspection"],
)
def test_what_the_compiler_does_not_cover_is_answered_by_the_regular_path(
    paths: Paths, factory: Factory, project: str, query: str
) -> None:
    factory.logs(project, 3)

    body = paths.same_on_the_regular_path(query, {"all": False} if "$all" in query else None)

    assert "data" in body


@pytest.mark.parametrize(
    ("query", "variables", "code"),
    [
        ("{ whatsAppLogs(limit: 0) { id } }", None, "BAD_USER_INPUT"),
        ("{ whatsAppLogs(skip: -1) { id } whatsAppLogCount }", None, "BAD_USER_INPUT"),
        ("query($n: Int!) { whatsAppLogs(limit: $n) { id } }", {"n": "ten"}, "BAD_USER_INPUT"),
        ("query($n: Int!) { whatsAppLogs(limit: $n) { id } }", {}, "BAD_USER_INPUT"),
        (
            '{ whatsAppLogs(where: {whatsAppCostInUSDCents: {eq: "x"}}) { id } }',
            None,
            "GRAPHQL_VALIDATION_FAILED",
        ),
        ("{ whatsAppLogs { nope } }", None, "GRAPHQL_VALIDATION_FAILED"),
        ("{ whatsAppLogs(orderBy: [{status: ASC, createdAt: ASC}]) { id } }", None, None),
        (
            "{ whatsAppLogs(where: " + "{not: " * 12 + '{status: {eq: "x"}}' + "}" * 12 + ") { id } }",
            None,
            "QUERY_TOO_COMPLEX",
        ),
    ],
)
def test_refusals_are_the_regular_paths_word_for_word(
    paths: Paths,
    factory: Factory,
    project: str,
    query: str,
    variables: dict[str, Any] | None,
    code: str | None,
) -> None:
    factory.logs(project, 2)

    body = paths.same_on_the_regular_path(query, variables)

    assert body["errors"]
    if code is not None:
        assert body["errors"][0]["extensions"]["code"] == code


@pytest.mark.parametrize("key", ["", "wal_not-a-real-key-at-all-0000", "forbidden"])
def test_keys_are_refused_alike_on_both_paths_even_for_a_repeated_request(
    paths: Paths, factory: Factory, project: str, key: str
) -> None:
    factory.logs(project, 2)
    query = "{ whatsAppLogs { id } }"
    paths.same(query)  # now a repeated request may take the fast path
    if key == "forbidden":
        key = factory.api_key(project, ["ReadIncident"])

    body = paths.same_on_the_regular_path(query, key=key)

    assert body["errors"][0]["extensions"]["code"] in ("UNAUTHENTICATED", "FORBIDDEN")


def test_the_fast_path_keeps_the_cost_limit_for_other_variables(
    paths_with: Callable[..., Paths], factory: Factory
) -> None:
    paths = paths_with(max_cost=50)
    project = factory.project()
    factory.logs(project, 3)
    paths.compiled.key = paths.regular.key = factory.api_key(project)
    query = "query($n: Int!) { whatsAppLogs(limit: $n) { id incident { title } } }"
    paths.same(query, {"n": 10})
    paths.same(query, {"n": 10})

    body = paths.same_on_the_regular_path(query, {"n": 100})

    assert body["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"


def test_compiled_execution_false_forces_the_regular_path(settings: Settings) -> None:
    app = create_app(settings.with_(compiled_execution=False))

    assert app.state.compiled is None


def test_plans_and_statements_are_remembered_within_a_bound(
    paths_with: Callable[..., Paths], factory: Factory
) -> None:
    paths = paths_with(compiled_cache_size=2)
    project = factory.project()
    factory.logs(project, 3)
    paths.compiled.key = paths.regular.key = factory.api_key(project)

    for limit in range(1, 12):
        paths.same(f"{{ whatsAppLogs(limit: {limit}) {{ id }} }}")

    assert max(paths.execution.cache_sizes().values()) <= 2 * 4


def test_connection_pages_cursors_and_totals_match_in_both_directions(
    paths: Paths, factory: Factory, project: str
) -> None:
    incident = factory.related("incident", project, "Down")
    for i in range(9):
        factory.log(project, status=["Sent", "Read", "Ünï"][i % 3], from_number=None if i % 2 else f"+{i}",
                    incident_id=incident if i % 3 else None,
                    created_at=BASE_TIME + timedelta(minutes=i // 2, microseconds=i * 7))  # fmt: skip
    selection = (
        "__typename totalCount pageInfo { __typename hasNextPage hasPreviousPage startCursor endCursor } "
        "edges { __typename cursor node { id status incident { title } } } "
        "nodes { id fromNumber } n: nodes { createdAt }"
    )
    for order in ("", "orderBy: [{status: ASC}, {fromNumber: DESC}]", "orderBy: [{createdAt: ASC}]"):
        for direction, end in (("first", "endCursor"), ("last", "startCursor")):
            args = f'{direction}: 4, {order}, where: {{status: {{ne: "x"}}}}'
            page = paths.same(f"{{ whatsAppLogsConnection({args}) {{ {selection} }} }}")["data"][
                "whatsAppLogsConnection"
            ]
            seen = len(page["nodes"])
            while page["pageInfo"]["hasNextPage" if direction == "first" else "hasPreviousPage"]:
                cursor = page["pageInfo"][end]
                follow = f'{"after" if direction == "first" else "before"}: "{cursor}"'
                query = f"{{ whatsAppLogsConnection({args}, {follow}) {{ {selection} }} }}"
                page = paths.same(query)["data"]["whatsAppLogsConnection"]
                seen += len(page["nodes"])
            assert seen == 9 and page["totalCount"] == 9


def test_a_cursor_of_another_project_or_order_is_refused_alike(
    paths: Paths, factory: Factory, project: str
) -> None:
    factory.logs(project, 3)
    other = factory.project("Other")
    factory.logs(other, 3)
    other_key = factory.api_key(other)
    query = "query($a: String) { whatsAppLogsConnection(first: 1, after: $a) { pageInfo { endCursor } } }"
    cursor = paths.same(query, {"a": None})["data"]["whatsAppLogsConnection"]["pageInfo"]["endCursor"]
    paths.same(query, {"a": cursor})  # remembered now, for this project

    body = paths.same_on_the_regular_path(query, {"a": cursor}, key=other_key)
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    reordered = query.replace("first: 1", "first: 1, orderBy: [{status: ASC}]")
    assert (
        paths.same_on_the_regular_path(reordered, {"a": cursor})["errors"][0]["extensions"]["code"]
        == "BAD_USER_INPUT"
    )


def test_statistics_buckets_match_for_every_group_key(paths: Paths, factory: Factory, project: str) -> None:
    empty = "{ whatsAppLogStats { count totalCostInUSDCents } }"
    assert paths.same(empty)["data"] == {"whatsAppLogStats": []}  # no logs: no bucket, even ungrouped
    other = factory.project("Other")
    incidents = [factory.related("incident", project, "Ü"), factory.related("incident", other, "theirs")]
    team = factory.related("team", project, "Ops")
    for i in range(10):
        factory.log(project, status=["Sent", "Read"][i % 2], from_number=None if i % 3 else "+1",
                    incident_id=incidents[i % 2] if i % 4 else None, team_id=team if i % 5 else None,
                    whatsapp_cost_in_usd_cents=i,
                    created_at=BASE_TIME + timedelta(days=40 * (i % 3)))  # fmt: skip
    bucket = (
        "__typename status day month fromNumber toNumber incident { __typename id title createdAt } "
        "monitor { id } team { name } count totalCostInUSDCents minCostInUSDCents maxCostInUSDCents"
    )
    for group_by in ("[]", "[STATUS]", "[INCIDENT, DAY]", "[MONTH, FROM_NUMBER, TEAM, TO_NUMBER, MONITOR]"):
        for limit in (1, 1000):
            args = f'groupBy: {group_by}, limit: {limit}, where: {{status: {{ne: "x"}}}}'
            paths.same(f"{{ s: whatsAppLogStats({args}) {{ {bucket} }} }}")


def test_a_total_beyond_a_graphql_int_is_a_compiled_big_int(
    paths: Paths, factory: Factory, project: str
) -> None:
    factory.logs(project, 2, whatsapp_cost_in_usd_cents=2**31 - 1)

    body = paths.same("{ whatsAppLogStats { totalCostInUSDCents } }")

    assert body == {"data": {"whatsAppLogStats": [{"totalCostInUSDCents": 2 * (2**31 - 1)}]}}


def test_an_extension_the_fast_path_does_not_know_turns_it_off(settings: Settings) -> None:
    class Unknown(SchemaExtension):
        """Could do anything per request: the pipeline must run for every request."""

    app = create_app(settings)
    execution: CompiledExecution = app.state.compiled
    assert execution.fast_path

    schema = build_schema(settings)
    schema.extensions = (*schema.extensions, Unknown)
    assert not CompiledExecution(schema, app.state.services).fast_path


def test_get_requests_are_compiled_too(paths: Paths, factory: Factory, project: str) -> None:
    factory.logs(project, 3)
    query = "query($n: Int!) { whatsAppLogs(limit: $n) { id } }"
    params = {"query": query, "variables": json.dumps({"n": 2})}
    headers = {"ApiKey": paths.compiled.key or ""}

    compiled, regular = (
        p.client.get("/graphql", params=params, headers=headers) for p in (paths.compiled, paths.regular)
    )

    assert compiled.json() == regular.json() and len(compiled.json()["data"]["whatsAppLogs"]) == 2
    assert paths.execution.stats.compiled == 1


@pytest.mark.backends("sqlite")
def test_a_statement_slow_for_some_parameters_stays_on_the_event_loop_for_others(database_url: str) -> None:
    """SQLite statements past the loop's CPU budget move to a worker thread, remembered with their
    parameters: a page skipping 100,000 rows shares its SQL text with the first page, which is quick."""
    from graphql_api.compiler.driver import DriverStatement
    from graphql_api.compiler.runner import Elsewhere, SqliteRunner, sqlite_file

    path = sqlite_file(database_url)
    assert path is not None
    runner = SqliteRunner(path, pool_size=1, announce=lambda *_: None)  # type: ignore[arg-type]
    # Counts to ? by recursion: 100 million steps are far past a few milliseconds on any machine.
    sql = "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < ?) SELECT count(*) FROM c"

    def count_to(n: int) -> DriverStatement:
        return DriverStatement(sql=sql, params=(n,), project_slots=(), project_processor=None)

    async def run() -> None:
        with pytest.raises(Elsewhere):  # interrupted on the loop: the caller must use a thread
            await runner.values([count_to(100_000_000)], "project", on_loop_only=True)
        with pytest.raises(Elsewhere):  # remembered: not even tried on the loop again
            await runner.values([count_to(100_000_000)], "project", on_loop_only=True)
        assert await runner.values([count_to(10)], "project", on_loop_only=True) == [10]
        assert await runner.values([count_to(2_000_000)], "project") == [2_000_000]  # in a thread

    try:
        asyncio.run(run())
    finally:
        runner.close()
