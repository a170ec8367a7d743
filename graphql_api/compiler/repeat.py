"""Which schema extensions a repeated request may skip (the fast path), and why.

A request whose document, operation name and variables went through Strawberry's pipeline once gets
the same verdict from every extension below when it comes again, so the fast path skips the pipeline
for it. An extension says so itself: `document_only = True` (its effect depends on the document alone)
or `repeatable = True` (on the document and variables, which the fast path keys on). Any other
extension turns the fast path off: every request then goes through the pipeline, and is still
compiled at its end.
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


def fast_path_safe(extension: Any) -> bool:
    instance = extension if isinstance(extension, SchemaExtension) else extension()
    return (
        isinstance(instance, _DOCUMENT_ONLY)
        or bool(getattr(instance, "document_only", False))
        or bool(getattr(instance, "repeatable", False))
    )
