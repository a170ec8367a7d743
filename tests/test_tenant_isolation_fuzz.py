"""Tenant isolation by property-based fuzzing: whatever project B's key asks, no answer carries a trace of
project A.

Project A's text fields and related records all contain the canary `CANARYA`; its ids are known. B's
data looks alike, and one of B's logs even points at A's incident, monitor, team and the rest (a
dangling cross-tenant link). Hypothesis generates filters (with A's ids and strings as operands),
sorts, pages, cursors and nested selections as variables of hand-written operations; hypothesis-graphql
generates whole queries from the schema; a third generator speaks the REST wire format; a fourth sends
the first one's operations with their selections spread through fragment chains that fan out, inline
fragments and duplicate fields. Strings (GraphQL and REST) include control characters, U+0000 and lone
surrogates. `data` must never contain a canary or an A id; errors may only repeat what the request
itself sent; nothing is ever INTERNAL or a 500.

FUZZ_EXAMPLES (default 200) sets the examples per generator (half that for invalid queries); the count
of requests sent is printed at the end of the run (with how many answered with B's own logs, which is
expected, and with A's, which fails the test), and recorded as the test's `generated_requests`
property. A failure is reported with the example that failed, unminimised unless FUZZ_SHRINK=1
(tests/fuzz_strategies.py).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import pytest
from graphql import GraphQLEnumType, GraphQLObjectType, get_named_type, is_leaf_type, print_ast
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, nodes
from hypothesis_graphql import queries as schema_queries
from starlette.testclient import TestClient

from graphql_api.data.fields import FIELDS, RELATIONS, SORTABLE, Field
from graphql_api.data.kinds import DATETIME, ID, INT, STRING, Kind
from graphql_api.schema import build_schema
from tests.conftest import report
from tests.factories import Factory, text_for, unnamed_values
from tests.fuzz_strategies import PHASES, awkward, through_fragments
from tests.ws_client import connect

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "200"))
CANARY = "CANARYA"
SCHEMA = build_schema()._schema
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    phases=PHASES,
    report_multiple_bugs=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


@dataclass
class Tenant:
    project: str
    key: str
    ids: set[str] = field(default_factory=set)
    strings: list[str] = field(default_factory=list)
    # foreign key column -> the id of this project's record of that relation
    related: dict[str, str] = field(default_factory=dict)


def _seed(factory: Factory, tag: str, *, links_to: Tenant | None = None) -> Tenant:
    project = factory.project(f"{tag} project")
    tenant = Tenant(project, factory.api_key(project), {project})
    tenant.related = {
        relation.fk_column.key: factory.related(name, project, f"{tag} {name}")
        for name, relation in RELATIONS.items()
    }
    tenant.ids |= set(tenant.related.values())
    for i in range(6):
        # Every text field carries the tag (A's the canary); some of the nullable ones are null.
        texts = {f.attribute: _text(f, tag, i) for f in STRING_FIELDS}
        tenant.strings += [t for t in texts.values() if t]
        fields = {
            **unnamed_values(i, texts, nulls=False),
            **texts,
            "whatsapp_cost_in_usd_cents": i * 7,
            **(tenant.related if i % 2 == 0 else {}),
        }
        tenant.ids.add(factory.log(project, **fields))
    if links_to is not None:
        # A log of this project that points at the other project's records, which must stay invisible
        # (users belong to no project: the platform shares them, so they are left out).
        links = {
            r.fk_column.key: links_to.related[r.fk_column.key] for r in RELATIONS.values() if r.project_scoped
        }
        tenant.ids.add(factory.log(project, status=f"{tag} Linked", **links))
    return tenant


STRING_FIELDS = [f for f in FIELDS.values() if f.kind is STRING]
# Texts that some fields hold in the platform's shape; any other text field holds "<tag> <field> <i>".
_TEXTS: dict[str, Callable[[str, int], str | None]] = {
    "toNumber": lambda tag, i: f"+1-{tag}-{i}",
    "fromNumber": lambda tag, i: f"+44-{tag}" if i % 2 else None,
    "messageText": lambda tag, i: f"{tag} message {i}: 100% _done_",
    "statusMessage": lambda tag, i: f"{tag} status message" if i % 3 else None,
    "whatsAppMessageId": lambda tag, i: f"wamid.{tag}.{i}",
    "status": lambda tag, i: f"{tag} {['Sent', 'Delivered', 'Failed'][i % 3]}",
}


def _text(f: Field, tag: str, i: int) -> str | None:
    """The i-th log's value of text field `f`, holding `tag`; null for every third log if nullable."""
    if f.name in _TEXTS:
        text = _TEXTS[f.name](tag, i)
    else:
        text = None if f.nullable and i % 3 == 0 else f"{tag} {f.name} {i}"
    return None if text is None else text_for(f, text)


