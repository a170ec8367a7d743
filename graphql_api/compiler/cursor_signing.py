"""Signing the cursors of compiled connections: the statement writes each cursor as a marker and the
row's sort values and id; here, each one becomes the cursor the regular path would have made.

The marker carries a random token of this process, so no stored text can pass for one.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Sequence

from graphql_api.data.cursors import cursor_payload, signed
from graphql_api.data.filters import SortKey


def new_marker() -> str:
    return f"~~cursor{secrets.token_hex(8)}~"


def sign_cursors(data: bytes, *, marker: str, secret: str, keys: Sequence[SortKey], project_id: str) -> bytes:
    """`data` with every marked cursor (a JSON string: marker, then a JSON array) signed."""
    pattern = re.compile(b'"' + re.escape(marker.encode()) + rb'((?:[^"\\]|\\.)*)"')

    def sign(match: re.Match[bytes]) -> bytes:
        # The rest of the JSON string is the database's JSON array of the sort values and the id.
        *values, last_id = json.loads(json.loads(b'"' + match.group(1) + b'"'))
        payload = cursor_payload(keys=keys, project_id=project_id, values=values, last_id=last_id)
        return b'"' + signed(secret, payload).encode() + b'"'

    return pattern.sub(sign, data)
