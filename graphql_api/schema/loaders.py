"""Related records, one `IN` query per related type whatever the page size.

Root resolvers that return many logs load the relations the query selects right after the page, on
the same connection (`preload`); relation fields then resolve synchronously from a dict, which keeps
GraphQL execution free of a coroutine per row and field. Anything not preloaded goes through
per-request DataLoaders, which batch the same way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection
from strawberry.dataloader import DataLoader

from graphql_api.data import queries
from graphql_api.data.auth import Principal
from graphql_api.data.services import Services

_MISSING = object()


class Loaders:
    """One DataLoader per relation, made on first use and scoped to the caller's project."""

    def __init__(self, services: Services, principal: Callable[[], Awaitable[Principal]]) -> None:
        self._services = services
        self._principal = principal
        self._loaders: dict[str, DataLoader[str, Any]] = {}
        # relation name -> {id: row, or None for an id that matched no visible record}
        self._preloaded: dict[str, dict[str, Any]] = {}
        # DataLoader batches run in tasks of their own; kept so that a timed-out request can stop them.
        self._running: set[asyncio.Task[Any]] = set()

    def cancel(self) -> None:
        """Cancel the batches still loading (and so their SQL): the request ran out of time."""
        for task in list(self._running):
            task.cancel()

    async def preload(
        self, conn: AsyncConnection, *, project_id: str, relations: Iterable[str], rows: Sequence[Any]
    ) -> None:
        """Load the given relations of `rows`: one query per relation that any row links to."""
        for name in relations:
            relation = queries.relation(name)
            fk = relation.fk_column.key
            known = self._preloaded.setdefault(name, {})
            ids = {value for row in rows if (value := getattr(row, fk)) is not None and value not in known}
            if ids:
                found = await queries.load_related(conn, relation=relation, project_id=project_id, ids=ids)
                known.update({record_id: found.get(record_id) for record_id in ids})

    def add(self, related: dict[str, dict[str, Any]]) -> None:
        """Records loaded already (relation name -> {id: row, or None}), as `preload` would have."""
        for name, rows in related.items():
            self._preloaded.setdefault(name, {}).update(rows)

    def get(self, relation_name: str, record_id: str) -> Any:
        """The related row (or None) when preloaded, else an awaitable from the DataLoader."""
        preloaded = self._preloaded.get(relation_name)
        if preloaded is not None:
            row = preloaded.get(record_id, _MISSING)
            if row is not _MISSING:
                return row
        return self.load(relation_name, record_id)

    def load(self, relation_name: str, record_id: str) -> Awaitable[Any]:
        loader = self._loaders.get(relation_name)
        if loader is None:
            loader = self._loaders[relation_name] = DataLoader(load_fn=self._batch(relation_name))
        return loader.load(record_id)

    def _batch(self, relation_name: str) -> Callable[[Sequence[str]], Awaitable[list[Any]]]:
        relation = queries.relation(relation_name)

        async def load(ids: Sequence[str]) -> list[Any]:
            task = asyncio.current_task()
            if task is not None:
                self._running.add(task)
            try:
                principal = await self._principal()
                async with self._services.database.reader() as conn:
                    rows = await queries.load_related(
                        conn, relation=relation, project_id=principal.project_id, ids=set(ids)
                    )
            finally:
                self._running.discard(task)
            return [rows.get(record_id) for record_id in ids]

        return load
