"""Opaque, tamper-checked cursors for keyset pagination and for whatsAppLogStream.

A cursor carries the sort order, the project and the last row's sort values and id, signed with an
HMAC under the deployment's `CURSOR_SECRET`. Anything else (an edited, truncated or forged cursor, one
from another sort order or another project's key) is refused as BAD_USER_INPUT, so the keyset query
only ever sees values it produced itself.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Sequence
from typing import Any

from graphql_api.data.fields import SORTABLE
from graphql_api.data.filters import SortKey, sort_keys
from graphql_api.errors import BadUserInput

_MAC_BYTES = 16
MAX_CURSOR_LENGTH = 2000


def sort_spec(keys: Sequence[SortKey]) -> str:
    """A short text naming the sort order, such as `status+createdAt-`."""
    return "".join(f"{k.field}{'-' if k.descending else '+'}" for k in sort_keys(keys))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, payload: bytes) -> bytes:
    return hmac.new(secret.encode(), payload, hashlib.sha256).digest()[:_MAC_BYTES]


def encode_cursor(secret: str, *, keys: Sequence[SortKey], project_id: str, row: Any) -> str:
    """The cursor just after `row` (any object whose attributes are the sort columns and `id`)."""
    keys = sort_keys(keys)
    values = [getattr(row, SORTABLE[k.field].column.key) for k in keys]
    return signed(secret, cursor_payload(keys=keys, project_id=project_id, values=values, last_id=row.id))


def cursor_payload(*, keys: Sequence[SortKey], project_id: str, values: Sequence[Any], last_id: str) -> bytes:
    """What a cursor says: the sort order, the project, the row's sort values (dates in ISO) and id."""
    dumped = [SORTABLE[k.field].kind.dump(v) for k, v in zip(sort_keys(keys), values, strict=True)]
    return json.dumps([sort_spec(keys), project_id, dumped, last_id], separators=(",", ":")).encode()


def signed(secret: str, payload: bytes) -> str:
    """The cursor for a payload (the compiled path signs the payloads its SQL built)."""
    return f"{_b64(payload)}.{_b64(_mac(secret, payload))}"


def _verified_payload(secret: str, cursor: object, invalid: BadUserInput) -> Any:
    """The JSON a cursor signed under `secret` carries; raises `invalid` for anything else."""
    if not isinstance(cursor, str) or len(cursor) > MAX_CURSOR_LENGTH or cursor.count(".") != 1:
        raise invalid
    body, mac = cursor.split(".")
    try:
        payload, signature = _unb64(body), _unb64(mac)
    except (binascii.Error, ValueError):
        raise invalid from None
    if not hmac.compare_digest(signature, _mac(secret, payload)):
        raise invalid
    return json.loads(payload)


def decode_cursor(
    secret: str, cursor: str, *, keys: Sequence[SortKey], project_id: str, argument: str
) -> tuple[list[Any], str]:
    """The sort values and id a cursor points at; BAD_USER_INPUT unless this query made it."""
    invalid = BadUserInput(f"`{argument}` is not a cursor of this query; start again without it.")
    spec, owner, values, last_id = _verified_payload(secret, cursor, invalid)
    if owner != project_id:
        raise invalid
    keys = sort_keys(keys)
    if spec != sort_spec(keys):
        raise BadUserInput(
            f"`{argument}` is a cursor of another sort order ({spec}); "
            "pass the same `orderBy` as the page it came from, or start again without it."
        )
    return [SORTABLE[k.field].kind.load(v) for k, v in zip(keys, values, strict=True)], str(last_id)


# Stream cursors are signed under a key of their own: neither kind of cursor passes for the other.
_FEED = "whatsAppLogStream:"


def where_digest(where: object) -> str:
    """A short fingerprint of a filter in its neutral form (frozen dataclasses: their repr is the value)."""
    return hashlib.sha256(repr(where).encode()).hexdigest()[:16]


def encode_feed_cursor(
    secret: str, *, project_id: str, where: object, position: int, last_id: str | None
) -> str:
    """A whatsAppLogStream cursor: the project, the filter's fingerprint and the place in the feed."""
    payload = ["feed", project_id, where_digest(where), position, last_id]
    return signed(_FEED + secret, json.dumps(payload, separators=(",", ":")).encode())


def decode_feed_cursor(secret: str, cursor: str, *, project_id: str, where: object) -> tuple[int, str | None]:
    """The place a stream cursor points at; BAD_USER_INPUT unless a stream with this `where` made it for
    this project."""
    invalid = BadUserInput(
        "`after` is not a cursor of a whatsAppLogStream with this `where`; start again without it."
    )
    decoded = _verified_payload(_FEED + secret, cursor, invalid)
    if not (isinstance(decoded, list) and len(decoded) == 5 and decoded[0] == "feed"):
        raise invalid
    _, owner, digest, position, last_id = decoded
    if owner != project_id or digest != where_digest(where):
        raise invalid
    return int(position), None if last_id is None else str(last_id)
