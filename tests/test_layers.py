"""The package's layers: a module imports only from its own layer and those below it (cli → http →
compiler → schema → data → the shared settings, errors and request_record), and no two modules share a
name. Read from the source with `ast`, so an import inside a function or under TYPE_CHECKING counts too."""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import graphql_api

PACKAGE = Path(graphql_api.__file__).parent
ROOT = PACKAGE.name

# Bottom to top: a layer may import its own modules and those of the layers below it.
LAYERS = ("data", "schema", "compiler", "http", "cli")
# The top-level modules: the shared ones, which every layer may import and which import nothing from the
# package, the package itself (its version), and `python -m graphql_api`.
TOP_LEVEL = {"settings": "shared", "errors": "shared", "request_record": "shared", "__main__": "cli"}


def rank(layer: str) -> int:
    """0 for the shared modules, then 1 (data) up to 5 (cli)."""
    return 0 if layer == "shared" else LAYERS.index(layer) + 1


def module_name(path: Path) -> str:
    """`graphql_api.data.models` for graphql_api/data/models.py; a package's `__init__` is the package."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> str:
    """The layer of a module of the package (or of a name the package itself holds), by its dotted name."""
    parts = module.split(".")
    assert parts[0] == ROOT, module
    top = parts[1] if len(parts) > 1 else None
    if top is None or not ((PACKAGE / top).is_dir() or (PACKAGE / f"{top}.py").is_file()):
        return "shared"  # graphql_api/__init__.py, and what it holds (`__version__`)
    if top in LAYERS:
        return top
    assert top in TOP_LEVEL, f"{module} is in no layer: add it to LAYERS or TOP_LEVEL in {__file__}"
    return TOP_LEVEL[top]


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def imported(source: str, module: str, *, is_package: bool = False) -> Iterator[tuple[int, str]]:
    """(line, dotted name) of everything the module's source imports, wherever the import statement is."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            parts = package.split(".")
            base = ".".join(parts[: len(parts) - node.level + 1]) if node.level else ""
            origin = ".".join(part for part in (base, node.module) if part)
            if node.module is None or origin == ROOT:
                # `from . import models`, `from graphql_api import cli`: the names may be modules
                yield from ((node.lineno, f"{origin}.{alias.name}") for alias in node.names)
            else:
                yield node.lineno, origin


def upward_imports(source: str, module: str, *, shown_as: str, is_package: bool = False) -> Iterator[str]:
    """The module's imports of the package that its layer does not allow, one line each."""
    layer = layer_of(module)
    for line, target in imported(source, module, is_package=is_package):
        if target.split(".")[0] != ROOT:
            continue
        where = f"{shown_as}:{line} ({layer}) imports {target}"
        if layer == "shared":
            yield f"{where}: a shared module imports nothing from {ROOT}"
        elif rank(layer_of(target)) > rank(layer):
            yield f"{where} ({layer_of(target)}), a layer above its own"


def test_no_module_imports_from_a_layer_above_its_own() -> None:
    violations = [
        violation
        for path in modules()
        for violation in upward_imports(
            path.read_text(encoding="utf-8"),
            module_name(path),
            shown_as=str(path.relative_to(PACKAGE.parent)),
            is_package=path.name == "__init__.py",
        )
    ]

    assert not violations, "\n".join(violations)


def test_imports_in_functions_under_type_checking_and_relative_ones_count() -> None:
    source = """
from typing import TYPE_CHECKING
from . import models
from graphql_api import settings
if TYPE_CHECKING:
    from graphql_api.schema.types import WhatsAppLog
def build():
    from ..http import app
    import graphql_api.cli.commands
    from graphql_api import compiler
"""
    violations = upward_imports(source, f"{ROOT}.data.example", shown_as="example.py")

    assert list(violations) == [
        "example.py:6 (data) imports graphql_api.schema.types (schema), a layer above its own",
        "example.py:8 (data) imports graphql_api.http (http), a layer above its own",
        "example.py:9 (data) imports graphql_api.cli.commands (cli), a layer above its own",
        "example.py:10 (data) imports graphql_api.compiler (compiler), a layer above its own",
    ]


def test_shared_modules_import_nothing_from_the_package() -> None:
    source = "from graphql_api.errors import ApiError\nfrom graphql_api import __version__\n"

    assert list(upward_imports(source, f"{ROOT}.settings", shown_as="settings.py")) == [
        "settings.py:1 (shared) imports graphql_api.errors: a shared module imports nothing from graphql_api",
        "settings.py:2 (shared) imports graphql_api.__version__: "
        "a shared module imports nothing from graphql_api",
    ]


def test_no_two_modules_share_a_file_name() -> None:
    # The packages' __init__ and Alembic's revisions are named by convention, not by what they hold.
    versions = PACKAGE / "data" / "migrations" / "versions"
    paths_by_name: dict[str, list[str]] = defaultdict(list)
    for path in modules():
        if path.name != "__init__.py" and not path.is_relative_to(versions):
            paths_by_name[path.name].append(str(path.relative_to(PACKAGE.parent)))

    assert {name: paths for name, paths in paths_by_name.items() if len(paths) > 1} == {}
