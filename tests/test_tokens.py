"""Signed tokens (JWT) beside API keys: `Authorization: Bearer` verified against a JWKS that the test
serves itself, on GraphQL, REST and subscriptions; every bad token answered like an invalid key."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm
from starlette.testclient import TestClient

from graphql_api.cli.commands import main
from graphql_api.http.app import create_app
from graphql_api.settings import Settings
from tests.factories import Factory
from tests.suite import suite_settings
from tests.ws_client import Closed, Socket

ISSUER = "https://id.example.com/"
AUDIENCE = "whatsapp-log-api"
INVALID_TOKEN = "Invalid or expired token."
LOGS = "{ whatsAppLogCount whatsAppLogs { id } }"

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


class SigningKey:
    """A private key of the identity provider, and its public JWK."""

    def __init__(self, alg: str, kid: str) -> None:
        self.alg, self.kid = alg, kid
        self.private: PrivateKey
        if alg == "RS256":
            self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            public = json.loads(RSAAlgorithm.to_jwk(self.private.public_key()))
        elif alg == "ES256":
            self.private = ec.generate_private_key(ec.SECP256R1())
            public = json.loads(ECAlgorithm.to_jwk(self.private.public_key()))
        else:
            self.private = ed25519.Ed25519PrivateKey.generate()
            public = json.loads(OKPAlgorithm.to_jwk(self.private.public_key()))
        self.jwk = {**public, "kid": kid, "use": "sig"}

    def sign(self, claims: dict[str, Any], **header: Any) -> str:
        return jwt.encode(claims, self.private, algorithm=self.alg, headers={"kid": self.kid, **header})

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


@pytest.fixture(scope="module")
def keys() -> dict[str, SigningKey]:
    return {alg: SigningKey(alg, f"key-{alg}") for alg in ("RS256", "ES256", "EdDSA")}


class JwksServer:
    """The identity provider's JWKS endpoint: serves `keys`, counts the times it was read."""

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        self.reads = 0
        self.up = True
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the handler's API
                server.reads += 1
                body = json.dumps({"keys": server.keys}).encode()
                self.send_response(200 if server.up else 503)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}/.well-known/jwks.json"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture
def jwks(keys: dict[str, SigningKey]) -> Iterator[JwksServer]:
    server = JwksServer()
    server.keys = [key.jwk for key in keys.values()]
    yield server
    server.close()


@pytest.fixture
def overrides(jwks: JwksServer) -> dict[str, Any]:
    return {
        "jwks_url": jwks.url,
        "jwt_issuer": ISSUER,
        "jwt_audience": AUDIENCE,
        "jwks_refresh_cooldown_seconds": 0,
    }


def token_settings(database_url: str, jwks_url: str, **changes: Any) -> Settings:
    """A server that takes tokens from `jwks_url`, with the suite's settings (no key cache)."""
    values = {"jwt_issuer": ISSUER, "jwt_audience": AUDIENCE, **changes}
    return suite_settings(database_url, jwks_url=jwks_url, **values)


@pytest.fixture
def project(factory: Factory) -> str:
    project = factory.project("Tokens")
    factory.logs(project, 3)
    factory.logs(factory.project("Other"), 2)
    return project


def claims(project: str, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    values = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "user-1",
        "iat": now,
        "exp": now + 300,
        "project_id": project,
        "permissions": ["ReadWhatsAppLog"],
        **changes,
    }
    return {name: value for name, value in values.items() if value is not None}


