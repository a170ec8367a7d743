// What both views build their pages from: a required element, a table cell, a status cell.

export function $<T extends Element>(selector: string): T {
  const node = document.querySelector<T>(selector);
  if (!node) throw new Error(`missing ${selector}`);
  return node;
}

export function cell(text: string, className?: string): HTMLTableCellElement {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

/** The status, coloured by its class (`status-low-balance`); the status message, if any, as its tooltip. */
export function statusCell(status: string, message: string | null): HTMLTableCellElement {
  const td = cell(status, `status status-${status.toLowerCase().replace(/\s+/g, "-")}`);
  if (message) td.title = message;
  return td;
}
