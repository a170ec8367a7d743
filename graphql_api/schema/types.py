"""GraphQL object types, derived from the registry. At run time their values are database rows:
fields read row attributes (column keys)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import strawberry

from graphql_api.data.fields import FIELDS, PROJECT, RELATIONS, Relation
from graphql_api.schema.derived import FieldSpec, fields_first, python_type

if TYPE_CHECKING:
    from graphql_api.schema.context import Context

_ID = "Unique id of this record (a UUID)."
_CREATED = "When this record was created."

# Marks a resolver that graphql-core may call as it is, `(root, info)`: see schema/resolvers.py.
DIRECT = "_direct_resolver"


def _related_type(relation: Relation) -> type:
    """The GraphQL type of a related record: its id, its label (name or title), its creation date."""
    specs: list[FieldSpec] = [
        ("id", strawberry.ID, strawberry.field(description=_ID)),
        (relation.label, str, strawberry.field(description=relation.label_description)),
    ]
    if relation.shows_created_at:
        specs.append(
            ("created_at", python_type("DateTime", nullable=False), strawberry.field(description=_CREATED))
        )
    cls = type(relation.type_name, (), {"__module__": __name__})
    return strawberry.type(fields_first(specs)(cls), description=relation.description)


RELATED_TYPES: dict[str, type] = {r.name: _related_type(r) for r in (PROJECT, *RELATIONS.values())}


def _relation_field(relation: Relation) -> Any:
    """A relation field: preloaded with the page, else batched by the request's DataLoader.

    Not `async`: a preloaded record is returned as it is, sparing GraphQL execution a coroutine per row.
    """
    name = relation.name
    fk = relation.fk_column.key

    def resolve(root: Any, info: strawberry.Info[Context, None]) -> Any:
        value = getattr(root, fk)
        if value is None:
            return None
        return info.context.loaders.get(name, value)

    setattr(resolve, DIRECT, True)
    resolve.__annotations__["return"] = _relation_type(relation)
    return strawberry.field(resolver=resolve, name=name, description=relation.field_description)


def _relation_type(relation: Relation) -> Any:
    """A log always has its project; every other relation may be absent."""
    related = RELATED_TYPES[relation.name]
    return related if relation is PROJECT else related | None


def _log_fields() -> list[FieldSpec]:
    """Every field of the registry, each relation right after its foreign key."""
    specs: list[FieldSpec] = []
    for f in FIELDS.values():
        annotation = python_type(f.scalar, nullable=f.nullable)
        specs.append((f.attribute, annotation, strawberry.field(name=f.name, description=f.description)))
        for relation in (PROJECT, *RELATIONS.values()):
            if relation.foreign_key == f.name:
                specs.append((relation.name, _relation_type(relation), _relation_field(relation)))
    return specs


@strawberry.type(
    description=(
        "A WhatsApp message the platform sent (an incident alert, an on-call page, a status-page "
        "announcement...), with its delivery status, cost and the records that caused it."
    )
)
@fields_first(_log_fields())
class WhatsAppLog:
    pass
