from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from graphql import build_schema

ROOT = Path(__file__).resolve().parent.parent


def test_schema_graphql_matches_the_exported_sdl() -> None:
    exported = subprocess.run(
        [sys.executable, "-m", "graphql_api", "export-schema"], capture_output=True, text=True, check=True
    ).stdout
    assert (ROOT / "schema.graphql").read_text(encoding="utf-8") == exported, (
        "schema.graphql is stale: run `graphql-api export-schema --output schema.graphql`"
    )


def test_the_schema_has_no_mutations() -> None:
    sdl = (ROOT / "schema.graphql").read_text(encoding="utf-8")
    assert "type Mutation" not in sdl
    # Subscriptions are reads: one, the live logs (docs/subscriptions.md).
    subscription = build_schema(sdl).subscription_type
    assert subscription is not None and list(subscription.fields) == ["whatsAppLogStream"]
