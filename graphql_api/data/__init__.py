"""The data layer: models, migrations, the field registry, and every statement the API runs.

Holds `models` (SQLAlchemy tables) and `migrations` (Alembic, the one source of the database schema,
run by `migrate`; `migrations/live_counts.py` and `migrations/change_triggers.py` hold the triggers
they create), `fields` (the registry: the log's fields and relations, declared once) and `kinds` (the
kinds of value), `filters` (the neutral filter and sort, and their SQL), `queries` (every SELECT),
`stats_queries`, `feed_queries` (whatsAppLogStream's change feed), `cursors`, `writes` (the INSERTs of
keys, seed and import), `storable` (what a value must be to be stored), `auth` and `ratelimit` (who may
read, how often), `database`, `sqlite_driver` and `work_budget` (engines, connections and the
per-request bound on database work), and `services` (what one process holds).

May import only the shared `settings`, `errors` and `request_record`: never `schema`, `compiler`,
`http` or `cli`.
"""