@pytest.fixture
def tenants(factory: Factory) -> tuple[Tenant, Tenant]:
    """Project A (the canaries) and project B (the key every request uses)."""
    a = _seed(factory, CANARY)
    b = _seed(factory, "bravo", links_to=a)
    return a, b


@dataclass
class Probe:
    """Sends requests with B's key and checks each answer for traces of A."""

    client: TestClient
    a: Tenant
    b: Tenant
    sent: int = 0
    answered_with_own_data: int = 0
    answered_with_a_data: int = 0

    def leaks(self, request_text: str, response_text: str, data: Any) -> list[str]:
        # B's linked log stores the ids of A's records in its own columns (`incidentId`...): those ids
        # are B's data. What they point at is not, and carries the canary.
        secrets = (CANARY, *(self.a.ids - set(self.a.related.values())))
        data_text = json.dumps(data)
        found = [s for s in secrets if s in data_text]
        # Error messages may quote the request; anything else of A's in them is a leak.
        found += [s for s in secrets if s in response_text and s not in request_text]
        return found

    def _leaked(self, request_text: str, response_text: str, data: Any) -> list[str]:
        found = self.leaks(request_text, response_text, data)
        self.answered_with_a_data += bool(found)
        return found

    def _count_own_data(self, data: Any) -> None:
        """Counts answers that show B's own logs (the key's project): expected, and proof that the
        generated requests reach data at all."""
        data_text = json.dumps(data)
        if "bravo" in data_text or any(b_id in data_text for b_id in self.b.ids):
            self.answered_with_own_data += 1

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        payload = json.dumps({"query": query, "variables": variables})
        response = self.client.post(
            "/graphql", content=payload, headers={"ApiKey": self.b.key, "Content-Type": "application/json"}
        )
        self.sent += 1
        assert response.status_code < 500, _why(query, variables, response.text)
        body: dict[str, Any] = response.json()
        assert not self._leaked(payload, response.text, body.get("data")), _why(
            query, variables, response.text
        )
        codes = {e.get("extensions", {}).get("code") for e in body.get("errors") or ()}
        assert "INTERNAL" not in codes, _why(query, variables, response.text)
        self._count_own_data(body.get("data"))
        return body

    def rest(self, path: str, body: dict[str, Any]) -> None:
        payload = json.dumps(body)  # ASCII: lone surrogates as "\\ud800"
        response = self.client.post(
            # A lone surrogate in an id goes as the bytes a client would send (invalid UTF-8).
            f"/api/whatsapp-log/{quote(path, safe='/', errors='surrogatepass')}",
            content=payload,
            headers={"ApiKey": self.b.key, "Content-Type": "application/json"},
        )
        self.sent += 1
        assert response.status_code != 500, _why(path, body, response.text)
        data = response.json() if response.status_code == 200 else None
        assert not self._leaked(payload + path, response.text, data), _why(path, body, response.text)
        self._count_own_data(data)


def _why(*parts: Any) -> str:
    """An assertion message that pytest shows whole (a tuple's repr is cut short), escapes included."""
    return "\n".join(ascii(part) for part in parts)


def summary(test: str, sent: int, own: int, leaked: int) -> str:
    """The line a fuzz test prints: answers with B's own logs are the expected ones (counted to show that
    the requests reach data); any with A's fails the test, and is counted apart."""
    return (
        f"{test}: {sent} generated requests with project B's key; {own} answered with B's own data "
        f"(expected), {leaked} with project A's"
    )


def test_the_summary_line_cannot_be_read_as_a_leak() -> None:
    line = summary("test_x", 200, 50, 0)

    assert line == (
        "test_x: 200 generated requests with project B's key; 50 answered with B's own data (expected), "
        "0 with project A's"
    )
    assert "showed" not in line
    assert summary("test_x", 200, 50, 1).endswith(", 1 with project A's")


