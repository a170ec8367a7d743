"""The errors users see, with their stable codes (GraphQL `extensions.code`) and REST statuses."""

from __future__ import annotations

from typing import Any, ClassVar

READ_PERMISSION_NAMES = (
    "Project Owner",
    "Project Admin",
    "Project Member",
    "Read WhatsApp Log",
    "Read All Project Resources",
)

INVALID_KEY_MESSAGE = "Invalid or missing API key."
# Every refused bearer token, whatever the reason (docs/tokens.md).
INVALID_TOKEN_MESSAGE = "Invalid or expired token."
FORBIDDEN_MESSAGE = (
    "You do not have permissions to read WhatsApp Log. You need one of these permissions: "
    + ", ".join(READ_PERMISSION_NAMES)
)
UNEXPECTED_MESSAGE = "Unexpected error."

# Every code a response can carry.
CODES = (
    "UNAUTHENTICATED",
    "FORBIDDEN",
    "BAD_USER_INPUT",
    "GRAPHQL_PARSE_FAILED",
    "GRAPHQL_VALIDATION_FAILED",
    "QUERY_TOO_COMPLEX",
    "RATE_LIMITED",
    "TIMEOUT",
    "SERVICE_UNAVAILABLE",
    "INTERNAL",
    # Persisted queries and trusted documents (docs/persisted-queries.md).
    "PERSISTED_QUERY_NOT_FOUND",
    "PERSISTED_QUERY_NOT_SUPPORTED",
    "PERSISTED_QUERY_REQUIRED",
)


class ApiError(Exception):
    """An error whose message is safe to show; `code` and `http_status` say what kind it is."""

    code: ClassVar[str] = "INTERNAL"
    http_status: ClassVar[int] = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def headers(self) -> dict[str, str]:
        """HTTP headers that belong with this error (`Retry-After`, say)."""
        return {}

    @property
    def extensions(self) -> dict[str, Any]:
        """Extra `extensions` entries of the GraphQL error, next to `code`."""
        return {}


class Unauthenticated(ApiError):
    code = "UNAUTHENTICATED"
    http_status = 401

    def __init__(self, message: str = INVALID_KEY_MESSAGE, *, hint: str | None = None) -> None:
        super().__init__(message)
        # What to do instead (GraphQL `extensions.hint`, REST `"hint"`); never quotes the request.
        self.hint = hint

    @property
    def extensions(self) -> dict[str, Any]:
        return {"hint": self.hint} if self.hint else {}


class Forbidden(ApiError):
    code = "FORBIDDEN"
    # The platform answers a missing permission with 422.
    http_status = 422

    def __init__(self, message: str = FORBIDDEN_MESSAGE) -> None:
        super().__init__(message)


class BadUserInput(ApiError):
    code = "BAD_USER_INPUT"
    http_status = 400


class QueryTooComplex(ApiError):
    code = "QUERY_TOO_COMPLEX"
    http_status = 400


class WorkLimitExceeded(QueryTooComplex):
    """The request's statements used up its database time (REQUEST_WORK_SECONDS)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(
            f"The request needed more than {seconds:g} s of database work and was stopped. Text "
            "searches (contains, startsWith, endsWith, and ne or notIn on text), sorts on fields other "
            "than createdAt, deep `skip`s and statistics over many logs read every log they cover: narrow "
            "the filter (a createdAt range, status, an id), sort by createdAt, or page by cursor "
            "(whatsAppLogsConnection)."
        )


class RateLimited(ApiError):
    code = "RATE_LIMITED"
    http_status = 429

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    @classmethod
    def after(cls, seconds: int) -> RateLimited:
        seconds = max(1, seconds)
        return cls(f"Too many requests with this API key; retry in {seconds} s.", retry_after=seconds)

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}

    @property
    def extensions(self) -> dict[str, Any]:
        return {"retryAfter": self.retry_after}


class Timeout(ApiError):
    code = "TIMEOUT"
    http_status = 504

    def __init__(self, message: str = "The request took too long and was cancelled.") -> None:
        super().__init__(message)


class ServiceUnavailable(ApiError):
    code = "SERVICE_UNAVAILABLE"
    http_status = 503

    def __init__(self, message: str = "The database is unavailable; try again shortly.") -> None:
        super().__init__(message)


class PersistedQueryNotFound(ApiError):
    """An id or hash the server does not hold: Apollo's clients then send the document (APQ)."""

    code = "PERSISTED_QUERY_NOT_FOUND"
    http_status = 404

    # The message Apollo Client's persisted query link looks for, beside the code.
    def __init__(self, message: str = "PersistedQueryNotFound") -> None:
        super().__init__(message)


class PersistedQueryNotSupported(ApiError):
    """APQ is off (PERSISTED_QUERIES=false): Apollo's link stops sending hashes."""

    code = "PERSISTED_QUERY_NOT_SUPPORTED"
    http_status = 400

    def __init__(self, message: str = "PersistedQueryNotSupported") -> None:
        super().__init__(message)


class PersistedQueryRequired(ApiError):
    """Trusted-documents mode: a document that is not in the manifest."""

    code = "PERSISTED_QUERY_REQUIRED"
    http_status = 400

    def __init__(
        self,
        message: str = (
            "This server runs only its trusted documents: send the document's id (documentId, or "
            "extensions.persistedQuery.sha256Hash) from the client's persisted documents manifest."
        ),
    ) -> None:
        super().__init__(message)
