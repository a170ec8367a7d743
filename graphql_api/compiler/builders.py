"""The root fields the compiler covers, each with the function that builds its statement."""

from __future__ import annotations

from graphql_api.compiler.connection_json import whats_app_logs_connection
from graphql_api.compiler.statements import RootBuilder, whats_app_log, whats_app_log_count, whats_app_logs
from graphql_api.compiler.stats_json import whats_app_log_stats

ROOT_FIELDS: dict[str, RootBuilder] = {
    "whatsAppLogs": whats_app_logs,
    "whatsAppLog": whats_app_log,
    "whatsAppLogCount": whats_app_log_count,
    "whatsAppLogsConnection": whats_app_logs_connection,
    "whatsAppLogStats": whats_app_log_stats,
}
