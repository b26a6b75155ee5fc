// The dashboard: subscribers by status, who is online, auth outcomes, top users. The
// figures follow the server's event stream; the top users are read when it opens.

import { get } from "./api";
import { fill, h, notice, num, octets, when } from "./dom";
import type { LiveEvents } from "./live";
import type { Dashboard, LiveFigures } from "./types";

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

/// Shows the dashboard; what to do with the live events while it is shown.
export async function dashboardView(main: HTMLElement): Promise<LiveEvents> {
  let d: Dashboard;
  try {
    d = await get<Dashboard>("/dashboard");
  } catch (e) {
    fill(main, notice(e instanceof Error ? e.message : String(e)));
    return {};
  }
  const figures = h("section", { class: "tiles", "aria-label": "Figures" });
  const asOf = h("p", { class: "muted" });
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
  return { figures: show };
}
