"""GraphQL Code Generator over schema.graphql: the types it writes for the example SPA are right.

`npm run codegen` in examples/spa writes TypeScript types for the SPA's queries from the exported SDL
(the live endpoint's introspection, as codegen asks it by default, drops `@oneOf`), and
`npm run typecheck` compiles them with `typed/usage.ts`, which sorts by `[{ createdAt: "DESC" }]`, reads
`createdAt` as a string and expects an order-by element with two keys to be refused.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from graphql import build_schema, is_scalar_type, is_specified_scalar_type

from tests.live import skip_loudly

ROOT = Path(__file__).parent.parent
SPA = ROOT / "examples" / "spa"


def test_every_custom_scalar_names_the_specification_of_its_values() -> None:
    schema = build_schema((ROOT / "schema.graphql").read_text(encoding="utf-8"))
    custom = [t for t in schema.type_map.values() if is_scalar_type(t) and not is_specified_scalar_type(t)]
    assert {scalar.name for scalar in custom} >= {"DateTime", "Phone", "BigInt"}
    unspecified = [
        scalar.name for scalar in custom if not (scalar.specified_by_url or "").startswith("https://")
    ]
    assert unspecified == []


def test_codegen_types_the_spa_queries_as_the_server_reads_them(request: pytest.FixtureRequest) -> None:
    npm = shutil.which("npm")
    if npm is None:
        skip_loudly(request, "npm is not installed: GraphQL Code Generator cannot run")
    if not (SPA / "node_modules" / ".bin" / "graphql-codegen").exists():
        skip_loudly(request, "examples/spa has no node_modules: run `npm ci` there (.ci/run does)")
    for script in ("codegen", "typecheck"):
        run = subprocess.run(
            [npm, "run", "--silent", script], cwd=SPA, capture_output=True, text=True, timeout=300
        )  # fmt: skip
        assert run.returncode == 0, f"npm run {script}:\n{run.stdout}{run.stderr}"
