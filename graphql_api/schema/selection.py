"""Which log columns a query needs, read from its selection (fragments included)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from strawberry.types.nodes import FragmentSpread, InlineFragment, Selection

from graphql_api.fields import FIELDS, PROJECT, RELATIONS


def _walk(selections: Iterable[Selection], into: set[str]) -> None:
    for selection in selections:
        if isinstance(selection, (FragmentSpread, InlineFragment)):
            _walk(selection.selections, into)
        elif selection.name in FIELDS:
            into.add(selection.name)
        elif selection.name in RELATIONS:
            into.add(RELATIONS[selection.name].foreign_key)
        elif selection.name == PROJECT.name:
            into.add(PROJECT.foreign_key)


def log_fields(info: Any) -> list[str]:
    """API names of the log fields that the current field's selection reads."""
    wanted: set[str] = set()
    for field in info.selected_fields:
        _walk(field.selections, wanted)
    return sorted(wanted)
