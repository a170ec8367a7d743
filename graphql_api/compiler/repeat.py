"""Which schema extensions a repeated request may skip (the fast path), and why.

A request whose document, operation name and variables went through Strawberry's pipeline once gets
the same verdict from every extension below when it comes again, so the fast path skips the pipeline
for it. An extension not listed here (nor flagged `document_only = True`) turns the fast path off:
every request then goes through the pipeline, and is still compiled at its end.
"""

from __future__ import annotations

from typing import Any

from strawberry.extensions import (
    AddValidationRules,
    MaskErrors,
    MaxTokensLimiter,
    ParserCache,
    SchemaExtension,
    ValidationCache,
)

# Their effect depends on the document alone (or on errors, which a repeated request never has).
_DOCUMENT_ONLY: tuple[type[SchemaExtension], ...] = (
    MaskErrors,
    ParserCache,
    ValidationCache,
    AddValidationRules,
    MaxTokensLimiter,
)

# This project's own extensions, by qualified name (a renamed one simply turns the fast path off).
_REPEATABLE = {
    # Document rules and limits, then cost and filter nesting from the variables: same inputs, same verdict.
    "graphql_api.schema.validation.Validation",
    # The fast path notes the operation name for the request log itself.
    "graphql_api.schema.tracing.RecordOperation",
}


def fast_path_safe(extension: Any) -> bool:
    instance = extension if isinstance(extension, SchemaExtension) else extension()
    kind = type(instance)
    return (
        isinstance(instance, _DOCUMENT_ONLY)
        or bool(getattr(instance, "document_only", False))
        or f"{kind.__module__}.{kind.__qualname__}" in _REPEATABLE
    )
