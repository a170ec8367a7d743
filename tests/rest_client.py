"""Calls the REST endpoints the way the platform's web app and CLI do: `ApiKey` header, JSON body."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from starlette.testclient import TestClient

NO_BODY = object()

# The log's fields and relations as the platform's REST reference names them ("The WhatsApp Log Model"):
# the server may offer more, never fewer or under other names.
REFERENCE_FIELDS = (
    "_id", "createdAt", "updatedAt", "projectId", "toNumber", "fromNumber", "messageText", "statusMessage",
    "whatsAppMessageId", "status", "whatsAppCostInUSDCents", "incidentId", "userId", "alertId", "monitorId",
    "scheduledMaintenanceId", "statusPageId", "statusPageAnnouncementId", "teamId", "onCallDutyPolicyId",
    "onCallDutyPolicyEscalationRuleId", "onCallDutyPolicyScheduleId",
)  # fmt: skip
REFERENCE_RELATIONS = (
    "project", "incident", "user", "alert", "monitor", "scheduledMaintenance", "statusPage",
    "statusPageAnnouncement", "team", "onCallDutyPolicy", "onCallDutyPolicyEscalationRule",
    "onCallDutyPolicySchedule",
)  # fmt: skip


@dataclass
class Rest:
    client: TestClient
    key: str | None = None

    def __call__(
        self,
        method: str,
        path: str,
        body: Any = NO_BODY,
        *,
        key: str | None = None,
        content: str | None = None,
    ) -> httpx.Response:
        """`path` is relative to `/api/whatsapp-log/`; `body` is sent as JSON, `content` as it is."""
        headers = {}
        api_key = key if key is not None else self.key
        if api_key is not None:
            headers["ApiKey"] = api_key
        kwargs: dict[str, Any] = {}
        if body is not NO_BODY:
            kwargs["json"] = body
        elif content is not None:
            kwargs["content"] = content
            headers["Content-Type"] = "application/json"
        url = "/api/whatsapp-log" + (f"/{path}" if path else "")
        return self.client.request(method, url, headers=headers, **kwargs)

    def ok(self, method: str, path: str, body: Any = NO_BODY) -> Any:
        """The JSON of a request that must succeed."""
        response = self(method, path, body)
        assert response.status_code == 200, response.text
        return response.json()

    def ids(self, query: Any, **body: Any) -> list[str]:
        """The `_id`s get-list returns for a `query`, in order (up to 100)."""
        result = self.ok("POST", "get-list?limit=100", {"query": query, **body})
        return [item["_id"] for item in result["data"]]