@pytest.fixture
def probe(
    client: TestClient, tenants: tuple[Tenant, Tenant], request: pytest.FixtureRequest
) -> Iterator[Probe]:
    a, b = tenants
    probe = Probe(client, a, b)
    # The harness itself: B's key sees B's logs, and the detector sees them too.
    baseline = probe.graphql("{ whatsAppLogs(limit: 100) { id status incident { title } } }")
    assert len(baseline["data"]["whatsAppLogs"]) == 7 and probe.answered_with_own_data == 1
    probe.sent = probe.answered_with_own_data = 0
    yield probe
    line = summary(request.node.name, probe.sent, probe.answered_with_own_data, probe.answered_with_a_data)
    request.node.user_properties.append(("generated_requests", probe.sent))
    report(request.node, f"tenant fuzz: {line}")


# --- values: A's and B's own ids and strings, and arbitrary ones -----------------------------------------


def _ids(a: Tenant, b: Tenant) -> st.SearchStrategy[str]:
    known = sorted(a.ids | b.ids)
    return st.one_of(st.sampled_from(known), st.uuids().map(str), st.text(max_size=40), awkward(known))


def _strings(a: Tenant, b: Tenant) -> st.SearchStrategy[str]:
    known = sorted(set(a.strings + b.strings))
    pieces = st.sampled_from(known).flatmap(
        lambda s: st.tuples(st.integers(0, len(s)), st.integers(0, len(s))).map(
            lambda ij: s[min(ij) : max(ij)]
        )
    )
    return st.one_of(
        st.sampled_from(known),
        pieces,
        st.sampled_from([CANARY, "%", "_", "\\", "", "bravo"]),
        st.text(max_size=20),
        # Control characters, U+0000, lone surrogates: alone or inside A's and B's strings.
        awkward(known),
    )


MOMENTS = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 1, 1), timezones=st.just(UTC))


def _operand(filter_type: str, a: Tenant, b: Tenant) -> st.SearchStrategy[Any]:
    return {
        "IDFilter": _ids(a, b),
        "StringFilter": _strings(a, b),
        "IntFilter": st.integers(-(2**31), 2**31 - 1) | st.integers(-5, 50),
        "DateTimeFilter": MOMENTS.map(datetime.isoformat),
    }[filter_type]


def filters(a: Tenant, b: Tenant) -> st.SearchStrategy[dict[str, Any]]:
    """WhatsAppLogFilter values, built from the schema's filter inputs."""
    filter_type = SCHEMA.type_map["WhatsAppLogFilter"]
    leaves: list[st.SearchStrategy[dict[str, Any]]] = []
    for name, input_field in filter_type.fields.items():  # type: ignore[attr-defined]
        operators = get_named_type(input_field.type)
        if name in ("and", "or", "not"):
            continue
        if isinstance(operators, GraphQLEnumType):  # `statusIn: [FAILED, …]`
            names = st.lists(st.sampled_from(sorted(operators.values)), max_size=4)
            leaves.append(names.map(lambda v, n=name: {n: v}))
            continue
        operand = _operand(operators.name, a, b)
        for op in operators.fields:  # type: ignore[attr-defined]
            value = (
                st.booleans()
                if op == "isNull"
                else st.lists(operand, max_size=4)
                if op in ("in", "notIn")
                else operand
            )
            leaves.append(value.map(lambda v, n=name, o=op: {n: {o: v}}))
    leaf = st.one_of(*leaves)
    return st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3).map(lambda parts: {"and": parts}),
            st.lists(inner, max_size=3).map(lambda parts: {"or": parts}),
            inner.map(lambda part: {"not": part}),
            st.tuples(inner, inner).map(lambda pair: {**pair[0], **pair[1]}),
        ),
        max_leaves=8,
    )


ORDER = st.lists(
    st.tuples(
        st.sampled_from(sorted(SCHEMA.type_map["WhatsAppLogOrderBy"].fields)),
        st.sampled_from(["ASC", "DESC"]),
    ).map(  # type: ignore[attr-defined]
        lambda key: {key[0]: key[1]}
    ),
    max_size=3,
)


