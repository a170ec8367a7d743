// Subscribes to whatsAppLogStream with Apollo Client (GraphQLWsLink over graphql-ws, an InMemoryCache)
// and prints one JSON line per event:
// {"next": <result>, "cached": [<cache ids>]}, {"error": {"message", "errors"}} or {"complete": true}.
// `cached` lists the normalised entries of the cache after the message (`WhatsAppLog:<id>`,
// `Incident:<id>`…): the cache keys them by __typename and id, which Apollo adds to every selection.
// Usage: node apollo.mjs <ws url> <api key> [variables as JSON]
import { ApolloClient, CombinedGraphQLErrors, InMemoryCache, gql } from "@apollo/client";
import { GraphQLWsLink } from "@apollo/client/link/subscriptions";
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const [url, apiKey, variables] = process.argv.slice(2);
const print = (event) => process.stdout.write(JSON.stringify(event) + "\n");

// GraphQLWsLink reads the global WebSocket (WebSocket.CLOSED) to classify an error; Node 20 has none
// (22 does), so without this every `error` message of graphql-transport-ws (a refusal before the
// subscription runs, e.g. batchSize 0) reaches the app as "WebSocket is not defined", its errors lost.
globalThis.WebSocket ??= WebSocket;

const link = new GraphQLWsLink(
  createClient({ url, webSocketImpl: WebSocket, connectionParams: { ApiKey: apiKey }, retryAttempts: 0 }),
);
const client = new ApolloClient({ link, cache: new InMemoryCache() });

const query = gql`
  subscription Stream($where: WhatsAppLogFilter, $after: String, $batchSize: Int) {
    whatsAppLogStream(where: $where, after: $after, batchSize: $batchSize) {
      cursor
      logs {
        id
        status
        toNumber
        incident {
          id
          title
        }
      }
    }
  }
`;

const describe = (error) => ({
  message: error.message,
  // GraphQL errors keep their extensions (code); anything else (a closed socket) is its message only.
  errors: CombinedGraphQLErrors.is(error) ? error.errors : [],
});

client.subscribe({ query, variables: variables ? JSON.parse(variables) : {} }).subscribe({
  // Apollo Client 4 hands GraphQL and link errors to `next` as `result.error`, then completes.
  next: (result) =>
    print(result.error ? { error: describe(result.error) } : { next: result, cached: Object.keys(client.cache.extract()) }),
  error: (error) => {
    print({ error: describe(error) });
    process.exit(0);
  },
  complete: () => {
    print({ complete: true });
    process.exit(0);
  },
});
