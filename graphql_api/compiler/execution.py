"""The compiled path: from a validated operation and a request's variables to the bytes of `data`.

Anything that would end in an error (auth, variables, paging, filters, a statement failing for a reason
other than the database) or that the compiler does not cover returns None, and the regular Strawberry
execution answers instead, so errors, codes and masking are the regular path's by construction. The one
exception: a database that is unavailable or too slow (database.api_error) is answered at once with the
SERVICE_UNAVAILABLE or TIMEOUT errors the regular path would give, instead of making the client wait for
the same failure twice.

Two ways in. `execute` runs inside Strawberry's pipeline, as its last extension, after every other
extension parsed, validated and limited the operation. `execute_again` is the fast path: a request
whose document, operation name and variables already went through that whole pipeline once skips it
(its verdict depends on nothing else), provided every extension of the schema is known to allow that
(`fast_path_safe`); anything else keeps going through the pipeline.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any, Protocol

import strawberry
from graphql import DocumentNode, GraphQLError, GraphQLNonNull
from strawberry.types import ExecutionResult

from graphql_api.compiler.arguments import Arguments
from graphql_api.compiler.builders import ROOT_FIELDS
from graphql_api.compiler.cursor_signing import new_marker, sign_cursors
from graphql_api.compiler.driver import DriverStatement, to_driver
from graphql_api.compiler.plan import NotCompilable, Plan, RootField, Typename, VariablePlan, build_plan
from graphql_api.compiler.repeat import fast_path_safe
from graphql_api.compiler.runner import Elsewhere, runner_for
from graphql_api.compiler.statements import Build
from graphql_api.data.auth import Principal
from graphql_api.data.database import api_error, log_failure
from graphql_api.data.filters import SortKey
from graphql_api.data.services import Services
from graphql_api.errors import ApiError
from graphql_api.request_record import note_operation
from graphql_api.schema.lru import LRU

logger = logging.getLogger("graphql_api.compiler")
_DATA_ONLY = b'{"data":{'


class RawJSON:
    """The `data` of a response as the JSON bytes the database built; the HTTP layer splices them in.

    Held as the pieces of the object between its braces (each root field's key, its value, the commas),
    joined once where the response is written: a page's bytes are copied once, not at every level."""

    __slots__ = ("pieces",)

    def __init__(self, pieces: list[bytes]) -> None:
        self.pieces = pieces

    @property
    def json(self) -> bytes:
        return b"".join([b"{", *self.pieces, b"}"])

    def response(self) -> bytes:
        """The HTTP body `{"data": ...}` with these bytes as its `data`."""
        return b"".join([_DATA_ONLY, *self.pieces, b"}}"])

    def __repr__(self) -> str:
        return f"RawJSON({self.json[:60]!r}...)"


class DatabaseFailure(Exception):
    """A compiled statement met a database that is unavailable or too slow: the request's answer is the
    regular path's for that failure (`result`), not a second attempt on the regular path."""

    def __init__(self, result: ExecutionResult) -> None:
        super().__init__(result)
        self.result = result


class _HasPrincipal(Protocol):
    async def principal(self) -> Principal: ...


@dataclass
class Stats:
    """How requests went, for tests and the benchmark."""

    compiled: int = 0  # answered by the database, inside Strawberry's pipeline
    repeated: int = 0  # answered by the database on the fast path
    fallbacks: int = 0  # answered by Strawberry's regular execution
    database_failures: int = 0  # answered with SERVICE_UNAVAILABLE or TIMEOUT (DatabaseFailure)
    statements: int = 0


@dataclass(frozen=True)
class _Root:
    key: bytes  # `"alias":`
    field: RootField | None  # None for `__typename`
    statement: DriverStatement | None
    constant: bytes | None = None
    cursor_keys: tuple[SortKey, ...] | None = None  # the root's JSON has cursors to sign


# In the statements cache: this request's statements depend on the caller's project (its cursors).
_PER_PROJECT: tuple[_Root, ...] = ()


@dataclass(frozen=True)
class _Passed:
    document: DocumentNode
    operation_name: str | None  # as the pipeline resolved it (the document's only operation's name)


def request_key(query: str, operation_name: str | None, variables: dict[str, Any] | None) -> tuple[str, ...]:
    """What the caches know a request by: its document, operation name and variables (as sorted JSON)."""
    return (query, operation_name or "", json.dumps(variables, sort_keys=True) if variables else "")


class CompiledExecution:
    """Plans, compiled statements and their execution for one schema and one database."""

    def __init__(self, schema: strawberry.Schema, services: Services, *, cache_size: int = 512) -> None:
        self._schema = schema
        self._settings = services.settings
        self._arguments = Arguments(schema)
        self._dialect = services.database.read_engine.dialect
        self._runner = runner_for(services.database, pool_size=max(services.settings.pool_size, 1))
        self._cursor_secret = services.cursor_secret
        self._cursor_marker = new_marker()
        self._root_fields = frozenset(ROOT_FIELDS)
        # Plans per (document, operation name, permissions shape); False: not compilable.
        self._plans: LRU[tuple[Any, ...], Plan | VariablePlan | bool] = LRU(cache_size)
        # Compiled statements per request key and permissions (the project id is bound at execution).
        self._statements: LRU[tuple[Any, ...], tuple[_Root, ...]] = LRU(cache_size * 4)
        # Requests (document, operation name, variables) that passed the whole pipeline.
        self._passed: LRU[tuple[str, ...], _Passed] = LRU(cache_size * 4)
        self._fast_path: bool | None = None
        self.stats = Stats()

    def close(self) -> None:
        self._runner.close()

    def wrap_runner(self, wrap: Any) -> None:
        """Run statements through `wrap(runner)` (tracing: http/otel.py)."""
        self._runner = wrap(self._runner)

    def sql(self) -> list[str]:
        """The SQL of the compiled statements remembered now (for tests and the benchmark)."""
        return [
            r.statement.sql for roots in self._statements.values() for r in roots if r.statement is not None
        ]

    def cache_sizes(self) -> dict[str, int]:
        return {"plans": len(self._plans), "statements": len(self._statements), "passed": len(self._passed)}

    @property
    def fast_path(self) -> bool:
        """Whether a request that passed the pipeline once may skip it when it comes again."""
        if self._fast_path is None:
            self._fast_path = all(fast_path_safe(extension) for extension in self._schema.extensions)
        return self._fast_path

    async def execute(
        self,
        *,
        query: str,
        operation_name: str | None,
        resolved_operation_name: str | None,
        document: DocumentNode,
        variables: dict[str, Any] | None,
        context: _HasPrincipal,
    ) -> ExecutionResult | None:
        """Inside the pipeline: the result with the `data` the database built, or None (regular path)."""
        key = request_key(query, operation_name, variables)
        try:
            data = await self._execute(key, document, operation_name, variables, context, on_loop_only=False)
        except Elsewhere:  # pragma: no cover - only the fast path asks to stay on the loop
            data = None
        except DatabaseFailure as failure:
            return failure.result
        if data is None:
            self.stats.fallbacks += 1
            return None
        self.stats.compiled += 1
        self._passed.put(key, _Passed(document, resolved_operation_name))
        return ExecutionResult(data=data, errors=None)  # type: ignore[arg-type]

    async def execute_again(
        self,
        *,
        query: str,
        operation_name: str | None,
        variables: dict[str, Any] | None,
        context: _HasPrincipal,
    ) -> ExecutionResult | None:
        """The fast path: the result for a request that passed the pipeline before, or None."""
        answer = await self.answer_again(
            query=query, operation_name=operation_name, variables=variables, context=context
        )
        return ExecutionResult(data=answer, errors=None) if isinstance(answer, RawJSON) else answer  # type: ignore[arg-type]

    async def answer_again(
        self,
        *,
        query: str,
        operation_name: str | None,
        variables: dict[str, Any] | None,
        context: _HasPrincipal,
        key: tuple[str, ...] | None = None,
    ) -> RawJSON | ExecutionResult | None:
        """execute_again's answer as the HTTP layer's fast lane takes it: the `data` the database built, a
        result with errors (the database unavailable or too slow), or None. `key`: the request's
        `request_key`, when the caller has it already."""
        if not self.fast_path:
            return None
        if key is None:
            key = request_key(query, operation_name, variables)
        passed = self._passed.get(key)
        if passed is None:
            return None
        note_operation(passed.operation_name)  # as the pipeline's RecordOperation would
        # The HTTP layer's time limit (time_limit.execute_within) covers this path as it does the other.
        try:
            data = await self._execute(
                key, passed.document, operation_name, variables, context, on_loop_only=True
            )
        except Elsewhere:  # a slow statement: the pipeline runs it in a thread
            return None
        except DatabaseFailure as failure:
            return failure.result
        if data is None:
            return None
        self.stats.repeated += 1
        return data

    async def _execute(
        self,
        key: tuple[str, ...],
        document: DocumentNode,
        operation_name: str | None,
        variables: dict[str, Any] | None,
        context: _HasPrincipal,
        *,
        on_loop_only: bool,
    ) -> RawJSON | None:
        try:
            principal = await context.principal()
        except Exception:  # noqa: BLE001 - the regular path reports auth and database errors
            return None
        roots = self._remembered(key, principal)
        if roots is None:  # first time with these permissions (or project): plan and compile
            plan = self._plan(key[0], operation_name, document, principal.permissions)
            if plan is None:
                return None
            roots = self._compiled(key, plan, principal, variables)
            if roots is None:
                return None
        statements = [root.statement for root in roots if root.statement is not None]
        try:
            values = iter(
                await self._runner.values(statements, principal.project_id, on_loop_only=on_loop_only)
            )
        except (Elsewhere, asyncio.CancelledError):
            raise
        except Exception as exc:  # noqa: BLE001 - the regular path runs again and reports it
            error = api_error(exc)
            if error is not None:
                log_failure(error, exc)
                self.stats.database_failures += 1
                raise DatabaseFailure(self._failed(roots, error)) from exc
            logger.info("compiled statement failed, answering on the regular path: %s", type(exc).__name__)
            return None
        self.stats.statements += len(statements)
        pieces: list[bytes] = []
        for root in roots:
            if pieces:
                pieces.append(b",")
            if root.statement is None:
                assert root.constant is not None
                pieces += (root.key, root.constant)
                continue
            value = next(values)
            if value is None:
                pieces += (root.key, b"null")
            elif isinstance(value, bytes):
                if root.cursor_keys is not None:
                    value = sign_cursors(
                        value,
                        marker=self._cursor_marker,
                        secret=self._cursor_secret,
                        keys=root.cursor_keys,
                        project_id=principal.project_id,
                    )
                pieces += (root.key, value)
            else:
                pieces += (root.key, str(int(value)).encode())
        return RawJSON(pieces)

    def _failed(self, roots: tuple[_Root, ...], error: ApiError) -> ExecutionResult:
        """What the regular path answers when every root field's SQL fails with `error`: an error at
        each such field up to the first non-null one, where `data` becomes null (GraphQL's null
        propagation; the regular path may or may not have reported the fields after it by then)."""
        query_type = self._schema._schema.query_type
        assert query_type is not None
        data: dict[str, Any] | None = {}
        errors = []
        for root in roots:
            alias = json.loads(root.key[:-1])
            if root.field is None or root.statement is None:
                if data is not None and root.constant is not None:
                    data[alias] = json.loads(root.constant)
                continue
            errors.append(
                GraphQLError(error.message, nodes=root.field.node, path=[alias], original_error=error)
            )
            if isinstance(query_type.fields[root.field.name].type, GraphQLNonNull):
                return ExecutionResult(data=None, errors=errors)
            if data is not None:
                data[alias] = None
        return ExecutionResult(data=data, errors=errors)

    def _plan(
        self, query: str, operation_name: str | None, document: DocumentNode, permissions: frozenset[str]
    ) -> Plan | VariablePlan | None:
        key = (query, operation_name, permissions)
        plan = self._plans.get(key)
        if plan is None:
            try:
                plan = build_plan(self._schema._schema, document, operation_name, self._root_fields)
            except NotCompilable as exc:
                logger.debug("not compiled (%s)", exc)
                plan = False
            self._plans.put(key, plan)
        return None if isinstance(plan, bool) else plan

    def _remembered(self, key: tuple[str, ...], principal: Principal) -> tuple[_Root, ...] | None:
        """The statements compiled for this request and the caller's permissions (and project, for those
        that hold for one project only), if any: then the plan is not needed."""
        shared = (*key, principal.permissions)
        roots = self._statements.get(shared)
        if roots == _PER_PROJECT:
            roots = self._statements.get((*shared, principal.project_id))
        return roots

    def _compiled(
        self,
        key: tuple[str, ...],
        plan: Plan | VariablePlan,
        principal: Principal,
        variables: dict[str, Any] | None,
    ) -> tuple[_Root, ...] | None:
        """The statements of `plan` for this request and caller, compiled now (remembered for the next)."""
        shared = (*key, principal.permissions)
        build = Build(
            dialect=self._dialect.name,
            settings=self._settings,
            caller_project=principal.project_id,
            cursor_secret=self._cursor_secret,
            cursor_marker=self._cursor_marker,
        )
        try:
            roots, per_project = self._compile(plan, variables, build)
        except (NotCompilable, ApiError, GraphQLError):
            return None  # the regular path reports what is wrong with the arguments
        except Exception:  # noqa: BLE001 - a gap in the compiler must not cost the request
            logger.warning("could not compile an operation; answering on the regular path", exc_info=True)
            return None
        if per_project:
            self._statements.put(shared, _PER_PROJECT)
            self._statements.put((*shared, principal.project_id), roots)
        else:
            self._statements.put(shared, roots)
        return roots

    def _compile(
        self, plan: Plan | VariablePlan, variables: dict[str, Any] | None, build: Build
    ) -> tuple[tuple[_Root, ...], bool]:
        """The roots' statements, and whether they hold for the caller's project alone."""
        coerced = self._arguments.variables(plan.operation, variables)
        per_project = False
        if isinstance(plan, VariablePlan):
            plan = plan.with_variables(coerced)
        roots: list[_Root] = []
        for key, field in plan.fields:
            encoded_key = json.dumps(key).encode() + b":"
            if isinstance(field, Typename):
                roots.append(_Root(encoded_key, None, None, json.dumps(field.type_name).encode()))
                continue
            args = self._arguments.of_field(field.name, field.node, coerced)
            built = ROOT_FIELDS[field.name](args, field.selection, build)
            per_project = per_project or built.per_project
            if isinstance(built.statement, bytes):
                roots.append(_Root(encoded_key, field, None, built.statement))
            else:
                statement = to_driver(built.statement, self._dialect)
                roots.append(_Root(encoded_key, field, statement, cursor_keys=built.cursor_keys))
        return tuple(roots), per_project


def compiled_response(body: dict[str, Any]) -> bytes:
    """The HTTP body for a response whose `data` is RawJSON (its other members encoded as usual)."""
    if len(body) == 1:  # `data` alone, as a compiled answer is: its bytes copied once
        data: RawJSON = body["data"]
        return data.response()
    parts = []
    for key, value in body.items():
        encoded = (
            value.json if isinstance(value, RawJSON) else json.dumps(value, separators=(",", ":")).encode()
        )
        parts.append(json.dumps(key).encode() + b":" + encoded)
    return b"{" + b",".join(parts) + b"}"
