"""Query limits: each one at its limit passes, one past it fails with QUERY_TOO_COMPLEX, and a refused
operation runs no SQL at all (not even the key lookup)."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import Lexer, Source, TokenKind

from tests.conftest import GraphQL, StatementCounter
from tests.factories import Factory

TOO_COMPLEX = "QUERY_TOO_COMPLEX"


@pytest.fixture
def keyed(gql: GraphQL, factory: Factory) -> GraphQL:
    project = factory.project()
    incident = factory.related("incident", project, "Outage")
    factory.logs(project, 3, incident_id=incident)
    gql.key = factory.api_key(project)
    return gql


def passes(gql: GraphQL, query: str, variables: dict[str, Any] | None = None) -> Any:
    return gql.data(query, variables)


def refused(
    gql: GraphQL, sql: StatementCounter, query: str, variables: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """The errors of a refused operation, after checking that it ran no SQL and says why by its code."""
    sql.reset()
    body = gql(query, variables)
    assert body.get("data") is None, body
    codes = [error["extensions"]["code"] for error in body["errors"]]
    assert TOO_COMPLEX in codes, body
    assert sql.count == 0, sql.statements
    return [error for error in body["errors"] if error["extensions"]["code"] == TOO_COMPLEX]


# --- depth --------------------------------------------------------------------------------------

DEPTH_2 = "{ whatsAppLogs { incident { title } } }"
DEPTH_2_BY_FRAGMENTS = """
{ ...Logs }
fragment Logs on Query { whatsAppLogs { ...Related } }
fragment Related on WhatsAppLog { incident { title } }
"""


@pytest.mark.parametrize("overrides", [{"max_depth": 2}])
@pytest.mark.parametrize("query", [DEPTH_2, DEPTH_2_BY_FRAGMENTS], ids=["inline", "fragments"])
def test_a_query_as_deep_as_the_depth_limit_runs(keyed: GraphQL, query: str) -> None:
    assert passes(keyed, query)["whatsAppLogs"][0]["incident"] == {"title": "Outage"}


@pytest.mark.parametrize("overrides", [{"max_depth": 1}])
@pytest.mark.parametrize("query", [DEPTH_2, DEPTH_2_BY_FRAGMENTS], ids=["inline", "fragments"])
def test_a_query_one_level_deeper_than_the_limit_is_refused(
    keyed: GraphQL, sql_statements: StatementCounter, query: str
) -> None:
    [error] = refused(keyed, sql_statements, query)
    assert error["message"] == "The operation nests 2 levels deep; at most 1 are allowed."


def test_the_default_depth_limit_is_eight(keyed: GraphQL, sql_statements: StatementCounter) -> None:
    # No valid query of this schema nests past 2; the limit guards the validator and the parser.
    nested = "{ a " * 8 + "{ b }" + " }" * 8
    [error] = refused(keyed, sql_statements, "{ whatsAppLogs " + nested + " }")
    assert "9 levels deep; at most 8" in error["message"]


# --- aliases --------------------------------------------------------------------------------------


def _aliased(count: int) -> str:
    return "{ whatsAppLogs { " + " ".join(f"a{i}: id" for i in range(count)) + " } }"


def _aliased_by_spreads(spreads: int) -> str:
    # Two aliases in a fragment spread `spreads` times: each spread counts its own.
    return "{ whatsAppLogs { " + "...Two " * spreads + "} } fragment Two on WhatsAppLog { a: id b: status }"


def test_thirty_aliases_are_allowed(keyed: GraphQL) -> None:
    assert len(passes(keyed, _aliased(30))["whatsAppLogs"][0]) == 30
    assert passes(keyed, _aliased_by_spreads(15))["whatsAppLogs"][0]["b"] == "Sent"


@pytest.mark.parametrize("query", [_aliased(31), _aliased_by_spreads(16)], ids=["inline", "fragment-spreads"])
def test_the_thirty_first_alias_is_refused(
    keyed: GraphQL, sql_statements: StatementCounter, query: str
) -> None:
    [error] = refused(keyed, sql_statements, query)
    assert "uses 31 aliases" in error["message"] or "uses 32 aliases" in error["message"]


def test_fragments_spread_into_each_other_are_counted_per_spread_without_expanding_them(
    keyed: GraphQL, sql_statements: StatementCounter
) -> None:
    # 2**40 spreads of the last fragment. Walking every spread (as Strawberry's limiters do) would take
    # days; counting each fragment once answers at once.
    levels = 40
    query = "{ ...F0 } " + " ".join(
        f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels)
    )
    query += f" fragment F{levels} on Query {{ n: whatsAppLogCount }}"
    messages = [error["message"] for error in refused(keyed, sql_statements, query)]
    assert f"uses {2**levels} aliases" in messages[0]
    assert f"asks for {2**levels} root fields" in messages[1]


def test_a_cycle_of_fragments_is_refused_without_running(
    keyed: GraphQL, sql_statements: StatementCounter
) -> None:
    sql_statements.reset()
    body = keyed("{ ...A } fragment A on Query { whatsAppLogCount ...B } fragment B on Query { ...A }")
    assert body["data"] is None
    assert {e["extensions"]["code"] for e in body["errors"]} == {"GRAPHQL_VALIDATION_FAILED"}
    assert "Cannot spread fragment 'A' within itself" in body["errors"][0]["message"]
    assert sql_statements.count == 0


# --- root fields -----------------------------------------------------------------------------------


def _root_fields(count: int) -> str:
    return "{ " + " ".join(f"c{i}: whatsAppLogCount" for i in range(count)) + " }"


def test_ten_root_fields_are_allowed(keyed: GraphQL) -> None:
    assert set(passes(keyed, _root_fields(10)).values()) == {3}


@pytest.mark.parametrize(
    "query",
    [_root_fields(11), "{ ...Six ...Six } fragment Six on Query { " + _root_fields(6)[2:-2] + " }"],
    ids=["inline", "fragment-spread-twice"],
)
def test_the_eleventh_root_field_is_refused(
    keyed: GraphQL, sql_statements: StatementCounter, query: str
) -> None:
    [error] = refused(keyed, sql_statements, query)
    assert "root fields; at most 10 are allowed" in error["message"]


# --- tokens ----------------------------------------------------------------------------------------


def _tokens(query: str) -> int:
    lexer = Lexer(Source(query))
    count = 0
    while lexer.advance().kind != TokenKind.EOF:
        count += 1
    return count


def _with_tokens(count: int) -> str:
    """A valid query of exactly `count` tokens, within every other limit: an `or` of `in` conditions
    over distinct values (10 tokens each, plus one per value)."""
    base = "{ whatsAppLogCount(where: {or: [%s]}) }"
    remaining = count - _tokens(base % "")
    conditions, value = [], 0
    while remaining > 0:
        values = min(400, remaining - 10)
        strings = " ".join(f'"s{value + i}"' for i in range(values))
        conditions.append(f"{{status: {{in: [{strings}]}}}}")
        value += values
        remaining -= 10 + values
    query = base % ", ".join(conditions)
    assert _tokens(query) == count
    return query


def test_a_query_of_two_thousand_tokens_runs(keyed: GraphQL) -> None:
    assert passes(keyed, _with_tokens(2000))["whatsAppLogCount"] == 0


def test_a_query_of_two_thousand_and_one_tokens_is_refused(
    keyed: GraphQL, sql_statements: StatementCounter
) -> None:
    [error] = refused(keyed, sql_statements, _with_tokens(2001))
    assert "more than 2000 tokens" in error["message"]


# --- cost -------------------------------------------------------------------------------------------

RELATIONS_4 = "incident { title } project { name } monitor { name } team { name }"
# Ten pages of 100 logs with four related objects each: 10 * (100 + 100 * 4) = 5000.
COST_5000 = (
    "query($n: Int!) { "
    + " ".join(f"p{i}: whatsAppLogs(limit: $n) {{ id {RELATIONS_4} }}" for i in range(10))
    + " }"
)


def test_a_query_costing_exactly_the_limit_runs(keyed: GraphQL) -> None:
    data = passes(keyed, COST_5000, {"n": 100})
    assert len(data["p9"]) == 3


@pytest.mark.parametrize(
    ("query", "variables", "cost"),
    [
        (COST_5000.replace("team { name }", "team { name } alert { title }", 1), {"n": 100}, 5100),
        (
            "{ a: whatsAppLogStats(limit: 3000) { count } b: whatsAppLogStats(limit: 2001) { count } }",
            None,
            5001,
        ),
        ("query($n: Int!) { whatsAppLogStats(limit: $n) { count } }", {"n": 5001}, 5001),
        (
            "query($n: Int = 100) { "
            + " ".join(
                f"c{i}: whatsAppLogsConnection(first: $n) {{ edges {{ node {{ id {RELATIONS_4} }} }} }}"
                for i in range(10)
            )
            + " }",
            None,
            10 * (1 + 100 * 6),  # each connection, then per edge: the edge, its node and four relations
        ),
    ],
    ids=["one-more-relation", "literal-limits", "limit-from-variables", "connection-default-variable"],
)
def test_a_query_costing_more_is_refused_before_anything_runs(
    keyed: GraphQL, sql_statements: StatementCounter, query: str, variables: dict[str, Any] | None, cost: int
) -> None:
    [error] = refused(keyed, sql_statements, query, variables)
    assert error["message"].startswith(f"The operation would cost {cost}; at most 5000 is allowed.")


def test_the_operation_that_runs_is_the_one_measured(
    keyed: GraphQL, sql_statements: StatementCounter
) -> None:
    document = (
        "query Cheap { whatsAppLogCount } "
        "query Costly($n: Int! = 100) { "
        + " ".join(
            f"p{i}: whatsAppLogs(limit: $n) {{ id {RELATIONS_4} alert {{ title }} }}" for i in range(10)
        )
        + " }"
    )
    sql_statements.reset()
    costly = keyed.client.post(
        "/graphql", json={"query": document, "operationName": "Costly"}, headers={"ApiKey": keyed.key or ""}
    )
    assert costly.json()["errors"][0]["message"].startswith("The operation would cost 6000")
    assert sql_statements.count == 0
    cheap = keyed.client.post(
        "/graphql", json={"query": document, "operationName": "Cheap"}, headers={"ApiKey": keyed.key or ""}
    )
    assert cheap.json() == {"data": {"whatsAppLogCount": 3}}


@pytest.mark.parametrize("overrides", [{"max_cost": 302}])
def test_a_connection_costs_itself_its_page_info_and_its_page(
    keyed: GraphQL, sql_statements: StatementCounter
) -> None:
    query = (
        "query($n: Int) { whatsAppLogsConnection(first: $n) { "
        "pageInfo { hasNextPage } edges { node { id incident { title } } } } }"
    )
    # 1 (the connection) + 1 (pageInfo) + 100 edges * (1 + 1 node + 1 incident)
    assert passes(keyed, query, {"n": 100})["whatsAppLogsConnection"]["edges"]
    [error] = refused(
        keyed,
        sql_statements,
        query.replace("pageInfo { hasNextPage }", "pageInfo { hasNextPage } p2: pageInfo { hasNextPage }"),
        {"n": 100},
    )
    assert "would cost 303" in error["message"]


# --- filter nesting ----------------------------------------------------------------------------------


def _nots(levels: int) -> dict[str, Any]:
    where: dict[str, Any] = {"status": {"eq": "Sent"}}
    for _ in range(levels):
        where = {"not": where}
    return where


def _literal(where: dict[str, Any]) -> str:
    if isinstance(where, dict):
        return "{" + ", ".join(f"{k}: {_literal(v)}" for k, v in where.items()) + "}"
    if isinstance(where, list):
        return "[" + ", ".join(_literal(v) for v in where) + "]"
    return f'"{where}"'


def _ands(levels: int) -> dict[str, Any]:
    where: dict[str, Any] = {"status": {"eq": "Sent"}}
    for _ in range(levels):
        where = {"and": [where]}
    return where


BY_VARIABLE = "query($w: WhatsAppLogFilter) { whatsAppLogCount(where: $w) }"


@pytest.mark.parametrize("nest", [_nots, _ands], ids=["not", "and"])
def test_filters_nested_ten_levels_deep_run(keyed: GraphQL, nest: Any) -> None:
    expected = 3  # every log is "Sent"; ten `not`s cancel out
    assert passes(keyed, BY_VARIABLE, {"w": nest(10)})["whatsAppLogCount"] == expected
    assert (
        passes(keyed, "{ whatsAppLogCount(where: " + _literal(nest(10)) + ") }")["whatsAppLogCount"]
        == expected
    )


@pytest.mark.parametrize("nest", [_nots, _ands], ids=["not", "and"])
def test_filters_nested_eleven_levels_deep_are_refused(
    keyed: GraphQL, sql_statements: StatementCounter, nest: Any
) -> None:
    for query, variables in [
        (BY_VARIABLE, {"w": nest(11)}),
        ("{ whatsAppLogCount(where: " + _literal(nest(11)) + ") }", None),
        # Also when only one of several root fields is too deep: nothing runs.
        ("query($w: WhatsAppLogFilter) { whatsAppLogs { id } whatsAppLogCount(where: $w) }", {"w": nest(11)}),
    ]:
        [error] = refused(keyed, sql_statements, query, variables)
        assert error["message"] == (
            "Filters may nest `and`/`or`/`not` at most 10 levels deep (this one nests 11)."
        )


@pytest.mark.parametrize(
    "overrides",
    [{}, {"max_tokens": 100_000, "max_body_bytes": 1_000_000}],
    ids=["default", "past-token-limit"],
)
def test_a_literal_nested_ten_thousand_deep_is_refused_not_a_crash(
    keyed: GraphQL, sql_statements: StatementCounter, overrides: dict[str, Any]
) -> None:
    literal = "{not: " * 10_000 + "{}" + "}" * 10_000
    sql_statements.reset()
    response = keyed.client.post(
        "/graphql",
        json={"query": "{ whatsAppLogCount(where: " + literal + ") }"},
        headers={"ApiKey": keyed.key or ""},
    )
    if not overrides:
        # 60 KB of `{not: ` is past the 64 KiB body limit with its closing braces.
        assert response.status_code == 413
        return
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == TOO_COMPLEX
    assert "nested too deeply" in error["message"]
    assert sql_statements.count == 0


@pytest.mark.parametrize("overrides", [{"max_body_bytes": 1_000_000}])
@pytest.mark.parametrize("levels", [150, 500, 10_000])
def test_variables_nested_thousands_deep_are_refused_not_a_crash(
    keyed: GraphQL, sql_statements: StatementCounter, levels: int
) -> None:
    sql_statements.reset()
    variables = '{"w": ' + '{"not": ' * levels + '{"status": {"eq": "Sent"}}' + "}" * levels + "}"
    response = keyed.client.post(
        "/graphql",
        content=f'{{"query": "{BY_VARIABLE}", "variables": {variables}}}',
        headers={"ApiKey": keyed.key or "", "Content-Type": "application/json"},
    )
    body = response.json()
    if response.status_code == 400:  # past what the JSON decoder nests
        assert body["errors"][0]["message"] == "Malformed JSON: nested too deeply."
    else:
        assert [e["extensions"]["code"] for e in body["errors"]] == [TOO_COMPLEX]
    assert sql_statements.count == 0


# --- batching ----------------------------------------------------------------------------------------


def test_batches_are_refused_unless_enabled(keyed: GraphQL) -> None:
    response = keyed.client.post(
        "/graphql", json=[{"query": "{ whatsAppLogCount }"}], headers={"ApiKey": keyed.key or ""}
    )
    assert response.status_code == 400
    assert response.json() == {
        "errors": [{"message": "Batching is not enabled.", "extensions": {"code": "BAD_USER_INPUT"}}]
    }


@pytest.mark.parametrize("overrides", [{"allow_batching": True, "max_batch_size": 2}])
def test_enabled_batches_are_capped(keyed: GraphQL) -> None:
    headers = {"ApiKey": keyed.key or ""}
    two = keyed.client.post("/graphql", json=[{"query": "{ whatsAppLogCount }"}] * 2, headers=headers)
    assert two.status_code == 200
    assert two.json() == [{"data": {"whatsAppLogCount": 3}}] * 2

    three = keyed.client.post("/graphql", json=[{"query": "{ whatsAppLogCount }"}] * 3, headers=headers)
    assert three.status_code == 400
    assert three.json()["errors"][0]["message"] == "Too many operations."


@pytest.mark.parametrize("overrides", [{"allow_batching": True, "max_batch_size": 2, "max_root_fields": 1}])
def test_every_operation_of_a_batch_has_the_limits_of_a_request(keyed: GraphQL) -> None:
    batch = [{"query": "{ whatsAppLogCount }"}, {"query": "{ a: whatsAppLogCount b: whatsAppLogCount }"}]
    first, second = keyed.client.post("/graphql", json=batch, headers={"ApiKey": keyed.key or ""}).json()
    assert first == {"data": {"whatsAppLogCount": 3}}
    assert second["errors"][0]["extensions"]["code"] == TOO_COMPLEX


def test_introspection_nested_deep_is_refused(keyed: GraphQL) -> None:
    # Introspection is free of the depth and cost limits, and bounded by graphql-core's own rule instead.
    nested = "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }"
    body = keyed(nested)
    assert body["data"] is None
    assert body["errors"][0]["message"] == "Maximum introspection depth exceeded"
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert keyed.data("{ __schema { types { name fields { name type { name } } } } }")["__schema"]["types"]
