"""Persisted documents: Apollo's automatic persisted queries (APQ) and the trusted-documents mode.

A request names its document by `extensions.persistedQuery.sha256Hash` (Apollo) or `documentId`
(GraphQL Code Generator's client preset, the GraphQL-over-HTTP persisted documents proposal) and this
module turns the name back into the document's text, before anything parses it. See
docs/persisted-queries.md.

- APQ (PERSISTED_QUERIES, on): a hash the process holds runs its document; an unknown one answers
  PERSISTED_QUERY_NOT_FOUND and the client sends hash and document, which are checked (SHA-256) and
  remembered once the document ran. The store is per process, an LRU bounded in entries and bytes:
  the server's database connections are read-only, documents are public text that the client resends
  in one round trip, and no request can make the database grow.
- Trusted documents (TRUSTED_DOCUMENTS=manifest.json): only the manifest's documents run, by id, by
  hash, or sent in full with the same text; anything else is refused before parsing.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graphql_api.errors import (
    BadUserInput,
    PersistedQueryNotFound,
    PersistedQueryNotSupported,
    PersistedQueryRequired,
)
from graphql_api.settings import Settings

_SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")
# Manifest ids are hashes or short names; anything longer is refused without a lookup.
MAX_ID_LENGTH = 200
APOLLO_FORMAT = "apollo-persisted-query-manifest"


def sha256_hex(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


@dataclass(frozen=True)
class Resolved:
    """A request's document text, its other extensions, and a (hash, document) to remember once run."""

    query: str | None
    extensions: dict[str, Any] | None
    registration: tuple[str, str] | None = None


class DocumentStore:
    """APQ's documents by SHA-256, least recently used evicted past `max_entries` or `max_bytes`."""

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.bytes = 0
        self._documents: OrderedDict[str, str] = OrderedDict()

    def __len__(self) -> int:
        return len(self._documents)

    def get(self, sha: str) -> str | None:
        document = self._documents.get(sha)
        if document is not None:
            self._documents.move_to_end(sha)
        return document

    def put(self, sha: str, document: str) -> None:
        size = len(document.encode())
        if sha in self._documents or size > self.max_bytes:
            return
        self._documents[sha] = document
        self.bytes += size
        while len(self._documents) > self.max_entries or self.bytes > self.max_bytes:
            _, evicted = self._documents.popitem(last=False)
            self.bytes -= len(evicted.encode())


class ManifestError(ValueError):
    pass


def load_manifest(path: str) -> dict[str, str]:
    """The documents of a manifest, by id and by the SHA-256 of their text.

    Two formats: GraphQL Code Generator's client preset (`persisted-documents.json`, `{id: document}`)
    and Apollo's persisted query manifest (`{"format": "apollo-persisted-query-manifest", "version": 1,
    "operations": [{"id", "name", "type", "body"}]}`)."""
    name = f"TRUSTED_DOCUMENTS ({path})"
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ManifestError(f"{name}: cannot read the manifest: {exc.strerror}") from None
    except ValueError as exc:
        raise ManifestError(f"{name}: not a JSON file: {exc}") from None
    if not isinstance(raw, dict):
        raise ManifestError(f"{name}: expected a JSON object")
    if raw.get("format") == APOLLO_FORMAT:
        pairs = _apollo_operations(name, raw)
    else:
        if not all(isinstance(value, str) for value in raw.values()):
            raise ManifestError(
                f"{name}: expected {{id: document}} (GraphQL Code Generator) or Apollo's "
                f'{{"format": "{APOLLO_FORMAT}", ...}}'
            )
        pairs = list(raw.items())
    documents: dict[str, str] = {}
    for key, body in pairs:
        documents[key] = body
        # The client preset writes `sha256:<hex>` keys; requests may name them either way.
        prefix, _, rest = key.partition(":")
        if prefix == "sha256" and _SHA256_HEX.fullmatch(rest):
            documents.setdefault(rest.lower(), body)
        documents.setdefault(sha256_hex(body), body)
    return documents


