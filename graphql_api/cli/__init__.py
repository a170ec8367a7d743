"""The command line: `graphql-api serve | db | seed | api-key | projects | import | export-schema | bench`.

Holds `commands` (the argument parser, `main`, `export-schema` and `bench`), one module per group of
commands: `serve` (`serve [--demo]`), `fill` (`db upgrade`, `seed`, `import`) and `api_keys` (`projects`,
`api-key`), with `base` (what every command uses: its error, settings, engine, dates); and what the
commands run: `seed` (demo data), `importer` (JSON lines in the REST shape) and `demo` (the demo key of
`serve --demo`). The top layer: may import everything below (`http`, `compiler`, `schema`, `data`);
nothing imports it.
"""

from __future__ import annotations

from graphql_api.cli.commands import main

__all__ = ["main"]
