"""The cost and filter nesting of an operation, measured with the request's variables, after validation.

Fragments are measured once each and reused at every spread (see schema/limits.py), so measuring is
linear in the document even when fragments spread into each other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
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
    get_named_type,
)
from graphql.execution.values import (
    VariableValues,
    get_argument_values,
    get_directive_values,
    get_variable_values,
)

from graphql_api.data.filters import too_many_conditions
from graphql_api.errors import ApiError
from graphql_api.schema.limits import DEFAULT_LIST_ROWS, Limits, fragment_order, fragments_of, too_complex


@dataclass(frozen=True)
class Cost:
    """Cost of a selection set, given that its parent resolves once.

    List fields cost their rows, and every object nested in a list costs 1 per row. A list field's
    rows are its `limit` (or `first`/`last`, or a stream's `batchSize`). A list field without one, such
    as `edges` or `nodes` in a connection, or a stream batch's `logs`, takes the page size of the field
    around it: its cost is kept apart in `per_page` until that field multiplies it in (by
    DEFAULT_LIST_ROWS when nothing sets a page size).
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
_PAGE_ARGUMENTS = ("limit", "first", "last", "batchSize")


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
    fragments = fragments_of(document)
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
