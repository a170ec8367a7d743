"""Both paths answer every query alike: random selections, filters, sorts and pages (hypothesis, and
whole random queries from hypothesis-graphql) over data full of awkward values, compared as JSON; also
selections through fragment chains that fan out, inline fragments and duplicate fields, and filters
whose strings hold control characters, U+0000 and lone surrogates (never INTERNAL on either path).

Bounded: a fixed number of examples per strategy and backend; the counts of compiled answers are
asserted too, so that a compiler that handed everything to the regular path could not pass.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import graphql
import hypothesis_graphql
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from graphql_api.compiler import CompiledExecution
from graphql_api.data.fields import FIELDS, PROJECT, RELATIONS, SORTABLE
from graphql_api.data.kinds import DATETIME, ID, INT, STRING, Kind
from graphql_api.http.app import create_app
from graphql_api.schema import build_schema
from graphql_api.schema.inputs import CHOICES
from graphql_api.settings import Settings
from tests.factories import BASE_TIME, Factory, unnamed_values
from tests.fuzz_strategies import PHASES, awkward, json_body, through_fragments
from tests.test_compiled import _first_difference, _without_request_ids

EXAMPLES = 60


def bounded(examples: int) -> Any:
    """A fixed number of examples, the same ones every run, without time limits (SQL is timed elsewhere)."""
    return hypothesis_settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        phases=PHASES,
        report_multiple_bugs=False,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


ROOTS = ["whatsAppLogs", "whatsAppLog", "whatsAppLogCount", "whatsAppLogsConnection", "whatsAppLogStats"]
TEXTS = ["", "Sent", "Failed", "ünïcödé 🚀", 'tab\t"q" \\ 100% _x_', "Σίσυφος ΣΑΣ", "x" * 5000, "İstanbul"]
INTS = [0, 1, -1, 7, 2**31 - 1, -(2**31)]
MICROS = [0, 1, 500_000, 999_999]


class Seeded:
    """Project A's data (the key's), with project B's records linked in to be hidden."""

    def __init__(self, factory: Factory) -> None:
        self.project = factory.project("A ☃")
        other = factory.project("B")
        owners = [self.project, self.project, other]
        related = {
            r.fk_column.key: [
                factory.related(name, p if r.project_scoped else None, TEXTS[i] or "-")
                for i, p in enumerate(owners)
            ]
            for name, r in RELATIONS.items()
        }
        self.ids: list[str] = []
        self.moments = []
        for i in range(36):
            moment = BASE_TIME + timedelta(hours=i % 9, microseconds=MICROS[i % 4])
            self.moments.append(moment)
            links = {column: ids[i % 4] if i % 4 < 3 else None for column, ids in related.items()}
            named = dict(
                created_at=moment, updated_at=moment + timedelta(days=i % 2),
                to_number=f"+1 555 {i % 5}", from_number=None if i % 3 == 0 else TEXTS[i % 4] or "+0",
                message_text=None if i % 7 == 0 else TEXTS[i % len(TEXTS)], status=TEXTS[i % 3] or "Queued",
                status_message=TEXTS[(i + 1) % 6] or None,
                whatsapp_message_id=None if i % 2 else f"wamid.{i}",
                whatsapp_cost_in_usd_cents=INTS[i % len(INTS)], **links,
            )  # fmt: skip
            # Fields not named above (added since) get values of their kind, or null.
            self.ids.append(factory.log(self.project, **named, **unnamed_values(i, named)))
        factory.logs(other, 5, message_text="B only")
        self.key = factory.api_key(self.project)


def _values(seeded: Seeded, kind: Kind) -> st.SearchStrategy[Any]:
    if kind is ID:
        return st.sampled_from([*seeded.ids[:6], "not-a-uuid", "00000000-0000-0000-0000-000000000000"])
    if kind is INT:
        return st.sampled_from(INTS)
    if kind is DATETIME:
        return st.sampled_from([m.isoformat() for m in seeded.moments[:9]] + ["2026-07-01"])
    return st.sampled_from([t[:40] for t in TEXTS] + ["sent", "ün", "+1 555 2", "ΣΑΣ", "i̇stanbul"])


