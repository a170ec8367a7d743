// Compiled by `npm run typecheck`, never bundled: the generated types say what the server accepts and
// answers, and the app's hand-written `Log` agrees with them.
import type { Log } from "../src/api";
import type { LiveLogs, StreamVariables } from "../src/stream";
import type {
  LiveLogsSubscription,
  LiveLogsSubscriptionVariables,
  PageQuery,
  PageQueryVariables,
  WhatsAppLogOrderBy,
} from "../generated/graphql";

export const newestFirst: PageQueryVariables = {
  where: { createdAt: { gte: "2026-07-01T00:00:00Z" } },
  orderBy: [{ createdAt: "DESC" }],
  skip: 0,
  limit: 20,
};

// `WhatsAppLogOrderBy` is a @oneOf input: the server refuses an element with two keys, and so does tsc.
// @ts-expect-error one sort key per element
export const twoKeysInOne: WhatsAppLogOrderBy = { createdAt: "DESC", status: "ASC" };

export function firstCreatedAt(page: PageQuery): string | undefined {
  const createdAt: string | undefined = page.whatsAppLogs[0]?.createdAt;
  return createdAt;
}

export function totalCents(page: PageQuery): number {
  return page.spendPerDay.reduce((cents, day) => cents + day.totalCostInUSDCents, 0);
}

export function logs(page: PageQuery): Log[] {
  return page.whatsAppLogs;
}

// The live view's subscription: what it sends is what the server accepts, what it reads is what it answers.
export function streamVariables(variables: StreamVariables): LiveLogsSubscriptionVariables {
  return variables;
}

export function liveLogs(message: LiveLogsSubscription): LiveLogs {
  return message;
}

export const failedSinceCursor: LiveLogsSubscriptionVariables = {
  where: { status: { in: ["Failed", "Error"] } },
  after: "cursor of an earlier message",
  batchSize: 50,
};
