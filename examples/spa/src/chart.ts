// Spend per day as an SVG bar chart: one bar per UTC day from the first to the last, empty days included.

import type { DayBucket } from "./api";

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 960;
const HEIGHT = 160;
const MARGIN = { top: 12, right: 8, bottom: 22, left: 52 };

export function dollars(cents: number): string {
  return `$${(cents / 100).toFixed(2)}`;
}

function days(first: string, last: string): string[] {
  const out: string[] = [];
  const date = new Date(`${first}T00:00:00Z`);
  for (let day = first; day <= last; day = date.toISOString().slice(0, 10)) {
    out.push(day);
    date.setUTCDate(date.getUTCDate() + 1);
  }
  return out;
}

function element<K extends keyof SVGElementTagNameMap>(
  name: K,
  attributes: Record<string, string | number>,
  text?: string,
): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Draws the chart into `container`; returns the caption text. */
export function drawSpendPerDay(container: HTMLElement, buckets: DayBucket[]): string {
  container.replaceChildren();
  if (buckets.length === 0) return "Spend per day: no messages match.";
  const byDay = new Map(buckets.map((b) => [b.day, b]));
  const axis = days(buckets[0].day, buckets[buckets.length - 1].day);
  const max = Math.max(...buckets.map((b) => b.totalCostInUSDCents), 1);
  const total = buckets.reduce((sum, b) => sum + b.totalCostInUSDCents, 0);

  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const step = plotWidth / axis.length;
  const svg = element("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img" });
  svg.append(element("title", {}, "Spend per day"));
  svg.append(element("text", { x: MARGIN.left - 6, y: MARGIN.top + 4, class: "tick", "text-anchor": "end" }, dollars(max)));
  svg.append(element("text", { x: MARGIN.left - 6, y: MARGIN.top + plotHeight, class: "tick", "text-anchor": "end" }, "$0"));
  svg.append(element("line", { x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: MARGIN.top + plotHeight, y2: MARGIN.top + plotHeight, class: "axis" }));

  // About eight date labels whatever the range, so they never overlap.
  const labelEvery = Math.max(1, Math.ceil(axis.length / 8));
  axis.forEach((day, index) => {
    const bucket = byDay.get(day);
    const cents = bucket?.totalCostInUSDCents ?? 0;
    const height = (cents / max) * plotHeight;
    const x = MARGIN.left + index * step;
    const bar = element("rect", {
      x: x + step * 0.1,
      y: MARGIN.top + plotHeight - height,
      width: Math.max(step * 0.8, 1),
      height,
      class: "bar",
      "data-day": day,
      "data-cents": cents,
    });
    bar.append(element("title", {}, `${day}: ${dollars(cents)} for ${bucket?.count ?? 0} messages`));
    svg.append(bar);
    if (index % labelEvery === 0) {
      svg.append(element("text", { x: x + step / 2, y: HEIGHT - 6, class: "tick", "text-anchor": "middle" }, day.slice(5)));
    }
  });
  container.append(svg);
  return `Spend per day (UTC): ${dollars(total)} over ${axis.length} days`;
}
