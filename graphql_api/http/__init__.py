"""The HTTP edge: the Starlette app, its middleware, the GraphQL view and the REST endpoints.

Holds `app` (create_app: routes, middleware, lifespan), `graphql_view`, `negotiation`, `body_limit`,
`time_limit`, `observability` (metrics, the access log), `home` (GET /, JSON 404/405), `graphiql`, `rest`
and `rest_params` (the reference's REST endpoints and their query parameters) and `logs` (log format).

May import `compiler`, `schema`, `data`, and the shared `settings`, `errors`, `request_record`; nothing
below imports it.
"""