def selection(type_name: str, depth: int = 0) -> st.SearchStrategy[str]:
    """A selection set of `type_name`: some of its fields, objects with selections of their own."""
    object_type = SCHEMA.type_map[type_name]
    assert isinstance(object_type, GraphQLObjectType)
    choices: list[st.SearchStrategy[str]] = []
    for name, object_field in object_type.fields.items():
        named = get_named_type(object_field.type)
        if is_leaf_type(named):
            choices.append(st.just(name))
        elif depth < 3 and not any(
            arg.type.__class__.__name__ == "GraphQLNonNull" for arg in object_field.args.values()
        ):
            choices.append(selection(named.name, depth + 1).map(lambda inner, n=name: f"{n} {{ {inner} }}"))
    return st.lists(st.one_of(*choices), min_size=1, max_size=8, unique=True).map(" ".join)


def plain(type_name: str) -> st.SearchStrategy[tuple[str, str]]:
    """A selection of `type_name`, with no fragment definitions."""
    return selection(type_name).map(lambda text: (text, ""))


def fragmented(type_name: str) -> st.SearchStrategy[tuple[str, str]]:
    """A few selections of `type_name` merged, through fragment chains that fan out, inline fragments
    or duplicates (tests/fuzz_strategies.py), and the fragment definitions they need."""
    return st.lists(selection(type_name), min_size=1, max_size=3).flatmap(
        lambda parts: through_fragments(type_name, parts)
    )


def operations(
    a: Tenant, b: Tenant, selections: Callable[[str], st.SearchStrategy[tuple[str, str]]] = plain
) -> st.SearchStrategy[tuple[str, dict[str, Any]]]:
    where = st.none() | filters(a, b)
    logs = st.builds(
        lambda sel, w, o, s, n: (
            "query($w: WhatsAppLogFilter, $o: [WhatsAppLogOrderBy!], $s: Int!, $n: Int!) "
            f"{{ whatsAppLogs(where: $w, orderBy: $o, skip: $s, limit: $n) {{ {sel[0]} }} "
            f"whatsAppLogCount(where: $w) }}{sel[1]}",
            {"w": w, "o": o, "s": s, "n": n},
        ),
        selections("WhatsAppLog"), where, ORDER, st.integers(0, 20), st.integers(1, 100),
    )  # fmt: skip
    one = st.builds(
        lambda sel, i: (f"query($i: ID!) {{ whatsAppLog(id: $i) {{ {sel[0]} }} }}{sel[1]}", {"i": i}),
        selections("WhatsAppLog"), _ids(a, b),
    )  # fmt: skip
    connection = st.builds(
        lambda sel, w, o, n, after: (
            "query($w: WhatsAppLogFilter, $o: [WhatsAppLogOrderBy!], $n: Int, $after: String) "
            f"{{ whatsAppLogsConnection(where: $w, orderBy: $o, first: $n, after: $after) {{ {sel[0]} "
            f"pageInfo {{ endCursor hasNextPage }} }} }}{sel[1]}",
            {"w": w, "o": o, "n": n, "after": after},
        ),
        selections("WhatsAppLogConnection"), where, ORDER, st.integers(1, 5),
        st.none() | st.text(max_size=60),
    )  # fmt: skip
    group_by = st.lists(
        st.sampled_from(sorted(SCHEMA.type_map["WhatsAppLogGroupBy"].values)),  # type: ignore[attr-defined]
        max_size=3,
        unique=True,
    )
    stats = st.builds(
        lambda sel, w, g: (
            "query($w: WhatsAppLogFilter, $g: [WhatsAppLogGroupBy!]) "
            f"{{ whatsAppLogStats(where: $w, groupBy: $g, limit: 100) {{ {sel[0]} }} }}{sel[1]}",
            {"w": w, "g": g},
        ),
        selections("WhatsAppLogStatsBucket"), where, group_by,
    )  # fmt: skip
    return st.one_of(logs, one, connection, stats)


def _ask(probe: Probe, operation: tuple[str, dict[str, Any]]) -> None:
    query, variables = operation
    body = probe.graphql(query, variables)
    # Follow the connection's next cursor too: a cursor must not lead across projects either.
    connection = (body.get("data") or {}).get("whatsAppLogsConnection") or {}
    cursor = connection.get("pageInfo", {}).get("endCursor")
    if cursor:
        probe.graphql(query, {**variables, "after": cursor})


def test_generated_filters_sorts_pages_and_selections_never_show_another_projects_data(probe: Probe) -> None:
    generated = operations(probe.a, probe.b)

    @FUZZ
    @given(generated)
    def run(operation: tuple[str, dict[str, Any]]) -> None:
        _ask(probe, operation)

    run()


