"""The attack benchmark's requests: the worst document of each class of issue 12, built here.

Each stays within the server's default shape limits where the class allows it (MAX_TOKENS 2,000,
MAX_ROOT_FIELDS 10, MAX_ALIASES 30, MAX_BODY_BYTES 64 KB), so that what it costs is the server's own
work, not a refusal of its size. Strings are drawn from a fixed seed: every run sends the same bytes.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import random
import shutil
import string
import tempfile
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from graphql import Source
from graphql.language.lexer import Lexer
from graphql.language.token_kind import TokenKind

from bench import queries as q

GRAPHQL = "/graphql"
# graphql-transport-ws at /graphql: the body is a JSON list of the client's messages after
# connection_init (a string is sent as it is), see bench/attack_sockets.py.
SOCKET = "ws:/graphql"
GET_LIST = "/api/whatsapp-log/get-list"
FRAGMENT_LEVELS = 40
# A cursor the server cannot have signed: the compiled path hands the whole request to the regular one.
BAD_CURSOR = "bad"
TEXT_FIELDS = ("messageText", "toNumber", "fromNumber", "statusMessage", "whatsAppMessageId", "status")


@dataclass(frozen=True)
class Attack:
    name: str  # the figure's name in the JSON
    issue_class: int  # the issue's numbering; 0 for the baseline
    title: str
    path: str
    body: bytes
    keyed: bool = True  # sends the largest project's API key
    batch: bool = False  # a JSON array of operations: sent only when the server allows batching
    method: str = "POST"  # GET sends no body: the document is in `path`'s query string
    headers: tuple[tuple[str, str], ...] = ()  # more request headers
    env: tuple[tuple[str, str], ...] = ()  # settings of the server it runs against (default: none)

    @property
    def tokens(self) -> int | None:
        """Lexical tokens of the GraphQL document (of one operation, for a batch), as MAX_TOKENS counts."""
        if self.path != GRAPHQL:
            return None
        payload = json.loads(self.body)
        query = (payload[0] if isinstance(payload, list) else payload).get("query")
        if query is None:  # a persisted query's hash alone
            return None
        lexer, count = Lexer(Source(query)), 0
        while lexer.advance().kind is not TokenKind.EOF:
            count += 1
        return count


def _graphql(query: str, variables: dict[str, Any] | None = None) -> bytes:
    payload: dict[str, Any] = {"query": query}
    if variables is not None:
        payload["variables"] = variables
    return json.dumps(payload, separators=(",", ":")).encode()


def _words(count: int, length: int, seed: int) -> list[str]:
    """Lower-case strings that almost never occur in the seeded texts: every row is read, none matches."""
    rng = random.Random(seed)
    return ["".join(rng.choices(string.ascii_lowercase, k=length)) for _ in range(count)]


def fragment_chain(levels: int = FRAGMENT_LEVELS) -> str:
    """F0 spreads F1 twice, F1 spreads F2 twice, ...: 2^(levels-1) paths to the last one's `id`."""
    chain = [f"fragment F{i} on WhatsAppLog {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels - 1)]
    return " ".join([*chain, f"fragment F{levels - 1} on WhatsAppLog {{ id }}"])


def _fan_out() -> list[Attack]:
    fragments = fragment_chain()
    return [
        Attack(
            "fanout_list",
            1,
            f"fragment fan-out, {FRAGMENT_LEVELS} levels, whatsAppLogs",
            GRAPHQL,
            _graphql(f"{{ whatsAppLogs(limit: 1) {{ ...F0 }} }} {fragments}"),
        ),
        Attack(
            "fanout_bad_cursor",
            1,
            f"fragment fan-out, {FRAGMENT_LEVELS} levels, bad cursor",
            GRAPHQL,
            # The connection's bad cursor hands the whole request to the regular path, where the
            # list's resolver reads its selection (the connection fails before reading its own).
            _graphql(
                f"{{ whatsAppLogs(limit: 1) {{ ...F0 }} "
                f'handover: whatsAppLogsConnection(first: 1, after: "{BAD_CURSOR}") '
                "{ nodes { ...F0 } } } "
                f"{fragments}"
            ),
        ),
    ]


def _slow_sql_regular_path() -> list[Attack]:
    # Nine slow roots and a bad cursor: root fields at MAX_ROOT_FIELDS, the whole request on the
    # regular path (the compiler declines a document when one root's arguments are invalid).
    slow = " ".join(
        f'r{i}: whatsAppLogs(where: {{messageText: {{contains: "{word}"}}}}, '
        f"orderBy: [{{toNumber: ASC}}], limit: 100) {{ id }}"
        for i, word in enumerate(_words(9, 2, seed=2))
    )
    handover = f'handover: whatsAppLogsConnection(first: 1, after: "{BAD_CURSOR}") {{ nodes {{ id }} }}'
    rest = {
        "query": {"messageText": {"_type": "Search", "value": "zz"}},
        "sort": {"toNumber": "ASC"},
        "limit": 100,
    }
    return [
        Attack(
            "slow_sql_rest",
            2,
            "REST get-list: Search text, sort toNumber",
            GET_LIST,
            json.dumps(rest).encode(),
        ),
        Attack(
            "slow_sql_regular",
            2,
            "9 roots contains, sort toNumber, bad cursor",
            GRAPHQL,
            _graphql(f"{{ {slow} {handover} }}"),
        ),
    ]


def _cheap_but_expensive() -> list[Attack]:
    terms = ", ".join(f'{{messageText: {{contains: "{w}"}}}}' for w in _words(20, 3, seed=3))
    roots = " ".join(
        f'r{i}: whatsAppLogs(where: {{messageText: {{contains: "x"}}}}, '
        f"orderBy: [{{toNumber: ASC}}], limit: 100) {{ id }}"
        for i in range(10)
    )
    rest = {
        "query": {
            field: {"_type": "NotContains", "value": word}
            for field, word in zip(TEXT_FIELDS, _words(len(TEXT_FIELDS), 3, seed=4), strict=True)
        },
        "sort": {"toNumber": "ASC"},
        "skip": 100_000,
        "limit": 10,
    }
    return [
        Attack(
            "count_or_contains",
            3,
            "whatsAppLogCount, or of 20 contains",
            GRAPHQL,
            _graphql(f"{{ whatsAppLogCount(where: {{or: [{terms}]}}) }}"),
        ),
        Attack(
            "roots_contains_sort",
            3,
            "10 roots contains x, sort toNumber, limit 100",
            GRAPHQL,
            _graphql(f"{{ {roots} }}"),
        ),
        Attack(
            "rest_not_contains_skip",
            3,
            "REST: 6 NotContains, sort toNumber, skip 100000",
            GET_LIST,
            json.dumps(rest).encode(),
        ),
    ]


def _validation_before_auth() -> list[Attack]:
    duplicates = " ".join(["incident { title id }"] * 330)
    query = f"{{ whatsAppLogs(limit: 1) {{ {duplicates} }} }}"
    return [
        Attack(
            "duplicates_no_key",
            4,
            "330 x incident { title id }, no key",
            GRAPHQL,
            _graphql(query),
            keyed=False,
        ),
        Attack(
            "duplicates_batch_no_key",
            4,
            "the same, a batch of 8, no key",
            GRAPHQL,
            b"[" + b",".join([_graphql(query)] * 8) + b"]",
            keyed=False,
            batch=True,
        ),
    ]


def _statement_building() -> list[Attack]:
    condition = {"or": [{"messageText": {"contains": w}} for w in _words(900, 4, seed=5)]}
    roots = " ".join(f"c{i}: whatsAppLogCount(where: $f)" for i in range(10))
    return [
        Attack(
            "or_900_variable",
            5,
            "or of 900 contains in a variable, 10 roots",
            GRAPHQL,
            _graphql(f"query ($f: WhatsAppLogFilter) {{ {roots} }}", {"f": condition}),
        )
    ]


def _subscribe(op: int, query: str) -> dict[str, Any]:
    return {"id": str(op), "type": "subscribe", "payload": {"query": query}}


def _subscriptions() -> list[Attack]:
    terms = ", ".join(f'{{messageText: {{contains: "{w}"}}}}' for w in _words(20, 3, seed=6))
    stream = (
        f"subscription {{ whatsAppLogStream(where: {{or: [{terms}]}}, batchSize: 100) "
        "{ cursor logs { id messageText incident { title } monitor { name } } } }"
    )
    fan_out = f"subscription {{ whatsAppLogStream {{ logs {{ ...F0 }} }} }} {fragment_chain()}"
    return [
        Attack(
            "ws_subscribe_flood",
            6,
            "300 subscriptions, or of 20 contains, one socket",
            SOCKET,
            json.dumps([_subscribe(op, stream) for op in range(300)]).encode(),
        ),
        Attack(
            "ws_oversized_message",
            6,
            "one 10 MB WebSocket message",
            SOCKET,
            json.dumps(["x" * 10**7]).encode(),
        ),
        Attack(
            "ws_fanout",
            6,
            f"fragment fan-out, {FRAGMENT_LEVELS} levels, a subscription",
            SOCKET,
            json.dumps([_subscribe(1, fan_out)]).encode(),
        ),
    ]


def _persisted(document: str | None, sha: str) -> bytes:
    payload: dict[str, Any] = {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": sha}}}
    if document is not None:
        payload["query"] = document
    return json.dumps(payload, separators=(",", ":")).encode()


def _persisted_documents() -> list[Attack]:
    """Issue 17's persisted queries (class 7): hashes the store must refuse or look up at no cost, and a
    registration of the largest document a body holds (checked, run under every limit, then stored)."""
    rng = random.Random(7)
    unknown = "".join(rng.choices("0123456789abcdef", k=64))
    aliases = " ".join(
        f'a{i}: whatsAppLogs(limit: 1, where: {{messageText: {{contains: "{w}"}}}}) {{ id }}'
        for i, w in enumerate(_words(10, 3, seed=8))
    )
    large = f"query Large {{ {aliases} }}"
    return [
        Attack("apq_hash_10kb", 7, "APQ: a 10 KB sha256Hash", GRAPHQL, _persisted(None, "a" * 10_000)),
        Attack("apq_unknown_hash", 7, "APQ: an unknown hash", GRAPHQL, _persisted(None, unknown)),
        Attack(
            "apq_register_mismatch",
            7,
            "APQ: a 60 KB document whose hash does not match",
            GRAPHQL,
            _persisted("{ __typename }" + " " * 60_000, unknown),
        ),
        Attack(
            "apq_register",
            7,
            "APQ: registering a document of 10 root fields",
            GRAPHQL,
            _persisted(large, hashlib.sha256(large.encode()).hexdigest()),
        ),
    ]


def _tokens() -> list[Attack]:
    """Issue 17's bearer tokens (class 8), against a server with a JWKS file: an 8 KB token that is no
    JWT, and a well-formed ES256 token under a kid the set does not have (the set is read again at most
    once per JWKS_REFRESH_COOLDOWN_SECONDS, so this costs a signature check at most)."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from jwt.algorithms import ECAlgorithm

    directory = Path(tempfile.mkdtemp(prefix="bench-jwks-"))
    atexit.register(shutil.rmtree, directory, True)
    published = ec.generate_private_key(ec.SECP256R1())
    jwks = {"keys": [{**json.loads(ECAlgorithm.to_jwk(published.public_key())), "kid": "published"}]}
    (directory / "jwks.json").write_text(json.dumps(jwks))
    env = (
        ("JWKS_URL", str(directory / "jwks.json")),
        ("JWT_ISSUER", "https://id.example.com/"),
        ("JWT_AUDIENCE", "bench"),
    )
    claims = {"iss": "https://id.example.com/", "aud": "bench", "exp": 4_000_000_000, "project_id": "x"}
    made_up = jwt.encode(claims, ec.generate_private_key(ec.SECP256R1()), "ES256", headers={"kid": "made-up"})
    garbage = "".join(random.Random(8).choices(string.ascii_letters, k=8000))
    body = _graphql(q.page(10))
    return [
        Attack("jwt_8kb_garbage", 8, "tokens: an 8 KB bearer token that is no JWT", GRAPHQL, body,
               keyed=False, headers=(("Authorization", f"Bearer {garbage}"),), env=env),
        Attack("jwt_unknown_kid", 8, "tokens: an ES256 token under a kid the JWKS lacks", GRAPHQL, body,
               keyed=False, headers=(("Authorization", f"Bearer {made_up}"),), env=env),
    ]  # fmt: skip


def _http_caching() -> list[Attack]:
    """Issue 17's HTTP caching and compression (class 9): a GET whose If-None-Match lists 1,000 tags,
    and the page of 100 compressed with Brotli, the slowest of the three encodings."""
    page = "/graphql?" + urllib.parse.urlencode({"query": q.page(10)})
    tags = ", ".join(f'"{i:024d}"' for i in range(1_000))
    return [
        Attack("if_none_match_1000_tags", 9, "caching: a GET with 1,000 tags in If-None-Match", page, b"",
               method="GET", headers=(("If-None-Match", tags),)),
        Attack("page_100_brotli", 9, "compression: the page of 100 with Accept-Encoding: br", GRAPHQL,
               _graphql(q.page(100)), headers=(("Accept-Encoding", "br"),)),
    ]  # fmt: skip


def _fast_lane() -> list[Attack]:
    """Issue 18's fast lane (class 10): the largest body it learns (8 KB), of 10 pages of 100 logs with
    every scalar field, sent again and again, so that from the third time the lane answers it before
    any layer: under the same work budget and time limit, it costs what the statements cost."""
    roots = " ".join(f"r{i}: whatsAppLogs(limit: 100) {{ {q.SCALARS} }}" for i in range(10))
    document = f"{{ {roots} }}"
    padded = document + " " * (8192 - len(_graphql(document)))
    body = _graphql(padded)
    assert len(body) == 8192, len(body)
    return [
        Attack(
            "fast_lane_8kb_repeated",
            10,
            "fast lane: an 8 KB body of 10 pages of 100, repeated",
            GRAPHQL,
            body,
        )
    ]


def baseline() -> Attack:
    return Attack("baseline", 0, "baseline: the page of 10 (bench/queries.py)", GRAPHQL, _graphql(q.page(10)))


def attacks() -> list[Attack]:
    """The baseline, then the worst document of each class, in the issue's order."""
    return [
        baseline(),
        *_fan_out(),
        *_slow_sql_regular_path(),
        *_cheap_but_expensive(),
        *_validation_before_auth(),
        *_statement_building(),
        *_subscriptions(),
        *_persisted_documents(),
        *_tokens(),
        *_http_caching(),
        *_fast_lane(),
    ]


# A batch of two trivial operations: 200 when the server takes batches, 400 when it refuses them.
BATCH_PROBE = b'[{"query":"{ __typename }"},{"query":"{ __typename }"}]'
