"""The attack benchmark's WebSocket attacks: a graphql-transport-ws session instead of a POST.

The session opens a socket to /graphql, sends connection_init with the key, then the attack's
messages, and waits until every subscription it started has had its first answer (a `next` or an
`error`; without subscriptions, any message but an ack or a ping), or the server closes the socket.
Its answer tallies what came back, say "100 next, 200 RATE_LIMITED" or "closed 1009".
"""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.sync.client import connect

from bench.attack_documents import Attack
from bench.server import HOST, Served

PROTOCOLS: Any = ["graphql-transport-ws"]


def _outcome(message: dict[str, Any]) -> str:
    """`next` for data, else the first error's code."""
    payload = message.get("payload")
    errors = payload if isinstance(payload, list) else (payload or {}).get("errors")
    if not errors:
        return str(message["type"])
    return str((errors[0].get("extensions") or {}).get("code", "error"))


def send(server: Served, attack: Attack, key: str, timeout: float) -> dict[str, Any]:
    """One session: the answer, wall milliseconds, and whether it ran out of time."""
    messages = json.loads(attack.body)
    waiting = {m["id"] for m in messages if isinstance(m, dict) and m.get("type") == "subscribe"}
    tally: Counter[str] = Counter()
    started = time.monotonic()
    timed_out = False
    try:
        with connect(f"ws://{HOST}:{server.port}/graphql", subprotocols=PROTOCOLS, open_timeout=timeout,
                     close_timeout=1, max_size=None) as ws:  # fmt: skip
            ws.send(
                json.dumps({"type": "connection_init", "payload": {"ApiKey": key} if attack.keyed else {}})
            )
            for message in messages:
                ws.send(message if isinstance(message, str) else json.dumps(message))
            # Until each subscription has its first answer; without any, until the server says something.
            while waiting or not tally:
                left = timeout - (time.monotonic() - started)
                if left <= 0:
                    raise TimeoutError
                answer = json.loads(ws.recv(left))
                if answer.get("type") in ("connection_ack", "ping"):
                    continue
                if answer.get("id") in waiting or not waiting:
                    waiting.discard(answer.get("id"))
                    tally[_outcome(answer)] += 1
    except ConnectionClosed as exc:
        tally[f"closed {exc.rcvd.code if exc.rcvd else 'without a close frame'}"] += 1
    except TimeoutError:
        tally[f"no answer in {timeout:g} s"] += 1
        timed_out = True
    except (OSError, InvalidHandshake) as exc:
        tally[f"connection failed: {type(exc).__name__}"] += 1
    answer_text = ", ".join(f"{count} {what}" for what, count in tally.items()) or "nothing"
    return {"answer": answer_text, "wall_ms": (time.monotonic() - started) * 1000, "timed_out": timed_out}
