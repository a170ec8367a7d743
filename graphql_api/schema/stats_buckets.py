"""GraphQL types of the cost and delivery statistics, derived from the group keys and measures of
data/stats_queries.py: the group-by enum, the bucket type, and rows -> buckets."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import Enum
from typing import Any

import strawberry
from sqlalchemy import Row

from graphql_api.data.stats_queries import GROUP_KEYS, MEASURES, GroupKey
from graphql_api.schema.derived import FieldSpec, enum_type, fields_first, python_type, snake
from graphql_api.schema.types import RELATED_TYPES


def _enum_name(name: str) -> str:
    return snake(name).upper()


WhatsAppLogGroupBy = enum_type(
    "WhatsAppLogGroupBy",
    [
        (_enum_name(k.name), strawberry.enum_value(k.name, description=k.group.means))
        for k in GROUP_KEYS.values()
    ],
    "What to group WhatsApp logs by in `whatsAppLogStats`; combine several.",
)


def _key_description(key: GroupKey) -> str:
    text = f"{key.group.bucket} Null when not grouped by this key"
    if key.relation is not None:
        return text + " or for logs without one (in this project)."
    return text + (" or for logs without one." if key.nullable else ".")


def _bucket_fields() -> list[FieldSpec]:
    specs: list[FieldSpec] = []
    for key in GROUP_KEYS.values():
        annotation: Any
        if key.relation is not None:
            annotation = RELATED_TYPES[key.relation.name] | None
        else:
            annotation = python_type(key.scalar, nullable=True)
        specs.append(
            (snake(key.name), annotation, strawberry.field(name=key.name, description=_key_description(key)))
        )
    for m in MEASURES:
        field = strawberry.field(name=m.name, description=m.description)
        specs.append((snake(m.name), python_type(m.scalar, nullable=False), field))
    return specs


@strawberry.type(
    description=(
        "The logs that share one value of every group key: how many there are and what they cost. "
        "Fields of keys not grouped by are null."
    )
)
@fields_first(_bucket_fields())
class WhatsAppLogStatsBucket:
    pass


def _record(values: Mapping[str, Any], key: GroupKey) -> Any:
    relation = key.relation
    assert relation is not None
    record_id = values.get(f"{key.name}_id")
    if record_id is None:
        return None
    record = {"id": record_id, relation.label: values[f"{key.name}_label"]}
    if relation.shows_created_at:
        record["created_at"] = values[f"{key.name}_created_at"]
    return RELATED_TYPES[relation.name](**record)


def _bucket(values: Mapping[str, Any]) -> WhatsAppLogStatsBucket:
    fields = {
        snake(key.name): _record(values, key) if key.relation is not None else values.get(key.name)
        for key in GROUP_KEYS.values()
    }
    fields.update({snake(m.name): values[m.column] for m in MEASURES})
    return WhatsAppLogStatsBucket(**fields)


def group_key_names(group_by: Iterable[Enum] | None) -> list[str]:
    """The neutral names (`stats_queries.GROUP_KEYS`) of the GraphQL group keys."""
    return [str(key.value) for key in group_by or ()]


def to_buckets(rows: Iterable[Row[Any]]) -> list[WhatsAppLogStatsBucket]:
    """Buckets from the rows of `stats_queries.log_stats`; keys not grouped by become null."""
    return [_bucket(dict(row._mapping)) for row in rows]
