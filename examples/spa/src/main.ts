// The page: a connection form, then two views: the logs (filters, a spend-per-day chart and a sortable,
// paged table) and the live view (src/live.ts).

import "./style.css";
import { ApiError, type Connection, graphql, type Log, PAGE_QUERY, type Page, STATUSES_QUERY, type StatusBucket } from "./api";
import { dollars, drawSpendPerDay } from "./chart";
import { $, cell, statusCell } from "./dom";
import { setUpLive, stopLive, watchLive } from "./live";
import { INITIAL_VIEW, pageVariables, type SortField, type View } from "./query";

const connectForm = $<HTMLFormElement>("#connect");
const filtersForm = $<HTMLFormElement>("#filters");
const app = $<HTMLElement>("#app");
const errorBox = $<HTMLElement>("#error");
const rows = $<HTMLTableSectionElement>("#logs tbody");
const summary = $<HTMLElement>("#summary");
const pageLabel = $<HTMLElement>("#page");
const previous = $<HTMLButtonElement>("#previous");
const next = $<HTMLButtonElement>("#next");
const chart = $<HTMLElement>("#spend .chart");
const chartCaption = $<HTMLElement>("#spend figcaption");
const statusSelect = $<HTMLSelectElement>("#filters select[name=status]");
const tabs = [...document.querySelectorAll<HTMLButtonElement>("[role=tab]")];

let connection: Connection | null = null;
let view: View = { ...INITIAL_VIEW };
let total = 0;
// Answers to requests older than the latest are dropped, so a slow page never overwrites a newer one.
let generation = 0;

function showError(error: unknown): void {
  const message = error instanceof ApiError ? `${error.code}: ${error.message}` : String(error);
  errorBox.textContent = message;
  errorBox.hidden = false;
}

function row(log: Log): HTMLTableRowElement {
  const tr = document.createElement("tr");
  tr.append(
    cell(log.createdAt.slice(0, 16).replace("T", " ")),
    cell(log.toNumber),
    cell(log.fromNumber ?? "—"),
    statusCell(log.status, log.statusMessage),
    cell(dollars(log.whatsAppCostInUSDCents), "number"),
    cell(log.incident?.title ?? "—"),
    cell(log.monitor?.name ?? "—"),
  );
  return tr;
}

function render(page: Page): void {
  total = page.whatsAppLogCount;
  rows.replaceChildren(...page.whatsAppLogs.map(row));
  const first = view.page * view.pageSize + 1;
  const last = view.page * view.pageSize + page.whatsAppLogs.length;
  summary.textContent = total === 0 ? "No logs match." : `Showing ${first}–${last} of ${total} logs`;
  const pages = Math.max(1, Math.ceil(total / view.pageSize));
  pageLabel.textContent = `Page ${view.page + 1} of ${pages}`;
  previous.disabled = view.page === 0;
  next.disabled = last >= total;
  chartCaption.textContent = drawSpendPerDay(chart, page.spendPerDay);
  for (const th of document.querySelectorAll<HTMLElement>("th[data-sort]")) {
    const sorted = th.dataset.sort === view.sort;
    th.setAttribute("aria-sort", sorted ? (view.direction === "ASC" ? "ascending" : "descending") : "none");
  }
}

async function load(): Promise<void> {
  if (!connection) return;
  const mine = ++generation;
  app.setAttribute("aria-busy", "true");
  try {
    const page = await graphql<Page>(connection, PAGE_QUERY, pageVariables(view));
    if (mine !== generation) return;
    errorBox.hidden = true;
    render(page);
  } catch (error) {
    if (mine === generation) showError(error);
  } finally {
    if (mine === generation) app.removeAttribute("aria-busy");
  }
}

function update(changes: Partial<View>): void {
  // Any change but a page turn starts again at the first page.
  view = { ...view, page: 0, ...changes };
  void load();
}

async function connect(event: SubmitEvent): Promise<void> {
  event.preventDefault();
  const data = new FormData(connectForm);
  const candidate = { server: String(data.get("server")).trim(), key: String(data.get("key")).trim() };
  try {
    const { whatsAppLogStats } = await graphql<{ whatsAppLogStats: StatusBucket[] }>(candidate, STATUSES_QUERY, {});
    statusSelect.replaceChildren(new Option("All statuses", ""));
    for (const bucket of whatsAppLogStats) {
      statusSelect.append(new Option(`${bucket.status} (${bucket.count})`, bucket.status));
    }
  } catch (error) {
    showError(error);
    return;
  }
  connection = candidate;
  localStorage.setItem("server", candidate.server);
  errorBox.hidden = true;
  app.hidden = false;
  stopLive();
  if (selectedTab() === "live") watchLive(candidate);
  view = { ...INITIAL_VIEW };
  // Its `reset` listener loads the first page with the cleared filters.
  filtersForm.reset();
}

function filtersFromForm(): Partial<View> {
  const data = new FormData(filtersForm);
  return {
    status: String(data.get("status") ?? ""),
    from: String(data.get("from") ?? ""),
    to: String(data.get("to") ?? ""),
    phone: String(data.get("phone") ?? ""),
    pageSize: Number(data.get("pageSize") ?? INITIAL_VIEW.pageSize),
  };
}

function selectedTab(): string {
  return tabs.find((tab) => tab.getAttribute("aria-selected") === "true")?.dataset.view ?? "logs";
}

function selectTab(name: string): void {
  for (const tab of tabs) {
    const selected = tab.dataset.view === name;
    tab.setAttribute("aria-selected", String(selected));
    $<HTMLElement>(`#${tab.getAttribute("aria-controls")}`).hidden = !selected;
  }
  // The stream starts when the live view is first shown and runs until another key connects.
  if (name === "live" && connection) watchLive(connection);
}

function setUp(): void {
  const serverInput = connectForm.elements.namedItem("server") as HTMLInputElement;
  serverInput.value =
    new URLSearchParams(location.search).get("server") ?? localStorage.getItem("server") ?? "http://127.0.0.1:8000";
  connectForm.addEventListener("submit", (event) => void connect(event));

  let typing: number | undefined;
  filtersForm.addEventListener("input", (event) => {
    window.clearTimeout(typing);
    // Wait for a pause in typing before searching phone numbers; apply other filters at once.
    const wait = (event.target as HTMLInputElement).name === "phone" ? 300 : 0;
    typing = window.setTimeout(() => update(filtersFromForm()), wait);
  });
  filtersForm.addEventListener("submit", (event) => event.preventDefault());
  // `reset` fires before the fields are cleared.
  filtersForm.addEventListener("reset", () => window.setTimeout(() => update(filtersFromForm())));

  previous.addEventListener("click", () => {
    view = { ...view, page: view.page - 1 };
    void load();
  });
  next.addEventListener("click", () => {
    view = { ...view, page: view.page + 1 };
    void load();
  });

  for (const tab of tabs) tab.addEventListener("click", () => selectTab(tab.dataset.view ?? "logs"));
  setUpLive();

  for (const th of document.querySelectorAll<HTMLElement>("th[data-sort]")) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = th.textContent;
    th.replaceChildren(button);
    button.addEventListener("click", () => {
      const field = th.dataset.sort as SortField;
      const direction = view.sort === field && view.direction === "DESC" ? "ASC" : "DESC";
      update({ sort: field, direction });
    });
  }
}

setUp();
