"""Per-request DataLoaders: every relation of a page is fetched in one `IN` query per type."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from strawberry.dataloader import DataLoader

from graphql_api import queries
from graphql_api.auth import Principal
from graphql_api.services import Services


class Loaders:
    """One DataLoader per relation, made on first use and scoped to the caller's project."""

    def __init__(self, services: Services, principal: Callable[[], Awaitable[Principal]]) -> None:
        self._services = services
        self._principal = principal
        self._loaders: dict[str, DataLoader[str, Any]] = {}

    def load(self, relation_name: str, record_id: str) -> Awaitable[Any]:
        loader = self._loaders.get(relation_name)
        if loader is None:
            loader = self._loaders[relation_name] = DataLoader(load_fn=self._batch(relation_name))
        return loader.load(record_id)

    def _batch(self, relation_name: str) -> Callable[[Sequence[str]], Awaitable[list[Any]]]:
        relation = queries.relation(relation_name)

        async def load(ids: Sequence[str]) -> list[Any]:
            principal = await self._principal()
            async with self._services.database.reader() as conn:
                rows = await queries.load_related(
                    conn, relation=relation, project_id=principal.project_id, ids=set(ids)
                )
            return [rows.get(record_id) for record_id in ids]

        return load
