"""Building Strawberry types from the registry (data/fields.py) rather than restating it.

`fields_first(...)` is a class decorator, applied below `@strawberry.type` / `@strawberry.input`,
that puts the registry's fields in front of those the class declares itself; `python_type` maps the
registry's GraphQL scalar names to the annotations Strawberry knows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from enum import Enum
from typing import Any, TypeVar

import strawberry

from graphql_api.schema.scalars import BigInt, Phone

T = TypeVar("T", bound=type)

_SCALARS: dict[str, Any] = {
    "ID": strawberry.ID,
    "String": str,
    "Int": int,
    "DateTime": datetime,
    "Phone": Phone,
    "BigInt": BigInt,
}

# (python attribute, annotation, the value of `strawberry.field(...)`)
FieldSpec = tuple[str, Any, Any]


def python_type(scalar: str, *, nullable: bool) -> Any:
    """The annotation for a GraphQL scalar name from the registry."""
    annotation = _SCALARS[scalar]
    return annotation | None if nullable else annotation


def snake(name: str) -> str:
    """`fromNumber` -> `from_number`: the Python attribute for an API name without a column."""
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def fields_first(specs: Iterable[FieldSpec]) -> Callable[[T], T]:
    """Give a class the registry's fields before the ones its body declares, in the given order."""

    def decorate(cls: T) -> T:
        own = dict(cls.__dict__.get("__annotations__", {}))
        annotations: dict[str, Any] = {}
        for attribute, annotation, value in specs:
            annotations[attribute] = annotation
            setattr(cls, attribute, value)
        annotations.update(own)
        cls.__annotations__ = annotations
        return cls

    return decorate


def enum_type(name: str, members: Iterable[tuple[str, Any]], description: str) -> Any:
    """A GraphQL enum built from (NAME, strawberry.enum_value(...)) pairs."""
    enum_class: Any = Enum(name, dict(members))  # type: ignore[misc]  # its members are data
    return strawberry.enum(enum_class, description=description)


def optional_list(item: Any) -> Any:
    """`list[item] | None` for an item type only known at run time."""
    return list[item] | None