def _condition(seeded: Seeded) -> st.SearchStrategy[dict[str, Any]]:
    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        name = draw(st.sampled_from(sorted(FIELDS)))
        field = FIELDS[name]
        op = draw(st.sampled_from(sorted(field.kind.operators - {"not_contains"})))
        graphql_op = {"in": "in", "not_in": "notIn", "starts_with": "startsWith", "ends_with": "endsWith",
                      "is_null": "isNull"}.get(op, op)  # fmt: skip
        values = _values(seeded, field.kind)
        if op == "is_null":
            value: Any = draw(st.booleans())
        elif op in ("in", "not_in"):
            value = draw(st.lists(values, max_size=3))
        else:
            value = draw(values)
        return {name: {graphql_op: value}}

    return build()


# `statusIn` takes the WhatsAppLogStatus enum: its names, bare in a literal (see _literal).
STATUS_NAMES = sorted(CHOICES["status"].__members__)


def _filters(seeded: Seeded) -> st.SearchStrategy[dict[str, Any]]:
    status_in = st.lists(st.sampled_from(STATUS_NAMES), max_size=3).map(lambda names: {"statusIn": names})
    return st.recursive(
        _condition(seeded) | status_in,
        lambda inner: st.one_of(
            st.lists(inner, min_size=1, max_size=3).map(lambda parts: {"and": parts}),
            st.lists(inner, min_size=1, max_size=3).map(lambda parts: {"or": parts}),
            inner.map(lambda part: {"not": part}),
        ),
        max_leaves=5,
    )


RELATED_FIELDS = {
    name: ["id", r.label, *(["createdAt"] if r.shows_created_at else []), "__typename"]
    for name, r in {**RELATIONS, PROJECT.name: PROJECT}.items()
}


# @skip / @include on a selection, mostly none (with variables: see test_compiled.py).
CONDITIONS = st.sampled_from(
    ["", "", "", "", " @include(if: true)", " @include(if: false)", " @skip(if: true)", " @skip(if: false)"]
)


def _parts(draw: st.DrawFn) -> list[str]:
    """Selections of a log (fields, relations, aliases, @skip/@include) with no response key standing
    for two different fields, so that they merge however they are combined."""
    parts: list[tuple[str, str]] = []  # (response key, selection)
    for _ in range(draw(st.integers(1, 8))):
        alias = draw(st.sampled_from(["", "", "a: ", "b: ", "c2: "]))
        if draw(st.booleans()):
            name = draw(st.sampled_from([*FIELDS, "__typename"]))
            parts.append((alias or name, alias + name + draw(CONDITIONS)))
        else:
            relation = draw(st.sampled_from(sorted(RELATED_FIELDS)))
            inner = draw(st.lists(st.sampled_from(RELATED_FIELDS[relation]), min_size=1, max_size=3))
            parts.append((alias or relation, f"{alias}{relation}{draw(CONDITIONS)} {{ {' '.join(inner)} }}"))
    # Aliases must not clash with different fields: keep one field per response key.
    seen: dict[str, str] = {}
    kept = []
    for key, part in parts:
        if seen.setdefault(key, part.split(" @")[0].split(" {")[0]) == part.split(" @")[0].split(" {")[0]:
            kept.append(part)
    return kept


@st.composite
def _selection(draw: st.DrawFn) -> tuple[str, str]:
    """A log's selection set, and the fragment definition it spreads (or "")."""
    body = " ".join(_parts(draw))
    wrap = draw(st.sampled_from(["plain", "inline", "fragment"]))
    if wrap == "inline":
        return f"id ... on WhatsAppLog{draw(CONDITIONS)} {{ {body} }} __typename", ""
    if wrap == "fragment":
        return f"...F{draw(CONDITIONS)} id", f" fragment F on WhatsAppLog {{ {body} }}"
    return body, ""


SCHEMA = build_schema()._schema
LOG_TYPE = SCHEMA.type_map["WhatsAppLog"]
assert isinstance(LOG_TYPE, graphql.GraphQLObjectType)
RELATED_TYPES = {name: graphql.get_named_type(LOG_TYPE.fields[name].type).name for name in RELATED_FIELDS}


