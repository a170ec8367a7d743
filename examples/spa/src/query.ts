// What the page shows, as GraphQL variables: the one place filters, sorting and paging become a query.

export type SortField = "createdAt" | "toNumber" | "fromNumber" | "status" | "whatsAppCostInUSDCents";
export type Direction = "ASC" | "DESC";

export interface View {
  status: string; // "" for all
  from: string; // YYYY-MM-DD or ""
  to: string; // YYYY-MM-DD or "", inclusive
  phone: string;
  sort: SortField;
  direction: Direction;
  page: number; // from 0
  pageSize: number;
}

export const INITIAL_VIEW: View = {
  status: "",
  from: "",
  to: "",
  phone: "",
  sort: "createdAt",
  direction: "DESC",
  page: 0,
  pageSize: 20,
};

function nextDay(day: string): string {
  const date = new Date(`${day}T00:00:00Z`);
  date.setUTCDate(date.getUTCDate() + 1);
  return date.toISOString().slice(0, 10);
}

/** The `WhatsAppLogFilter` for the view's filters (dates are UTC days, both ends included). */
export function where(view: View): Record<string, unknown> {
  const conditions: Record<string, unknown>[] = [];
  if (view.status) conditions.push({ status: { eq: view.status } });
  const createdAt: Record<string, string> = {};
  if (view.from) createdAt.gte = `${view.from}T00:00:00Z`;
  if (view.to) createdAt.lt = `${nextDay(view.to)}T00:00:00Z`;
  if (Object.keys(createdAt).length) conditions.push({ createdAt });
  const phone = view.phone.trim();
  if (phone) {
    conditions.push({ or: [{ toNumber: { contains: phone } }, { fromNumber: { contains: phone } }] });
  }
  if (conditions.length <= 1) return conditions[0] ?? {};
  return { and: conditions };
}

export function pageVariables(view: View): Record<string, unknown> {
  return {
    where: where(view),
    orderBy: [{ [view.sort]: view.direction }],
    skip: view.page * view.pageSize,
    limit: view.pageSize,
  };
}