def test_selections_through_fragment_fan_out_and_duplicates_never_show_another_projects_data(
    probe: Probe,
) -> None:
    generated = operations(probe.a, probe.b, fragmented)

    @settings(FUZZ, max_examples=max(1, EXAMPLES // 2))
    @given(generated)
    def run(operation: tuple[str, dict[str, Any]]) -> None:
        _ask(probe, operation)

    run()


def _schema_queries(a: Tenant, b: Tenant) -> st.SearchStrategy[str]:
    strings = _strings(a, b).map(nodes.String)
    # One root field per query: a failing non-null root field nulls all of `data`.
    return st.sampled_from(sorted(SCHEMA.query_type.fields)).flatmap(  # type: ignore[union-attr]
        lambda root: schema_queries(
            SCHEMA,
            fields=[root],
            custom_scalars={
                "ID": _ids(a, b).map(nodes.String),
                "String": strings,
                "Phone": strings,
                "DateTime": MOMENTS.map(lambda moment: nodes.String(moment.isoformat())),
                # Mostly pages that fit B's seven logs (skip, limit, first, last), sometimes anything at all.
                "Int": st.one_of(
                    st.integers(0, 8), st.integers(1, 100), st.integers(-(2**31), 2**31 - 1)
                ).map(nodes.Int),
            },
            print_ast=print_ast,
        )
    )


def test_schema_generated_queries_never_show_another_projects_data(probe: Probe) -> None:
    generated = _schema_queries(probe.a, probe.b)

    @FUZZ
    @given(generated)
    def run(query: str) -> None:
        probe.graphql(query)

    run()


def test_schema_generated_invalid_queries_get_coded_errors_never_a_500(probe: Probe) -> None:
    generated = schema_queries(SCHEMA, mode=Mode.NEGATIVE, print_ast=print_ast, custom_scalars={
        "DateTime": MOMENTS.map(lambda moment: nodes.String(moment.isoformat())),
        "Phone": st.text(max_size=30).map(nodes.String),
    })  # fmt: skip

    @settings(FUZZ, max_examples=max(1, EXAMPLES // 2))
    @given(generated)
    def run(query: str) -> None:
        body = probe.graphql(query)
        assert body.get("errors"), query
        assert all(re.fullmatch(r"[A-Z_]+", e["extensions"]["code"]) for e in body["errors"])

    run()


# --- the REST wire format ----------------------------------------------------------------------------------

# A REST field's values, by the field's kind.
_REST_VALUES: dict[Kind, Callable[[Tenant, Tenant], st.SearchStrategy[Any]]] = {
    ID: _ids,
    STRING: _strings,
    INT: lambda a, b: st.integers(-5, 50),
    DATETIME: lambda a, b: MOMENTS.map(datetime.isoformat) | _strings(a, b),
}
_REST_FIELDS = {f.rest_name: _REST_VALUES[f.kind] for f in FIELDS.values()}
_REST_OPERATORS = [
    "EqualTo",
    "NotEqual",
    "Search",
    "StartsWith",
    "EndsWith",
    "GreaterThan",
    "LessThan",
    "IsNull",
    "NotNull",
]


def rest_bodies(a: Tenant, b: Tenant) -> st.SearchStrategy[tuple[str, dict[str, Any]]]:
    def condition(name: str) -> st.SearchStrategy[Any]:
        value = _REST_FIELDS[name](a, b)
        return st.one_of(
            value,
            st.lists(value, max_size=3),
            st.builds(lambda op, v: {"_type": op, "value": v}, st.sampled_from(_REST_OPERATORS), value),
            st.builds(lambda v: {"_type": "Includes", "value": v}, st.lists(value, max_size=3)),
        )

    query = st.dictionaries(st.sampled_from(sorted(_REST_FIELDS)), st.just(None)).flatmap(
        lambda keys: st.fixed_dictionaries({k: condition(k) for k in keys})
    )
    # Keys nobody sends on purpose (control characters, U+0000, lone surrogates), next to real ones.
    odd_keys: st.SearchStrategy[dict[str, Any]] = st.dictionaries(
        awkward(sorted(_REST_FIELDS)), st.booleans() | _strings(a, b), max_size=2
    )
    query = query | st.tuples(query, odd_keys).map(lambda q: {**q[1], **q[0]})
    relations = {
        name: st.booleans() | st.just({"_id": True, RELATIONS[name].label: True}) for name in RELATIONS
    }
    select = st.fixed_dictionaries({}, optional={**dict.fromkeys(_REST_FIELDS, st.booleans()), **relations})
    select = select | st.tuples(select, odd_keys).map(lambda s: {**s[1], **s[0]})
    sort = st.dictionaries(
        st.sampled_from([f.rest_name for f in SORTABLE.values()]),
        st.sampled_from(["ASC", "DESC"]),
        max_size=2,
    )
    listing = st.builds(
        lambda q, s, o, skip, n: ("get-list", {"query": q, "select": s, "sort": o, "skip": skip, "limit": n}),
        query, select, sort, st.integers(0, 10), st.integers(1, 100),
    )  # fmt: skip
    counting = query.map(lambda q: ("count", {"query": q}))
    item = st.builds(
        lambda i, s: (f"{i}/get-item", {"select": s}),
        _ids(a, b).filter(lambda i: "/" not in i and i.strip()),
        select,
    )
    return st.one_of(listing, counting, item)


def test_generated_rest_requests_never_show_another_projects_data(probe: Probe) -> None:
    generated = rest_bodies(probe.a, probe.b)

    @FUZZ
    @given(generated)
    def run(request: tuple[str, dict[str, Any]]) -> None:
        probe.rest(*request)

    run()


def test_a_log_linked_to_another_projects_records_shows_them_as_null(probe: Probe) -> None:
    scoped = [name for name, r in RELATIONS.items() if r.project_scoped]
    relations = " ".join(f"{name} {{ id }}" for name in scoped)
    data = probe.graphql(
        f'{{ whatsAppLogs(where: {{status: {{eq: "bravo Linked"}}}}) {{ incidentId {relations} }} }}'
    )["data"]
    [log] = data["whatsAppLogs"]
    assert log["incidentId"] == probe.a.related["incident_id"]
    assert {name: log[name] for name in scoped} == dict.fromkeys(scoped, None)


# --- subscriptions: A's canaries written while B streams never reach B -----------------------------------

STREAM_EXAMPLES = max(EXAMPLES // 10, 5)
_LOG_SELECTION = " ".join(
    [*(f.name for f in FIELDS.values()), *(f"{name} {{ id {r.label} }}" for name, r in RELATIONS.items())]
)
STREAM = (
    "subscription($where: WhatsAppLogFilter) { whatsAppLogStream(where: $where, batchSize: 100) "
    f"{{ cursor logs {{ {_LOG_SELECTION} }} }} }}"
)


def test_streams_never_carry_another_projects_logs_written_while_they_listen(
    probe: Probe, factory: Factory
) -> None:
    a, b = probe.a, probe.b
    own_before = probe.answered_with_own_data

    @settings(FUZZ, max_examples=STREAM_EXAMPLES)
    @given(st.lists(filters(a, b), min_size=3, max_size=3))
    def run(wheres: list[dict[str, Any]]) -> None:
        with connect(probe.client, b.key) as socket:
            ops = [str(i) for i in range(len(wheres))]
            for op, where in zip(ops, wheres, strict=True):
                socket.subscribe(op, STREAM, {"where": where})
            started = [socket.message(op) for op in ops]  # each: the first message, or its refusal
            # Written while B listens: A's canaries (new, and a change of an old one), and B's own log
            # that points at A's records.
            texts = {f.attribute: _text(f, CANARY, 1) for f in STRING_FIELDS}
            factory.log(a.project, **{**unnamed_values(1, texts, nulls=False), **texts, **a.related})
            links = {
                r.fk_column.key: a.related[r.fk_column.key] for r in RELATIONS.values() if r.project_scoped
            }
            factory.log(b.project, status="bravo Streamed", **links)
            # Whatever the streams carry until they fall quiet (the change feed polls every 0.1 s).
            messages = [*started, *socket.until_quiet(0.6)]
            for message in messages:
                probe.sent += 1
                text = json.dumps(message)
                request_text = json.dumps(wheres)
                assert not probe.leaks(request_text, text, message.get("payload", {}).get("data")), _why(
                    wheres, text
                )
                payload = message.get("payload") or {}
                errors = payload if message["type"] == "error" else payload.get("errors")
                codes = {e.get("extensions", {}).get("code") for e in errors or ()}
                assert "INTERNAL" not in codes, _why(wheres, text)
                probe._count_own_data(message.get("payload", {}).get("data"))

    run()
    assert probe.answered_with_own_data > own_before  # the streams did carry B's own logs