@st.composite
def _fragmented_selection(draw: st.DrawFn) -> tuple[str, str]:
    """A log's selection through fragments (chains that fan out, inline fragments, duplicates), and the
    fragment definitions; relations repeated (`incident { title id }` many times) and selected
    through fragments on their own type too."""
    parts = _parts(draw)
    if draw(st.integers(0, 3)):
        # Mostly without aliases: each spread counts its fragment's aliases again, so a chain that fans
        # out is past MAX_ALIASES after a few levels (refused alike, and checked, the other times).
        parts = [p for p in parts if ":" not in p.split("{")[0]] or ["id"]
    definitions = ""
    for i in range(draw(st.integers(0, 2))):
        relation = draw(st.sampled_from(sorted(RELATED_FIELDS)))
        inner = draw(st.lists(st.sampled_from(RELATED_FIELDS[relation]), min_size=1, max_size=3, unique=True))
        inner_selection, inner_definitions = draw(through_fragments(RELATED_TYPES[relation], inner, f"R{i}_"))
        parts += [f"{relation} {{ {inner_selection} }}", f"{relation} {{ {' '.join(inner)} }}"]
        definitions += inner_definitions
    selection, log_definitions = draw(through_fragments("WhatsAppLog", parts))
    return selection, log_definitions + definitions


def _codes(answer: dict[str, Any]) -> set[str]:
    return {str((e.get("extensions") or {}).get("code")) for e in answer.get("errors") or ()}


@dataclass
class _Client:
    """Posts GraphQL the way a client does, its JSON ASCII-escaped (lone surrogates as "\\ud800")."""

    client: TestClient
    key: str

    def __call__(self, query: str, variables: dict[str, Any] | None) -> dict[str, Any]:
        response = self.client.post(
            "/graphql",
            content=json_body({"query": query, "variables": variables}),
            headers={"ApiKey": self.key, "Content-Type": "application/json"},
        )
        body: dict[str, Any] = response.json()
        # A body no database can take (a lone surrogate) is refused before GraphQL, as 400.
        refused = response.status_code == 400 and _codes(body) == {"BAD_USER_INPUT"}
        assert response.status_code == 200 or refused, "\n".join(
            map(ascii, (query, variables, response.text))
        )
        return body


@pytest.fixture
def compare(
    settings: Settings, factory: Factory
) -> Iterator[Callable[[str, dict[str, Any] | None], dict[str, Any]]]:
    seeded = Seeded(factory)
    with ExitStack() as stack:
        # The key cache on, as in production: without it, when several root fields fail, which error
        # comes first depends on when each resolver awaits the key lookup (on the regular path alone).
        settings = settings.with_(cursor_secret="the same for both paths", auth_cache_seconds=60)
        compiled_app = create_app(settings.with_(compiled_execution=True))
        regular_app = create_app(settings.with_(compiled_execution=False))
        compiled = _Client(stack.enter_context(TestClient(compiled_app)), seeded.key)
        regular = _Client(stack.enter_context(TestClient(regular_app)), seeded.key)
        execution: CompiledExecution = compiled_app.state.compiled

        def check(query: str, variables: dict[str, Any] | None) -> dict[str, Any]:
            answer = compiled(query, variables)
            other = regular(query, variables)
            assert _without_request_ids(answer) == _without_request_ids(other), "\n".join(
                [ascii(query), ascii(variables), _first_difference(answer, other)]
            )
            return answer

        check.seeded = seeded  # type: ignore[attr-defined]
        check.execution = execution  # type: ignore[attr-defined]
        yield check


def test_random_pages_filters_and_selections_answer_alike(compare: Any) -> None:
    seeded: Seeded = compare.seeded

    @bounded(EXAMPLES)
    @given(
        selection=_selection(),
        where=st.none() | _filters(seeded),
        order=st.lists(
            st.sampled_from(sorted(SORTABLE)).flatmap(lambda f: st.sampled_from([{f: "ASC"}, {f: "DESC"}])),
            max_size=3,
        ),  # fmt: skip
        skip=st.integers(0, 40),
        limit=st.integers(1, 100),
        as_variables=st.booleans(),
    )
    def check(
        selection: tuple[str, str], where: Any, order: list[Any], skip: int, limit: int, as_variables: bool
    ) -> None:
        fields, fragment = selection
        args = "(where: $w, orderBy: $o, skip: $s, limit: $l)"
        query = (
            f"query($w: WhatsAppLogFilter, $o: [WhatsAppLogOrderBy!], $s: Int!, $l: Int!) "
            f"{{ whatsAppLogs{args} {{ {fields} }} n: whatsAppLogCount(where: $w) }}{fragment}"
        )
        variables = {"w": where, "o": order, "s": skip, "l": limit}
        if not as_variables:
            query = query.replace("($w: WhatsAppLogFilter, ", "(").replace("$w", _literal(where))
            variables.pop("w")
        compare(query, variables)

    check()
    stats = compare.execution.stats
    assert stats.compiled + stats.repeated >= EXAMPLES // 2, stats


