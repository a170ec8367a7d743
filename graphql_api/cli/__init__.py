"""The command line: `graphql-api serve | db | seed | api-key | projects | import | export-schema | bench`.

Holds `commands` (the argument parser and `main`), `seed` (demo data), `importer` (JSON lines in the
REST shape) and `demo` (the demo key of `serve --demo`). The top layer: may import everything below
(`http`, `schema`, `data`); nothing imports it.
"""

from __future__ import annotations

from graphql_api.cli.commands import main

__all__ = ["main"]
