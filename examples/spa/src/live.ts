// The live view: the key's logs as they are written, newest on top. A log sent again (Sent → Delivered)
// updates its row where it is; a new status filter starts a new stream.

import type { Connection } from "./api";
import { $, cell, statusCell } from "./dom";
import { type LiveLog, openLogStream, type StreamError, type StreamState } from "./stream";

// The statuses the platform writes (the schema's `WhatsAppLogStatus`), offered as the filter.
const STATUSES = [
  "Queued", "Sent", "Delivered", "Read", "Success", "Failed",
  "Error", "Warning", "Low Balance", "Not Verified", "Deleted", "Unknown",
];
// The oldest rows go past this many, so that a page left open for days stays small.
const MAX_ROWS = 500;
const STATE_TEXT: Record<StreamState, string> = {
  connecting: "Connecting…",
  live: "Live",
  reconnecting: "Reconnecting…",
  stopped: "Stopped",
};

const filterForm = $<HTMLFormElement>("#live-filter");
const stateLabel = $<HTMLElement>("#live-state");
const summary = $<HTMLElement>("#live-summary");
const errorBox = $<HTMLElement>("#live-error");
const rows = $<HTMLTableSectionElement>("#live tbody");

const shown = new Map<string, HTMLTableRowElement>();
let watching: Connection | null = null;
let stopStream: (() => void) | null = null;

function showState(state: StreamState): void {
  stateLabel.textContent = STATE_TEXT[state];
  stateLabel.dataset.state = state;
}

function showError(error: StreamError | null): void {
  errorBox.textContent = error ? `${error.code}: ${error.message}` : "";
  errorBox.hidden = error === null;
}

function showSummary(): void {
  const statuses = selectedStatuses();
  const which = statuses.length > 0 ? statuses.join(", ") : "all statuses";
  summary.textContent =
    shown.size === 0
      ? `Waiting for logs (${which}): new and changed logs appear here as they are written.`
      : `${shown.size} ${shown.size === 1 ? "log" : "logs"} (${which}) since the stream started`;
}

function fill(tr: HTMLTableRowElement, log: LiveLog): void {
  tr.replaceChildren(
    cell(log.createdAt.slice(0, 19).replace("T", " ")),
    statusCell(log.status, log.statusMessage),
    cell(log.toNumber),
    cell(log.incident?.title ?? "—"),
  );
  // Restarts the highlight (style.css) on a row that changes again.
  tr.classList.remove("arrived");
  void tr.offsetWidth;
  tr.classList.add("arrived");
}

function receive(logs: LiveLog[]): void {
  // A batch is in commit order: each log goes on top of the one before.
  for (const log of logs) {
    let tr = shown.get(log.id);
    if (!tr) {
      tr = document.createElement("tr");
      tr.dataset.id = log.id;
      rows.prepend(tr);
      shown.set(log.id, tr);
    }
    fill(tr, log);
  }
  while (shown.size > MAX_ROWS && rows.lastElementChild instanceof HTMLTableRowElement) {
    shown.delete(rows.lastElementChild.dataset.id ?? "");
    rows.lastElementChild.remove();
  }
  showSummary();
}

function selectedStatuses(): string[] {
  return new FormData(filterForm).getAll("status").map(String);
}

function restart(): void {
  stopStream?.();
  shown.clear();
  rows.replaceChildren();
  errorBox.hidden = true;
  showSummary();
  if (!watching) return;
  showState("connecting");
  stopStream = openLogStream(watching, selectedStatuses(), { logs: receive, state: showState, error: showError });
}

/** Streams `connection`'s logs into the view, unless it does already. */
export function watchLive(connection: Connection): void {
  if (watching === connection) return;
  watching = connection;
  restart();
}

/** Stops the stream and empties the view (another key was connected). */
export function stopLive(): void {
  watching = null;
  restart();
}

export function setUpLive(): void {
  const fieldset = $<HTMLFieldSetElement>("#live-filter fieldset");
  for (const status of STATUSES) {
    const box = document.createElement("input");
    box.type = "checkbox";
    box.name = "status";
    box.value = status;
    const label = document.createElement("label");
    label.append(box, status);
    fieldset.append(label);
  }
  // A cursor belongs to its filter: another filter is another stream, from now.
  filterForm.addEventListener("change", restart);
  filterForm.addEventListener("reset", () => window.setTimeout(restart));
  filterForm.addEventListener("submit", (event) => event.preventDefault());
}