def _apollo_operations(name: str, raw: Mapping[str, Any]) -> list[tuple[str, str]]:
    if raw.get("version") != 1 or not isinstance(raw.get("operations"), list):
        raise ManifestError(f"{name}: an Apollo manifest of version 1 with a list of `operations`")
    pairs = []
    for index, operation in enumerate(raw["operations"]):
        if not (
            isinstance(operation, dict)
            and isinstance(operation.get("id"), str)
            and isinstance(operation.get("body"), str)
        ):
            raise ManifestError(f"{name}: operations[{index}] needs a string `id` and `body`")
        pairs.append((operation["id"], operation["body"]))
    return pairs


class PersistedDocuments:
    """What every view of one app consults: the APQ store, or the trusted manifest."""

    def __init__(self, *, apq: bool, store: DocumentStore, trusted: dict[str, str] | None) -> None:
        self.apq = apq
        self.store = store
        self.trusted = trusted

    @classmethod
    def from_settings(cls, settings: Settings) -> PersistedDocuments:
        trusted = load_manifest(settings.trusted_documents) if settings.trusted_documents else None
        store = DocumentStore(settings.persisted_queries_max_entries, settings.persisted_queries_max_bytes)
        return cls(apq=settings.persisted_queries, store=store, trusted=trusted)

    def resolve(self, query: object, extensions: object, document_id: object = None) -> Resolved:
        """The request's document, or an ApiError (its code in errors.py) before anything parses it."""
        if not isinstance(extensions, dict) or "persistedQuery" not in extensions:
            if document_id is None:
                return self._full_document(query, extensions)
            key = _document_id(document_id)
            rest = extensions if isinstance(extensions, dict) else None
        else:
            key = _persisted_hash(extensions["persistedQuery"])
            rest = {name: value for name, value in extensions.items() if name != "persistedQuery"} or None
        if query is not None and not isinstance(query, str):
            return Resolved(None, rest)  # Strawberry refuses the request's own `query`
        if self.trusted is not None:
            document = self.trusted.get(key)
            if document is None:
                raise PersistedQueryNotFound(
                    "PersistedQueryNotFound: no document of this server's manifest has this id."
                )
            if query is not None and query != document:
                raise BadUserInput("The document sent is not the manifest's document of this id.")
            return Resolved(document, rest)
        if not self.apq:
            raise PersistedQueryNotSupported()
        if query is None:
            document = self.store.get(key)
            if document is None:
                raise PersistedQueryNotFound()
            return Resolved(document, rest)
        if sha256_hex(query) != key:
            raise BadUserInput(
                "provided sha does not match query: extensions.persistedQuery.sha256Hash must be the "
                "SHA-256 (hexadecimal) of the document's UTF-8 text."
            )
        return Resolved(query, rest, registration=(key, query))

    def _full_document(self, query: object, extensions: object) -> Resolved:
        rest = extensions if isinstance(extensions, dict) else None
        if self.trusted is None or not isinstance(query, str):
            return Resolved(query if isinstance(query, str) else None, rest)
        if self.trusted.get(sha256_hex(query)) != query:
            raise PersistedQueryRequired()
        return Resolved(query, rest)

    def remember(self, registration: tuple[str, str] | None) -> None:
        """Store a registered document, once it went through the whole pipeline (it parsed, passed
        validation and every limit): an invalid document never takes a place in the store."""
        if registration is not None and self.trusted is None:
            self.store.put(*registration)


def _persisted_hash(persisted: object) -> str:
    if not isinstance(persisted, dict) or persisted.get("version") != 1:
        raise BadUserInput(
            'extensions.persistedQuery must be {"version": 1, "sha256Hash": "<64 hex digits>"}.'
        )
    sha = persisted.get("sha256Hash")
    if not isinstance(sha, str) or not _SHA256_HEX.fullmatch(sha):
        raise BadUserInput("extensions.persistedQuery.sha256Hash must be 64 hexadecimal digits (SHA-256).")
    return sha.lower()


def _document_id(document_id: object) -> str:
    if not isinstance(document_id, str) or not 0 < len(document_id) <= MAX_ID_LENGTH:
        raise BadUserInput(f"documentId must be a string of 1 to {MAX_ID_LENGTH} characters.")
    # The GraphQL-over-HTTP proposal's prefixed form, `sha256:<hex>`.
    prefix, _, rest = document_id.partition(":")
    return rest.lower() if prefix == "sha256" and _SHA256_HEX.fullmatch(rest) else document_id
