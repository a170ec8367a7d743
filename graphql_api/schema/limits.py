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
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLIncludeDirective,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLSkipDirective,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
    get_named_type,
)
from graphql.execution.values import (
    VariableValues,
    get_argument_values,
    get_directive_values,
    get_variable_values,
)

from graphql_api.data.filters import too_many_conditions
from graphql_api.errors import ApiError, QueryTooComplex

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


def _fragments(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
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
    definitions = _fragments(document)
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
    fragments = _fragments(document)
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


# --- cost and filter nesting: measured with the request's variables ------------------------------


@dataclass(frozen=True)
class Cost:
    """Cost of a selection set, given that its parent resolves once.

    List fields cost their rows, and every object nested in a list costs 1 per row. A list field's
    rows are its `limit` (or `first`/`last`). A list field without one, such as `edges` or `nodes` in a
    connection, takes the page size of the field around it: its cost is kept apart in `per_page`
    until that field multiplies it in (by DEFAULT_LIST_ROWS when nothing sets a page size).
    """

    fixed: int = 0
    per_page: int = 0
    filter_depth: int = 0  # the deepest `and`/`or`/`not` nesting of any argument
    filter_size: int = 0  # conditions in all filter arguments together
    # Arguments outside their own bounds (`limit: 1000`), in fields that run: reported instead of the
    # cost, which such an argument inflates, since the bound is the rule the user needs to learn.
    refusals: tuple[GraphQLError, ...] = ()

    def total(self, page: int = DEFAULT_LIST_ROWS) -> int:
        return self.fixed + self.per_page * page


# (name of an argument's input type, its coerced value) -> its `and`/`or`/`not` nesting and conditions
FilterDepth = Callable[[str, Any], tuple[int, int]]
# (field coordinate such as `Query.whatsAppLogs`, its arguments) -> raises ApiError for one out of bounds
ArgumentBounds = Callable[[str, Mapping[str, Any]], None]
_PAGE_ARGUMENTS = ("limit", "first", "last")


def _page_size(arguments: Mapping[str, Any]) -> int | None:
    for name in _PAGE_ARGUMENTS:
        value = arguments.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            return max(value, 0)
    return None


def _skipped(node: FieldNode | InlineFragmentNode | FragmentSpreadNode, variables: VariableValues) -> bool:
    """Whether `@skip`/`@include` leave the node out (or are invalid: execution says so)."""
    if not node.directives:
        return False
    try:
        skip = get_directive_values(GraphQLSkipDirective, node, variables)
        include = get_directive_values(GraphQLIncludeDirective, node, variables)
    except GraphQLError:
        return True
    return bool(skip and skip.get("if")) or (include is not None and not include.get("if"))


class _Measure:
    def __init__(
        self,
        schema: GraphQLSchema,
        variables: VariableValues,
        filter_depth: FilterDepth,
        bounds: ArgumentBounds | None,
    ) -> None:
        self.schema = schema
        self.variables = variables
        self.filter_depth = filter_depth
        self.bounds = bounds
        self.fragments: dict[str, Cost] = {}

    def selection_set(self, selection_set: SelectionSetNode, parent: Any) -> Cost:
        fixed = per_page = depth = conditions = 0
        refusals: list[GraphQLError] = []
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                inner = self.field(selection, parent)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = self.selection_set(
                    selection.selection_set,
                    self.schema.get_type(condition.name.value) if condition else parent,
                )
            elif isinstance(selection, FragmentSpreadNode):
                inner = self.fragments.get(selection.name.value, Cost())
            else:
                continue
            fixed += inner.fixed
            per_page += inner.per_page
            depth = max(depth, inner.filter_depth)
            conditions += inner.filter_size
            if inner.refusals and not _skipped(selection, self.variables):
                refusals += inner.refusals
        return Cost(fixed, per_page, depth, conditions, tuple(refusals))

    def _refusals(
        self, parent: GraphQLObjectType, node: FieldNode, arguments: Any
    ) -> tuple[GraphQLError, ...]:
        if self.bounds is None:
            return ()
        try:
            self.bounds(f"{parent.name}.{node.name.value}", arguments)
        except ApiError as refusal:
            return (GraphQLError(refusal.message, node, extensions={"code": refusal.code}),)
        return ()

    def field(self, node: FieldNode, parent: Any) -> Cost:
        if node.name.value.startswith("__") or not isinstance(parent, GraphQLObjectType):
            return Cost()
        definition = parent.fields.get(node.name.value)
        if definition is None:
            return Cost()
        try:
            arguments = get_argument_values(definition, node, self.variables)
        except GraphQLError:  # execution reports it, with its own message
            arguments = {}
        refusals = self._refusals(parent, node, arguments)
        filters = [
            self.filter_depth(get_named_type(definition.args[name].type).name, value)
            for name, value in arguments.items()
        ]
        depth = max((d for d, _ in filters), default=0)
        conditions = sum(c for _, c in filters)
        if not node.selection_set:
            return Cost(0, 0, depth, conditions, refusals)
        field_type = definition.type
        if isinstance(field_type, GraphQLNonNull):
            field_type = field_type.of_type
        inner = self.selection_set(node.selection_set, get_named_type(field_type))
        size = _page_size(arguments)
        depth = max(depth, inner.filter_depth)
        conditions += inner.filter_size
        refusals += inner.refusals
        if not isinstance(field_type, GraphQLList):
            # An object, or a connection whose `first`/`last` sizes the lists inside it.
            page = size if size is not None else DEFAULT_LIST_ROWS
            return Cost(1 + inner.total(page), 0, depth, conditions, refusals)
        each = 1 + inner.total()
        if size is None:
            return Cost(0, each, depth, conditions, refusals)
        return Cost(size * each, 0, depth, conditions, refusals)


def measure(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: dict[str, Any] | None,
    filter_depth: FilterDepth,
    *,
    bounds: ArgumentBounds | None = None,
    hide_suggestions: bool = False,
) -> Cost | list[GraphQLError]:
    """Cost and filter nesting of a valid operation, or why its variables or arguments do not fit it
    (the errors execution would report, found here before anything runs: `bounds` raises the resolvers'
    own errors for arguments out of bounds)."""
    coerced = get_variable_values(
        schema, operation.variable_definitions or (), variables or {}, hide_suggestions=hide_suggestions
    )
    if isinstance(coerced, list):
        return coerced
    walk = _Measure(schema, coerced, filter_depth, bounds)
    fragments = _fragments(document)
    for name in fragment_order(fragments):
        fragment = fragments[name]
        walk.fragments[name] = walk.selection_set(
            fragment.selection_set, schema.get_type(fragment.type_condition.name.value)
        )
    root = schema.get_root_type(operation.operation)
    cost = walk.selection_set(operation.selection_set, root)
    if cost.refusals:
        # A fragment spread twice is refused once.
        return list({id(error): error for error in cost.refusals}.values())
    return cost


def cost_errors(cost: Cost, limits: Limits, node: OperationDefinitionNode) -> Iterable[GraphQLError]:
    total = cost.total()
    if total > limits.max_cost:
        yield too_complex(
            f"The operation would cost {total}; at most {limits.max_cost} is allowed. A list field "
            "costs its `limit` and every object nested in it 1 per row: ask for fewer rows or fields.",
            node,
        )
    if cost.filter_depth > limits.max_filter_depth:
        yield too_complex(
            f"Filters may nest `and`/`or`/`not` at most {limits.max_filter_depth} levels deep "
            f"(this one nests {cost.filter_depth}).",
            node,
        )
    if cost.filter_size > limits.max_filter_conditions:
        yield too_complex(too_many_conditions(cost.filter_size, limits.max_filter_conditions), node)
