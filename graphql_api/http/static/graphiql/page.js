// Mounts GraphiQL on the page served at GET /graphql, sending requests to that same URL.
(function () {
  "use strict";

  var endpoint = window.location.href.split(/[?#]/)[0];

  // The headers tab opens with this hint; introspection needs no key, so the schema loads before a
  // real key is pasted. Headers are not persisted (GraphiQL's default), so keys stay out of storage.
  // ASCII only: browsers refuse to send a header value outside ISO-8859-1.
  var HEADERS_HINT = JSON.stringify({ ApiKey: "wal_... (a key of your project)" }, null, 2);

  var EXAMPLE_QUERY = [
    "# Paste your key into the Headers tab below, then run (Ctrl-Enter).",
    "{",
    "  whatsAppLogs(orderBy: [{ createdAt: DESC }], limit: 5) {",
    "    id",
    "    createdAt",
    "    toNumber",
    "    status",
    "    whatsAppCostInUSDCents",
    "    incident { title }",
    "    monitor { name }",
    "  }",
    "  whatsAppLogCount",
    "}",
    "",
  ].join("\n");

  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: GraphiQL.createFetcher({ url: endpoint }),
      defaultQuery: EXAMPLE_QUERY,
      defaultHeaders: HEADERS_HINT,
      defaultEditorToolsVisibility: "headers",
      isHeadersEditorEnabled: true,
    }),
  );
})();
