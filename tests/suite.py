"""What a test's server changes from production's settings: in its environment (SUITE_ENV, for a
`graphql-api serve` process) and in its Settings (suite_settings, for an app in the test's process)."""

from __future__ import annotations

from typing import Any

from graphql_api.settings import Settings

# The environment of a `graphql-api serve` a test starts (tests.live, tests.fault_load).
SUITE_ENV = {
    # No key cache: a revoked key must fail on the very next request.
    "AUTH_CACHE_SECONDS": "0",
    # On PostgreSQL the work budget counts wall time: on a loaded shared machine an ordinary request of
    # a test (the first on a new database, say) can pass the production 0.8 s. Tests of the budget set
    # their own.
    "REQUEST_WORK_SECONDS": "10",
}


def suite_settings(database_url: str, **changes: Any) -> Settings:
    """The settings of a test's app: production's but for SUITE_ENV, then `changes`."""
    return Settings.from_env({**SUITE_ENV, "DATABASE_URL": database_url}, **changes)
