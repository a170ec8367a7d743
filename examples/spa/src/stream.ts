// The live feed: `whatsAppLogStream` over a WebSocket with the graphql-ws client. When the socket comes
// back, or the server ends the stream for a reason that passes, it subscribes again after the last cursor.

import { createClient } from "graphql-ws";
import type { Connection } from "./api";
import { persisted } from "./persisted";

export interface LiveLog {
  id: string;
  createdAt: string;
  updatedAt: string;
  status: string;
  statusMessage: string | null;
  toNumber: string;
  incident: { title: string } | null;
}

export interface LiveLogs {
  whatsAppLogStream: { cursor: string; logs: LiveLog[] };
}

// A type, not an interface: graphql-ws takes variables as a `Record<string, unknown>`.
export type StreamVariables = {
  where: { status: { in: string[] } } | null;
  after: string | null; // a cursor belongs to its `where`: a new filter starts without one
  batchSize: number;
};

export const LIVE_LOGS_SUBSCRIPTION = /* GraphQL */ `
subscription LiveLogs($where: WhatsAppLogFilter, $after: String, $batchSize: Int!) {
  whatsAppLogStream(where: $where, after: $after, batchSize: $batchSize) {
    cursor
    logs { id createdAt updatedAt status statusMessage toNumber incident { title } }
  }
}`;

export type StreamState = "connecting" | "live" | "reconnecting" | "stopped";

export interface StreamError {
  code: string; // the GraphQL error's `extensions.code`, or what the socket says
  message: string;
}

export interface StreamEvents {
  logs(logs: LiveLog[]): void;
  state(state: StreamState): void;
  error(error: StreamError | null): void; // null: what was shown has passed
}

const BATCH_SIZE = 50;
// A stream the server ended with one of these is subscribed again, after the last cursor.
const PASSING = new Set(["SERVICE_UNAVAILABLE", "TIMEOUT", "RATE_LIMITED"]);
const RESUBSCRIBE_MS = 2000;
// The server closes the socket with 4403 when the key in `connection_init` may not read logs.
const FORBIDDEN = 4403;
const ABNORMAL = 1006;

function socketUrl(server: string): string {
  const url = new URL("/graphql", server);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.href;
}

// 0.5 s, 1 s, 2 s … up to 10 s, and up to 0.25 s more so that many pages do not all come back at once.
async function backoff(retries: number): Promise<void> {
  const ms = Math.min(500 * 2 ** retries, 10_000) + Math.random() * 250;
  await new Promise((resolve) => setTimeout(resolve, ms));
}

function isCloseEvent(value: unknown): value is { code: number; reason: string } {
  return typeof value === "object" && value !== null && "code" in value && "reason" in value;
}

/** What graphql-ws hands to a subscription's `error`, as a code and a message to show. */
export function describe(error: unknown, server: string): StreamError {
  if (Array.isArray(error)) {
    // The server's `error` message: GraphQL errors, such as a filter or a cursor it refuses.
    const first = error[0] as { message?: string; extensions?: { code?: unknown } } | undefined;
    return { code: String(first?.extensions?.code ?? "UNKNOWN"), message: first?.message ?? "Refused." };
  }
  if (isCloseEvent(error) && error.code === FORBIDDEN) {
    return { code: "FORBIDDEN", message: "The server refused the API key: revoked, expired or not allowed to read logs." };
  }
  if (isCloseEvent(error)) {
    return { code: `CLOSED ${error.code}`, message: error.reason || "The server closed the connection." };
  }
  if (error instanceof Error) return { code: "CLIENT", message: error.message };
  return { code: "NETWORK", message: `Cannot reach ${server}.` };
}

/** Streams the key's new and changed logs (of `statuses`, or all); returns the function that stops it. */
export function openLogStream(connection: Connection, statuses: string[], on: StreamEvents): () => void {
  const where = statuses.length > 0 ? { status: { in: statuses } } : null;
  let cursor: string | null = null;
  let stopped = false;
  let recovering = false; // an error is shown until the next batch
  let resubscribe: number | undefined;
  let unsubscribe = (): void => {};

  // graphql-ws sends this payload again on each reconnection, reading `variables` then: the new
  // subscription starts after the last cursor received, so nothing is missed or sent twice.
  // The manifest's id and text (src/persisted.ts): a TRUSTED_DOCUMENTS server runs it as its own, a
  // server in APQ mode checks the text against the id (the socket has no not-found round trip).
  const { id, document } = persisted(LIVE_LOGS_SUBSCRIPTION);
  const payload = {
    documentId: id,
    query: document,
    get variables(): StreamVariables {
      return { where, after: cursor, batchSize: BATCH_SIZE };
    },
  };

  const client = createClient({
    url: socketUrl(connection.server),
    connectionParams: { ApiKey: connection.key },
    retryAttempts: Infinity,
    retryWait: backoff,
    // Also a refused connection (the server restarting), which graphql-ws does not retry by default;
    // not a refused key, which it would retry in case access is granted later.
    shouldRetry: (event) => !(isCloseEvent(event) && event.code === FORBIDDEN),
    on: {
      connecting: (isRetry) => on.state(isRetry ? "reconnecting" : "connecting"),
      closed: (event) => {
        if (stopped) return;
        on.state("reconnecting");
        // All a page learns of a socket that could not open or was cut: 1006. Said until the next batch.
        if (isCloseEvent(event) && event.code === ABNORMAL) {
          const hint = `is ${connection.server} running, and does its CORS_ORIGINS include ${location.origin}?`;
          on.error({ code: "NETWORK", message: `The connection was lost or refused: ${hint} Retrying.` });
          recovering = true;
        }
      },
    },
  });

  function end(failure: StreamError | null): void {
    if (stopped) return;
    if (failure?.code === "BAD_USER_INPUT" && cursor !== null) {
      // The server no longer takes the cursor (restarted without a CURSOR_SECRET of its own): start
      // again from now, and keep saying that logs written meanwhile are not shown.
      cursor = null;
      const gap = "Started again from now: logs written while disconnected are not shown.";
      on.error({ ...failure, message: `${failure.message} ${gap}` });
      recovering = false;
      subscribe();
      return;
    }
    if (failure === null || PASSING.has(failure.code)) {
      if (failure) {
        on.error(failure);
        recovering = true;
      }
      on.state("reconnecting");
      resubscribe = window.setTimeout(subscribe, RESUBSCRIBE_MS);
      return;
    }
    on.error(failure);
    stopped = true;
    on.state("stopped");
    void client.dispose();
  }

  function subscribe(): void {
    let failure: StreamError | null = null;
    unsubscribe = client.subscribe<LiveLogs>(payload, {
      next: (result) => {
        if (result.errors?.length) {
          // Sent as `next`, then `complete` (a revoked key, a lost database): `complete` decides.
          failure = describe(result.errors, connection.server);
        }
        const batch = result.data?.whatsAppLogStream;
        if (!batch) return;
        cursor = batch.cursor;
        on.state("live");
        if (recovering) on.error(null);
        recovering = false;
        if (batch.logs.length > 0) on.logs(batch.logs);
      },
      error: (error) => end(describe(error, connection.server)),
      complete: () => end(failure),
    });
  }

  subscribe();
  return () => {
    stopped = true;
    window.clearTimeout(resubscribe);
    unsubscribe();
    void client.dispose();
  };
}
