"""What a query reads, from its selection (fragments included): the log columns it needs (so that
kilobytes of `messageText` are not read for nothing) and the relations to load with the page."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from strawberry.types.nodes import FragmentSpread, InlineFragment, Selection

from graphql_api.fields import FIELDS, PROJECT, RELATIONS


@dataclass(frozen=True)
class LogSelection:
    fields: list[str]  # API names of the log fields to read (foreign keys of selected relations too)
    relations: list[str]  # names of the selected relations, `project` included


def _flat(selections: Iterable[Selection]) -> Iterator[Any]:
    """The fields of a selection set, with fragments spread in place."""
    for selection in selections:
        if isinstance(selection, (FragmentSpread, InlineFragment)):
            yield from _flat(selection.selections)
        else:
            yield selection


def _under(selections: Iterable[Selection], path: tuple[str, ...]) -> Iterator[list[Selection]]:
    """The selection sets reached by following the field names of `path`."""
    if not path:
        yield list(selections)
        return
    for field in _flat(selections):
        if field.name == path[0]:
            yield from _under(field.selections, path[1:])


def log_selection(info: Any, *paths: tuple[str, ...]) -> LogSelection:
    """What the log objects at `paths` below the current field read (the field itself by default)."""
    fields: set[str] = set()
    relations: set[str] = set()
    for path in paths or ((),):
        for root in info.selected_fields:
            for selections in _under(root.selections, path):
                for field in _flat(selections):
                    if field.name in FIELDS:
                        fields.add(field.name)
                    elif field.name in RELATIONS:
                        fields.add(RELATIONS[field.name].foreign_key)
                        relations.add(field.name)
                    elif field.name == PROJECT.name:
                        fields.add(PROJECT.foreign_key)
                        relations.add(PROJECT.name)
    return LogSelection(sorted(fields), sorted(relations))


def log_fields(info: Any) -> list[str]:
    """API names of the log fields that the current field's selection reads."""
    return log_selection(info).fields


def selects(info: Any, name: str) -> bool:
    """Whether the current field's selection asks for `name` directly (fragments included)."""
    return any(field.name == name for root in info.selected_fields for field in _flat(root.selections))
