"""What a query reads, from its selection (fragments included): the log columns it needs (so that
kilobytes of `messageText` are not read for nothing) and the relations to load with the page.

The selection is read from graphql-core's document nodes, each fragment expanded once per selection
set, as graphql-core's own field collection does. Strawberry's `info.selected_fields` expands every
spread again, so a chain of fragments that each spread the next one twice doubled the work per level
(40 levels never answered).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    SelectionSetNode,
)

from graphql_api.data.fields import FIELDS, PROJECT, RELATIONS


@dataclass(frozen=True)
class LogSelection:
    fields: list[str]  # API names of the log fields to read (foreign keys of selected relations too)
    relations: list[str]  # names of the selected relations, `project` included


def collect(
    selection_sets: Iterable[SelectionSetNode], fragments: Mapping[str, FragmentDefinitionNode]
) -> list[FieldNode]:
    """The fields of selection sets that are merged into one (those of a field selected several
    times), with fragments spread in place, each fragment once."""
    fields: list[FieldNode] = []
    visited: set[str] = set()
    stack = list(selection_sets)
    while stack:
        for selection in stack.pop().selections:
            if isinstance(selection, FieldNode):
                fields.append(selection)
            elif isinstance(selection, InlineFragmentNode):
                stack.append(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = fragments.get(name)
                if fragment is not None and name not in visited:
                    visited.add(name)
                    stack.append(fragment.selection_set)
    return fields


def _under(info: Any, path: tuple[str, ...]) -> list[FieldNode]:
    """The fields of the selection reached by following the field names of `path` from the current
    field (every field of that name along the way, merged)."""
    raw = info._raw_info
    sets = [node.selection_set for node in raw.field_nodes if node.selection_set]
    for name in path:
        sets = [
            field.selection_set
            for field in collect(sets, raw.fragments)
            if field.name.value == name and field.selection_set
        ]
    return collect(sets, raw.fragments)


def log_selection(info: Any, *paths: tuple[str, ...]) -> LogSelection:
    """What the log objects at `paths` below the current field read (the field itself by default)."""
    fields: set[str] = set()
    relations: set[str] = set()
    for path in paths or ((),):
        for node in _under(info, path):
            name = node.name.value
            if name in FIELDS:
                fields.add(name)
            elif name in RELATIONS:
                fields.add(RELATIONS[name].foreign_key)
                relations.add(name)
            elif name == PROJECT.name:
                fields.add(PROJECT.foreign_key)
                relations.add(PROJECT.name)
    return LogSelection(sorted(fields), sorted(relations))


def log_fields(info: Any) -> list[str]:
    """API names of the log fields that the current field's selection reads."""
    return log_selection(info).fields