def post(client: TestClient, token: str | None, query: str = LOGS, **headers: str) -> dict[str, Any]:
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    response = client.post("/graphql", json={"query": query}, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def refused(body: dict[str, Any]) -> tuple[str, str]:
    assert body.get("data") is None or set(body["data"].values()) == {None}, body
    [error] = body["errors"]
    return error["extensions"]["code"], error["message"]


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA"])
def test_a_token_reads_its_projects_logs_and_only_those(
    client: TestClient, keys: dict[str, SigningKey], project: str, alg: str
) -> None:
    body = post(client, keys[alg].sign(claims(project)))
    assert "errors" not in body, body
    assert body["data"]["whatsAppLogCount"] == len(body["data"]["whatsAppLogs"]) == 3


def test_a_token_reads_the_rest_endpoints(
    client: TestClient, keys: dict[str, SigningKey], project: str
) -> None:
    headers = {"Authorization": f"Bearer {keys['ES256'].sign(claims(project))}"}
    response = client.post("/api/whatsapp-log/count", json={}, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json() == {"count": 3}


def _bad_token(kind: str, keys: dict[str, SigningKey], project: str) -> str:
    rs = keys["RS256"]
    now = int(time.time())
    if kind == "expired":
        return rs.sign(claims(project, exp=now - 120))
    if kind == "not yet valid":
        return rs.sign(claims(project, nbf=now + 120))
    if kind == "wrong audience":
        return rs.sign(claims(project, aud="another-api"))
    if kind == "wrong issuer":
        return rs.sign(claims(project, iss="https://evil.example.com/"))
    if kind == "no expiry":
        return rs.sign(claims(project, exp=None))
    if kind == "unknown kid":
        return jwt.encode(claims(project), rs.private, algorithm="RS256", headers={"kid": "never-published"})
    if kind == "unpublished key":
        # Signed by a key the provider never published, under the kid of one it did.
        return SigningKey("RS256", rs.kid).sign(claims(project))
    if kind == "alg none":
        return f"{b64({'alg': 'none', 'typ': 'JWT', 'kid': rs.kid})}.{b64(claims(project))}."
    if kind == "alg confusion":
        # HS256 with the public key as the HMAC secret: the forgery that RSA-or-HMAC verifiers accept.
        header = b64({"alg": "HS256", "typ": "JWT", "kid": rs.kid})
        payload = b64(claims(project))
        mac = hmac.new(rs.public_pem(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
        return f"{header}.{payload}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    if kind == "key of another algorithm":
        # An ES256 signature under the RSA key's kid.
        return jwt.encode(claims(project), keys["ES256"].private, algorithm="ES256", headers={"kid": rs.kid})
    if kind == "tampered payload":
        header, _, signature = rs.sign(claims(project, permissions=[])).split(".")
        return f"{header}.{b64(claims(project, permissions=['ProjectOwner']))}.{signature}"
    if kind == "missing project claim":
        return rs.sign(claims(project, project_id=None))
    if kind == "permissions not a list":
        return rs.sign(claims(project, permissions="ProjectOwner"))
    assert kind == "not a token"
    return "not.a.token"


BAD_TOKENS = [
    "expired",
    "not yet valid",
    "wrong audience",
    "wrong issuer",
    "no expiry",
    "unknown kid",
    "unpublished key",
    "alg none",
    "alg confusion",
    "key of another algorithm",
    "tampered payload",
    "missing project claim",
    "permissions not a list",
    "not a token",
]


@pytest.mark.parametrize("kind", BAD_TOKENS)
def test_every_bad_token_is_answered_like_an_invalid_key(
    client: TestClient, keys: dict[str, SigningKey], project: str, kind: str
) -> None:
    token = _bad_token(kind, keys, project)
    assert refused(post(client, token)) == ("UNAUTHENTICATED", INVALID_TOKEN)
    response = client.post("/api/whatsapp-log/count", json={}, headers={"Authorization": f"Bearer {token}"})
    assert (response.status_code, response.json()["message"]) == (401, INVALID_TOKEN)


def test_a_token_without_a_read_permission_is_forbidden(
    client: TestClient, keys: dict[str, SigningKey], project: str
) -> None:
    token = keys["RS256"].sign(claims(project, permissions=["ReadIncident"]))
    assert refused(post(client, token))[0] == "FORBIDDEN"


def test_a_clock_a_little_behind_is_forgiven(
    client: TestClient, keys: dict[str, SigningKey], project: str
) -> None:
    now = int(time.time())
    token = keys["EdDSA"].sign(claims(project, exp=now - 10, nbf=now + 10))
    assert "errors" not in post(client, token)


def test_a_key_and_a_token_together_are_refused(
    client: TestClient, factory: Factory, keys: dict[str, SigningKey], project: str
) -> None:
    token = keys["RS256"].sign(claims(project))
    code, message = refused(post(client, token, ApiKey=factory.api_key(project)))
    assert code == "UNAUTHENTICATED"
    assert "not both" in message


def test_api_keys_keep_working_beside_tokens(client: TestClient, factory: Factory, project: str) -> None:
    body = post(client, None, ApiKey=factory.api_key(project))
    assert body["data"]["whatsAppLogCount"] == 3


def test_authorization_without_the_bearer_scheme_says_how(client: TestClient, project: str) -> None:
    body = post(client, None, Authorization="Basic dXNlcjpwYXNz")
    [error] = body["errors"]
    assert error["extensions"] == {
        "code": "UNAUTHENTICATED",
        "hint": "Send the token as `Authorization: Bearer <token>`.",
    }


def test_a_rotated_key_is_fetched_on_its_first_token_and_a_removed_one_stops_working(
    client: TestClient, jwks: JwksServer, keys: dict[str, SigningKey], project: str
) -> None:
    old, new = keys["RS256"], SigningKey("RS256", "key-rotated")
    assert "errors" not in post(client, old.sign(claims(project)))
    assert refused(post(client, new.sign(claims(project))))[0] == "UNAUTHENTICATED"

    jwks.keys = [new.jwk]
    # The new kid is unknown: the set is read again, at once.
    assert "errors" not in post(client, new.sign(claims(project)))
    # The old kid is gone from the set that was just read.
    assert refused(post(client, old.sign(claims(project)))) == ("UNAUTHENTICATED", INVALID_TOKEN)


def test_tokens_with_made_up_kids_cannot_make_the_server_read_the_set_per_request(
    database_url: str, jwks: JwksServer, keys: dict[str, SigningKey], project: str
) -> None:
    with TestClient(
        create_app(token_settings(database_url, jwks.url, jwks_refresh_cooldown_seconds=60))
    ) as client:
        assert "errors" not in post(client, keys["ES256"].sign(claims(project)))
        for _ in range(20):
            made_up = jwt.encode(
                claims(project), keys["ES256"].private, algorithm="ES256", headers={"kid": uuid.uuid4().hex}
            )
            assert refused(post(client, made_up))[0] == "UNAUTHENTICATED"
    # The first token read the set; the made-up kids get one more read per cooldown at most.
    assert jwks.reads <= 2


def test_a_jwks_that_cannot_be_read_is_service_unavailable_not_a_bad_token(
    client: TestClient, jwks: JwksServer, keys: dict[str, SigningKey], project: str
) -> None:
    jwks.up = False
    assert refused(post(client, keys["RS256"].sign(claims(project))))[0] == "SERVICE_UNAVAILABLE"
    headers = {"Authorization": f"Bearer {keys['RS256'].sign(claims(project))}"}
    assert client.post("/api/whatsapp-log/count", json={}, headers=headers).status_code == 503
    jwks.up = True
    assert "errors" not in post(client, keys["RS256"].sign(claims(project)))


def test_a_jwks_file_works_like_a_url(
    database_url: str, tmp_path: Path, keys: dict[str, SigningKey], project: str
) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [keys["EdDSA"].jwk]}))
    with TestClient(create_app(token_settings(database_url, str(path)))) as client:
        assert post(client, keys["EdDSA"].sign(claims(project)))["data"]["whatsAppLogCount"] == 3
        assert refused(post(client, keys["RS256"].sign(claims(project))))[0] == "UNAUTHENTICATED"


def test_a_token_opens_subscriptions_and_its_expiry_ends_them(
    database_url: str, jwks: JwksServer, keys: dict[str, SigningKey], project: str
) -> None:
    settings = token_settings(database_url, jwks.url, jwt_leeway_seconds=0)
    token = keys["ES256"].sign(claims(project, exp=int(time.time()) + 3))
    stream = "subscription { whatsAppLogStream { cursor logs { id } } }"
    with TestClient(create_app(settings)) as client:
        with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as session:
            socket = Socket(session)
            assert socket.init({"Authorization": f"Bearer {token}"}) == {"type": "connection_ack"}
            socket.subscribe("1", stream)
            assert socket.next_data("1")["whatsAppLogStream"]["logs"] == []
            message = socket.message("1", seconds=8)
            assert message["payload"]["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", message
        with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as session:
            with pytest.raises(Closed) as closed:
                Socket(session).init({"Authorization": f"Bearer {token}"})
            assert closed.value.code == 4403


def test_without_jwks_url_a_bearer_token_gets_the_api_key_hint(
    database_url: str, keys: dict[str, SigningKey], project: str
) -> None:
    with TestClient(create_app(suite_settings(database_url))) as client:
        [error] = post(client, keys["RS256"].sign(claims(project)))["errors"]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert "ApiKey" in error["extensions"]["hint"]


def test_jwks_url_without_issuer_and_audience_is_one_line_before_the_server_starts(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("JWKS_URL", "https://id.example.com/.well-known/jwks.json")
    monkeypatch.setenv("JWT_AUDIENCE", AUDIENCE)
    assert main(["serve"]) != 0
    [line] = capsys.readouterr().err.strip().splitlines()
    assert "JWT_ISSUER and JWT_AUDIENCE" in line
