// The GraphQL calls this page makes: plain `fetch`, the `ApiKey` header, errors with their codes.
import { persisted } from "./persisted";

export interface Connection {
  server: string;
  key: string;
}

export class ApiError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

interface GraphQLResponse<T> {
  data?: T | null;
  errors?: { message: string; extensions?: { code?: string } }[];
}

export async function graphql<T>(
  connection: Connection,
  query: string,
  variables: Record<string, unknown>,
): Promise<T> {
  // By id (src/persisted.ts); a server in APQ mode that does not hold the id yet answers
  // PERSISTED_QUERY_NOT_FOUND once, and the document goes with its id (then the server remembers it).
  const { id, document } = persisted(query);
  const first = await post(connection, { documentId: id, variables });
  const missing = first.body.errors?.[0]?.extensions?.code === "PERSISTED_QUERY_NOT_FOUND";
  const { response, body } = missing ? await post(connection, { documentId: id, query: document, variables }) : first;
  const error = body.errors?.[0];
  if (error) throw new ApiError(error.message, error.extensions?.code ?? "UNKNOWN");
  if (!response.ok || !body.data) throw new ApiError(`HTTP ${response.status}`, "HTTP");
  return body.data as T;
}

async function post(
  connection: Connection,
  request: Record<string, unknown>,
): Promise<{ response: Response; body: GraphQLResponse<unknown> }> {
  let response: Response;
  try {
    response = await fetch(new URL("/graphql", connection.server), {
      method: "POST",
      headers: { "Content-Type": "application/json", ApiKey: connection.key },
      body: JSON.stringify(request),
    });
  } catch {
    // A refused connection and a CORS refusal look the same from here.
    throw new ApiError(
      `Cannot reach ${connection.server}: is it running, and does its CORS_ORIGINS include ${location.origin}?`,
      "NETWORK",
    );
  }
  const body = (await response.json().catch(() => ({}))) as GraphQLResponse<unknown>;
  return { response, body };
}

export interface Log {
  id: string;
  createdAt: string;
  toNumber: string;
  fromNumber: string | null;
  status: string;
  statusMessage: string | null;
  whatsAppCostInUSDCents: number;
  incident: { title: string } | null;
  monitor: { name: string } | null;
}

export interface DayBucket {
  day: string;
  count: number;
  totalCostInUSDCents: number;
}

export interface Page {
  whatsAppLogs: Log[];
  whatsAppLogCount: number;
  spendPerDay: DayBucket[];
}

// One request per view: the page, the total and the chart share the filter.
export const PAGE_QUERY = /* GraphQL */ `
query Page($where: WhatsAppLogFilter, $orderBy: [WhatsAppLogOrderBy!], $skip: Int!, $limit: Int!) {
  whatsAppLogs(where: $where, orderBy: $orderBy, skip: $skip, limit: $limit) {
    id createdAt toNumber fromNumber status statusMessage whatsAppCostInUSDCents
    incident { title }
    monitor { name }
  }
  whatsAppLogCount(where: $where)
  spendPerDay: whatsAppLogStats(where: $where, groupBy: [DAY]) { day count totalCostInUSDCents }
}`;

export interface StatusBucket {
  status: string;
  count: number;
}

export const STATUSES_QUERY = /* GraphQL */ `
query Statuses {
  whatsAppLogStats(groupBy: [STATUS]) { status count }
}`;