def _item(key: str, value: Any) -> str:
    return "[" + ", ".join(value) + "]" if key == "statusIn" else _literal(value)


def _literal(value: Any) -> str:
    """A JSON value as a GraphQL literal (input object keys unquoted)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}: {_item(key, item)}" for key, item in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_literal(item) for item in value) + "]"
    return json.dumps(value)  # strings (JSON escapes are GraphQL's), numbers, true, false, null


def test_whole_random_queries_from_the_schema_answer_alike(compare: Any) -> None:
    schema = SCHEMA
    seeded: Seeded = compare.seeded
    scalars = {
        "DateTime": st.sampled_from([m.isoformat() for m in seeded.moments[:4]] + ["2026-07-01", "nope"]).map(
            lambda v: graphql.StringValueNode(value=v)
        ),
        "Phone": st.sampled_from(["+1 555 1", "", "ü"]).map(lambda v: graphql.StringValueNode(value=v)),
        "ID": st.sampled_from([*seeded.ids[:3], "x"]).map(lambda v: graphql.StringValueNode(value=v)),
    }
    documents = hypothesis_graphql.queries(
        schema, fields=ROOTS, custom_scalars=scalars, allow_x00=False, print_ast=lambda document: document
    )

    @bounded(EXAMPLES)
    @given(document=documents, sane_pages=st.booleans())
    def check(document: graphql.DocumentNode, sane_pages: bool) -> None:
        # Random page sizes are nearly always out of range (an error, on both paths alike): half the
        # examples get sizes in range, so that most of those reach the compiler.
        compare(graphql.print_ast(_sane_pages(document) if sane_pages else document), None)

    check()
    stats = compare.execution.stats
    assert stats.compiled + stats.repeated >= EXAMPLES // 10, stats


def test_random_connection_pages_and_their_next_pages_answer_alike(compare: Any) -> None:
    seeded: Seeded = compare.seeded

    @bounded(EXAMPLES // 2)
    @given(
        selection=_selection(),
        where=st.none() | _filters(seeded),
        order=st.lists(
            st.sampled_from(sorted(SORTABLE)).flatmap(lambda f: st.sampled_from([{f: "ASC"}, {f: "DESC"}])),
            max_size=2,
        ),  # fmt: skip
        size=st.integers(1, 12),
        backward=st.booleans(),
    )
    def check(selection: tuple[str, str], where: Any, order: list[Any], size: int, backward: bool) -> None:
        fields, fragment = selection
        direction, towards = ("last", "before") if backward else ("first", "after")
        query = (
            f"query($w: WhatsAppLogFilter, $o: [WhatsAppLogOrderBy!], $n: Int, $c: String) "
            f"{{ c: whatsAppLogsConnection(where: $w, orderBy: $o, {direction}: $n, {towards}: $c) {{ "
            f"totalCount pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }} "
            f"edges {{ cursor node {{ {fields} }} }} nodes {{ id }} }} }}{fragment}"
        )
        variables = {"w": where, "o": order, "n": size, "c": None}
        page = compare(query, variables)
        info = (page.get("data") or {}).get("c", {}).get("pageInfo")
        if info and info["endCursor"]:
            compare(query, {**variables, "c": info["startCursor" if backward else "endCursor"]})

    check()
    stats = compare.execution.stats
    assert stats.compiled + stats.repeated >= EXAMPLES // 2, stats


def test_fragment_fan_out_inline_fragments_and_duplicate_fields_answer_alike(compare: Any) -> None:
    seeded: Seeded = compare.seeded

    @bounded(EXAMPLES)
    @given(
        selection=_fragmented_selection(),
        root=st.sampled_from(["logs", "log", "connection"]),
        where=st.none() | _filters(seeded),
        limit=st.integers(1, 100),
        log=st.sampled_from(seeded.ids[:4]),
    )
    def check(selection: tuple[str, str], root: str, where: Any, limit: int, log: str) -> None:
        fields, fragments = selection
        variables: dict[str, Any] = {"w": where, "l": limit}
        if root == "logs":
            query = (
                "query($w: WhatsAppLogFilter, $l: Int!) "
                f"{{ whatsAppLogs(where: $w, limit: $l) {{ {fields} }} }}"
            )
        elif root == "log":
            query, variables = f"query($i: ID!) {{ whatsAppLog(id: $i) {{ {fields} }} }}", {"i": log}
        else:
            query = (
                "query($w: WhatsAppLogFilter, $l: Int) { whatsAppLogsConnection(where: $w, first: $l) "
                f"{{ edges {{ node {{ {fields} }} }} nodes {{ {fields} }} }} }}"
            )
        answer = compare(query + fragments, variables)
        # Refused alike (past a limit) or answered alike; never an unexpected error.
        assert _codes(answer) <= {"QUERY_TOO_COMPLEX"}, f"{query}{fragments}\n{variables}\n{answer}"

    check()


STRING_FILTERS = {"eq": False, "ne": False, "in": True, "notIn": True, "contains": False, "startsWith": False,
                  "endsWith": False}  # fmt: skip


def test_control_characters_nul_and_lone_surrogates_in_filters_answer_alike(compare: Any) -> None:
    seeded: Seeded = compare.seeded
    texts = sorted({t[:40] for t in TEXTS} | {"+1 555 2", "wamid.4"})
    roots = {
        "logs": "whatsAppLogs(where: $w, limit: 100) { id status messageText }",
        "count": "whatsAppLogCount(where: $w)",
        "stats": "whatsAppLogStats(where: $w, groupBy: [STATUS]) { status count }",
        "connection": "whatsAppLogsConnection(where: $w, first: 5) { totalCount nodes { id } }",
    }
    string_fields = sorted(name for name, f in FIELDS.items() if f.kind is STRING)

    @st.composite
    def conditions(draw: st.DrawFn) -> dict[str, Any]:
        name = draw(st.sampled_from([*string_fields, "id", "incidentId"]))
        ops = ["eq", "ne", "in", "notIn"] if FIELDS[name].kind is ID else sorted(STRING_FILTERS)
        op = draw(st.sampled_from(ops))
        strings = awkward(seeded.ids[:2] if FIELDS[name].kind is ID else texts)
        value = draw(st.lists(strings, min_size=1, max_size=3) if STRING_FILTERS[op] else strings)
        condition = {name: {op: value}}
        # Now and then next to a condition that matches: the awkward one must not disturb it.
        return draw(st.sampled_from([condition, {"or": [condition, {"status": {"eq": "Sent"}}]},
                                     {"not": condition}]))  # fmt: skip

    @bounded(EXAMPLES)
    @given(where=conditions(), root=st.sampled_from(sorted(roots)), as_variables=st.booleans())
    def check(where: dict[str, Any], root: str, as_variables: bool) -> None:
        query = f"query($w: WhatsAppLogFilter) {{ {roots[root]} }}"
        variables: dict[str, Any] | None = {"w": where}
        if not as_variables:
            query = f"{{ {roots[root].replace('$w', _literal(where))} }}"
            variables = None
        answer = compare(query, variables)
        # A normal answer, or the value refused as the user's; in a literal, a lone surrogate's escape
        # ("\ud800") is not valid GraphQL.
        allowed = {"BAD_USER_INPUT"} if as_variables else {"BAD_USER_INPUT", "GRAPHQL_PARSE_FAILED"}
        assert _codes(answer) <= allowed, "\n".join(map(ascii, (query, variables, answer)))

    check()


class _SanePages(graphql.Visitor):
    def enter_field(self, node: graphql.FieldNode, *_: Any) -> graphql.FieldNode:
        names = {argument.name.value for argument in node.arguments}
        arguments = []
        for argument in node.arguments:
            name, value = argument.name.value, argument.value
            if name == "last" and "first" in names:
                continue  # one of the two
            if name in ("skip", "limit", "first", "last") and isinstance(value, graphql.IntValueNode):
                low, high = (0, 50) if name == "skip" else (1, 100)
                clamped = graphql.IntValueNode(value=str(min(max(int(value.value), low), high)))
                argument = graphql.ArgumentNode(name=argument.name, value=clamped)
            arguments.append(argument)
        return graphql.FieldNode(
            alias=node.alias, name=node.name, arguments=tuple(arguments),
            directives=node.directives, selection_set=node.selection_set,
        )  # fmt: skip


def _sane_pages(document: graphql.DocumentNode) -> graphql.DocumentNode:
    return graphql.visit(document, _SanePages())  # type: ignore[no-any-return]
