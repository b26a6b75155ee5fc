// The dashboard: subscribers by status, who is online, auth outcomes (the last minute's,
// and a chart of the last hour), backend health, top users. The figures follow the
// server's event stream; the chart and health are read again as it ticks and every
// REREAD_MS, at most that often; the top users are read when it opens.

import { ApiError, get } from "./api";
import { barChart } from "./chart";
import { fill, h, notice, num, octets, when } from "./dom";
import type { LiveEvents } from "./live";
import type { AuthChart, BackendHealth, Dashboard, LiveFigures } from "./types";

/// The chart and health are read again at most this often.
const REREAD_MS = 10_000;

function tile(label: string, value: string, id: string): HTMLElement {
  return h("div", { class: "tile" }, h("span", { class: "label" }, label), h("strong", { id }, value));
}

function tiles(f: LiveFigures): HTMLElement[] {
  const auth = f.auth.available
    ? [
        tile("Accepts / min", num(f.auth.accepts_per_minute), "accepts"),
        tile("Rejects / min", num(f.auth.rejects_per_minute), "rejects"),
        tile("radiusd reporting", num(f.auth.radiusd_instances), "radiusd"),
      ]
    : [tile("Auth rates", "unavailable", "accepts")];
  return [
    tile("Online now", num(f.online_sessions), "online"),
    tile("Subscribers", num(f.subscribers.total), "total"),
    tile("Active", num(f.subscribers.active), "active"),
    tile("Suspended", num(f.subscribers.suspended), "suspended"),
    tile("Disabled", num(f.subscribers.disabled), "disabled"),
    ...auth,
  ];
}

const clock = new Intl.DateTimeFormat(undefined, { timeStyle: "short" });

function message(e: unknown): string {
  return e instanceof ApiError || e instanceof Error ? e.message : String(e);
}

async function drawChart(box: HTMLElement): Promise<void> {
  try {
    const c = await get<AuthChart>("/dashboard/auth?minutes=60");
    const labels = c.minutes.map((m) => clock.format(new Date(m.start)));
    fill(
      box,
      barChart("Access-Requests per minute, last hour", labels, [
        { name: "Accepts", class: "bar-accept", values: c.minutes.map((m) => m.accepts) },
        { name: "Rejects", class: "bar-reject", values: c.minutes.map((m) => m.rejects) },
      ]),
    );
  } catch (e) {
    fill(box, notice(message(e)));
  }
}

const STATUS: Record<string, string> = { ok: "OK", degraded: "Needs a look", down: "Down", not_configured: "Not configured" };

async function drawHealth(box: HTMLElement): Promise<void> {
  try {
    const hl = await get<BackendHealth>("/dashboard/health");
    fill(
      box,
      h(
        "ul",
        { class: "health" },
        ...hl.checks.map((c) =>
          h(
            "li",
            {},
            h("strong", {}, c.name),
            h("span", { class: c.status }, STATUS[c.status] ?? c.status, c.latency_ms === null ? "" : ` · ${num(Math.round(c.latency_ms))} ms`),
            h("small", {}, c.detail),
          ),
        ),
      ),
    );
  } catch (e) {
    fill(box, notice(message(e)));
  }
}

/// Shows the dashboard; what to do with the live events while it is shown.
export async function dashboardView(main: HTMLElement): Promise<LiveEvents> {
  let d: Dashboard;
  try {
    d = await get<Dashboard>("/dashboard");
  } catch (e) {
    fill(main, notice(message(e)));
    return {};
  }
  const figures = h("section", { class: "tiles", "aria-label": "Figures" });
  const asOf = h("p", { class: "muted" });
  const chart = h("div", { id: "auth-chart" });
  const health = h("div", { id: "health" });
  let readAt = 0;
  const reread = (): void => {
    if (Date.now() - readAt < REREAD_MS) return;
    readAt = Date.now();
    void drawChart(chart);
    void drawHealth(health);
  };
  const show = (f: LiveFigures) => {
    fill(figures, ...tiles(f));
    fill(asOf, `Figures of ${when(f.computed_at)}, kept up to date.`);
  };
  show({
    computed_at: d.computed_at,
    subscribers: d.subscribers,
    online_sessions: d.online.sessions,
    auth: d.auth,
  });
  fill(
    main,
    h("h1", {}, "Dashboard"),
    figures,
    h("h2", {}, "Access-Requests per minute"),
    chart,
    h("h2", {}, "Backends"),
    health,
    h("h2", {}, "Top users this month"),
    h(
      "table",
      {},
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Username"), h("th", { scope: "col", class: "n" }, "Used"))),
      h(
        "tbody",
        {},
        ...d.top_users.items.map((u) =>
          h(
            "tr",
            {},
            h("td", {}, h("a", { href: `#/subscribers/${u.subscriber_id}` }, u.username)),
            h("td", { class: "n" }, octets(u.total_octets)),
          ),
        ),
      ),
    ),
    asOf,
  );
  reread();
  // The chart's hour moves on even when no figure changes: read again on a timer too,
  // which stops once the page is left.
  const timer = setInterval(() => (chart.isConnected ? reread() : clearInterval(timer)), REREAD_MS + 1000);
  return {
    figures: (f) => {
      show(f);
      reread();
    },
  };
}
