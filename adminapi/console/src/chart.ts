// A small bar chart drawn as SVG by hand (no chart library, nothing from another
// origin): one or two series side by side per label, the values also in a table for
// screen readers. Elements are built with createElementNS and attributes only, so the
// strict Content-Security-Policy (no inline style) holds; colours come from style.css.

import { h, num } from "./dom";

const SVG = "http://www.w3.org/2000/svg";

export interface Series {
  /// The legend's text.
  name: string;
  /// The bars' class in style.css (`bar-accept`, `bar-reject`…).
  class: string;
  values: number[];
}

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>, ...children: (Node | string)[]): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) el.append(c);
  return el;
}

const WIDTH = 600;
const HEIGHT = 160;
const AXIS = 40;
const MAX_SLOT = 60;

/// A chart of `series` over `labels` (one bar group per label), titled `title`; `format`
/// writes a value for the axis and the table.
export function barChart(title: string, labels: string[], series: Series[], format: (v: number) => string = num): HTMLElement {
  const max = Math.max(1, ...series.flatMap((s) => s.values));
  // A few values (a new subscriber's first months) keep slim bars, left-aligned.
  const slot = Math.min(MAX_SLOT, (WIDTH - AXIS) / Math.max(1, labels.length));
  const bar = Math.max(1, (slot * 0.8) / series.length);
  const y = (v: number) => HEIGHT - 16 - (v / max) * (HEIGHT - 24);
  const bars = labels.flatMap((label, i) =>
    series.map((s, j) => {
      const v = s.values[i] ?? 0;
      const top = y(v);
      return svg(
        "rect",
        { x: AXIS + i * slot + j * bar, y: top, width: bar, height: Math.max(0, HEIGHT - 16 - top), class: s.class },
        svg("title", {}, `${label}: ${s.name} ${format(v)}`),
      );
    }),
  );
  const picture = svg(
    "svg",
    { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img", "aria-label": title, class: "chart" },
    svg("line", { x1: AXIS, y1: HEIGHT - 16, x2: WIDTH, y2: HEIGHT - 16, class: "axis" }),
    svg("text", { x: AXIS - 4, y: 12, class: "tick", "text-anchor": "end" }, format(max)),
    svg("text", { x: AXIS - 4, y: HEIGHT - 16, class: "tick", "text-anchor": "end" }, "0"),
    svg("text", { x: AXIS, y: HEIGHT - 2, class: "tick" }, labels[0] ?? ""),
    svg("text", { x: AXIS + labels.length * slot, y: HEIGHT - 2, class: "tick", "text-anchor": "end" }, labels.length > 1 ? labels[labels.length - 1] : ""),
    ...bars,
  );
  const legend = h(
    "p",
    { class: "legend" },
    ...series.flatMap((s) => [h("span", { class: `key ${s.class}` }), ` ${s.name} `]),
  );
  const table = h(
    "table",
    { class: "sr-only" },
    h("caption", {}, title),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, ""), ...series.map((s) => h("th", { scope: "col" }, s.name)))),
    h(
      "tbody",
      {},
      ...labels.map((label, i) => h("tr", {}, h("th", { scope: "row" }, label), ...series.map((s) => h("td", {}, format(s.values[i] ?? 0))))),
    ),
  );
  return h("figure", { class: "chart-box" }, picture, legend, table);
}
