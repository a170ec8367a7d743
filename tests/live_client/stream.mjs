// Subscribes to whatsAppLogStream with the graphql-ws client and prints one JSON line per event:
// {"next": <result>}, {"error": ...}, {"complete": true} or {"closed": {code, reason}}.
// Usage: node stream.mjs <ws url> <api key> [variables as JSON]
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const [url, apiKey, variables] = process.argv.slice(2);
const print = (event) => process.stdout.write(JSON.stringify(event) + "\n");

const client = createClient({
  url,
  webSocketImpl: WebSocket,
  connectionParams: { ApiKey: apiKey },
  retryAttempts: 0,
  on: { closed: (event) => print({ closed: { code: event.code, reason: event.reason } }) },
});

client.subscribe(
  {
    query: `subscription Stream($where: WhatsAppLogFilter, $after: String, $batchSize: Int) {
      whatsAppLogStream(where: $where, after: $after, batchSize: $batchSize) {
        cursor
        logs { id status }
      }
    }`,
    variables: variables ? JSON.parse(variables) : {},
  },
  {
    next: (result) => print({ next: result }),
    error: (error) => {
      print({ error: error instanceof Error ? error.message : error });
      process.exit(0);
    },
    complete: () => {
      print({ complete: true });
      process.exit(0);
    },
  },
);
