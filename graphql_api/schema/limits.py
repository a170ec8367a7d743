"""Limits on what one GraphQL operation may ask for, all checked before anything is resolved.

Depth, aliases and root fields are properties of the document alone: they are validation rules, so
the validation cache remembers their verdict. Cost and filter nesting also depend on the variables
(`limit: $n`, `where: $filter`), so they are measured per request, after validation.

Fragments are measured once each and reused at every spread, so a spread counts in full every time
it appears, yet a document that spreads fragments into each other (`...A ...A` in every level) costs
linear time to check. Strawberry's QueryDepthLimiter and MaxAliasesLimiter walk every spread again:
twenty such levels already take seconds there, which is why these rules replace them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
)

from graphql_api.errors import QueryTooComplex

CODE = QueryTooComplex.code
# What a list field without a `limit` argument is assumed to return.
DEFAULT_LIST_ROWS = 10


@dataclass(frozen=True)
class Limits:
    """The per-operation limits, from the settings."""

    max_depth: int = 8
    max_aliases: int = 30
    max_root_fields: int = 10
    max_cost: int = 5000
    max_filter_depth: int = 10
    max_filter_conditions: int = 100


def too_complex(message: str, nodes: Any = None) -> GraphQLError:
    return GraphQLError(message, nodes, extensions={"code": CODE})


# --- walking a document ------------------------------------------------------------------------


def fragments_of(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    return {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}


def _spreads(selection_set: SelectionSetNode | None) -> Iterator[str]:
    """Names of the fragments spread anywhere inside a selection set."""
    stack = [selection_set] if selection_set else []
    while stack:
        for selection in stack.pop().selections:
            if isinstance(selection, FragmentSpreadNode):
                yield selection.name.value
            elif selection.selection_set:  # type: ignore[attr-defined]
                stack.append(selection.selection_set)  # type: ignore[attr-defined]


def fragment_order(fragments: Mapping[str, FragmentDefinitionNode]) -> list[str]:
    """Fragment names, each after every fragment it spreads; a cycle is cut where it closes.

    Iterative, so that a long chain of fragments cannot exhaust the stack (cycles and unknown
    fragments are reported by graphql-core's own rules).
    """
    spreads = {name: list(_spreads(f.selection_set)) for name, f in fragments.items()}
    order: list[str] = []
    seen: set[str] = set()
    for root in fragments:
        if root in seen:
            continue
        seen.add(root)
        path = [(root, iter(spreads[root]))]
        while path:
            name, pending = path[-1]
            following = next((s for s in pending if s in fragments and s not in seen), None)
            if following is None:
                path.pop()
                order.append(name)
            else:
                seen.add(following)
                path.append((following, iter(spreads[following])))
    return order


# --- duplicate fields: checked before graphql-core's validation ----------------------------------

# How often one response name may be selected in one selection set, fragments included. graphql-core's
# OverlappingFieldsCanBeMergedRule compares every pair of same-named fields: 330 copies of
# `incident { title id }` (7 KB) cost it seconds, before the key is even looked at.
MAX_SAME_FIELD = 20


def _same_field_counts(
    selection_set: SelectionSetNode,
    fragments: Mapping[str, Counter[str]],
    worst: list[tuple[int, str]],
    spread: set[str] | None = None,
) -> Counter[str]:
    """How often each response name is selected at this level (each fragment's counts once per set,
    inline fragments included, as graphql-core collects fields); the worst name of any level is kept
    in `worst`."""
    counts: Counter[str] = Counter()
    spread = set() if spread is None else spread
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            counts[(selection.alias or selection.name).value] += 1
            if selection.selection_set:
                _same_field_counts(selection.selection_set, fragments, worst)
        elif isinstance(selection, InlineFragmentNode):
            counts.update(_same_field_counts(selection.selection_set, fragments, worst, spread))
        elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in spread:
            spread.add(selection.name.value)
            counts.update(fragments.get(selection.name.value, Counter()))
    if counts:
        name, count = counts.most_common(1)[0]
        if count > worst[0][0]:
            worst[0] = (count, name)
    return counts


def same_field_errors(document: DocumentNode) -> list[GraphQLError]:
    """QUERY_TOO_COMPLEX when a selection set selects one response name more than MAX_SAME_FIELD times.
    Linear in the document: each fragment is counted once and its counts reused at every spread."""
    definitions = fragments_of(document)
    worst = [(0, "")]
    counts: dict[str, Counter[str]] = {}
    for name in fragment_order(definitions):
        counts[name] = _same_field_counts(definitions[name].selection_set, counts, worst)
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            _same_field_counts(definition.selection_set, counts, worst)
    count, name = worst[0]
    if count <= MAX_SAME_FIELD:
        return []
    return [
        too_complex(
            f"The operation selects `{name}` {count} times in one selection set (fragments included); "
            f"at most {MAX_SAME_FIELD} are allowed. Select each field once."
        )
    ]


# --- depth, aliases, root fields: validation rules ----------------------------------------------


@dataclass(frozen=True)
class Shape:
    """What a selection set adds up to, its fragments expanded once per spread."""

    depth: int = 0  # levels of selection sets below its fields: `{ logs { incident { id } } }` is 2
    aliases: int = 0
    fields: int = 0  # fields at its own level (the root fields, for an operation)


def _shape(selection_set: SelectionSetNode, fragments: Mapping[str, Shape]) -> Shape:
    depth = aliases = fields = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            fields += 1
            aliases += selection.alias is not None
            if selection.selection_set:
                inner = _shape(selection.selection_set, fragments)
                aliases += inner.aliases
                # Introspection is bounded by graphql-core's MaxIntrospectionDepthRule instead.
                if not selection.name.value.startswith("__"):
                    depth = max(depth, 1 + inner.depth)
            continue
        if isinstance(selection, InlineFragmentNode):
            inner = _shape(selection.selection_set, fragments)
        elif isinstance(selection, FragmentSpreadNode):
            inner = fragments.get(selection.name.value, Shape())
        else:
            continue
        depth = max(depth, inner.depth)
        aliases += inner.aliases
        fields += inner.fields
    return Shape(depth, aliases, fields)


def shapes(document: DocumentNode) -> dict[OperationDefinitionNode, Shape]:
    """The shape of every operation of a document."""
    fragments = fragments_of(document)
    measured: dict[str, Shape] = {}
    for name in fragment_order(fragments):
        measured[name] = _shape(fragments[name].selection_set, measured)
    return {
        d: _shape(d.selection_set, measured)
        for d in document.definitions
        if isinstance(d, OperationDefinitionNode)
    }


def shape_rule(limits: Limits) -> type[ValidationRule]:
    """A validation rule for depth, aliases and root fields, per operation."""

    class OperationShapeRule(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            for operation, shape in shapes(context.document).items():
                for error in _shape_errors(shape, limits, operation):
                    context.report_error(error)

    return OperationShapeRule


def _shape_errors(shape: Shape, limits: Limits, node: OperationDefinitionNode) -> Iterator[GraphQLError]:
    if shape.depth > limits.max_depth:
        yield too_complex(
            f"The operation nests {shape.depth} levels deep; at most {limits.max_depth} are allowed.", node
        )
    if shape.aliases > limits.max_aliases:
        yield too_complex(
            f"The operation uses {shape.aliases} aliases (each spread of a fragment counts its own); "
            f"at most {limits.max_aliases} are allowed.",
            node,
        )
    if shape.fields > limits.max_root_fields:
        yield too_complex(
            f"The operation asks for {shape.fields} root fields; at most {limits.max_root_fields} "
            "are allowed.",
            node,
        )
