// The dashboard: subscribers by status, who is online, auth outcomes, top users. Read
// again every few seconds while it is shown.

import { get } from "./api";
import { fill, h, notice, num, octets, when } from "./dom";
import type { Dashboard } from "./types";

function tile(label: string, value: string, id: string): HTMLElement {
  return h("div", { class: "tile" }, h("span", { class: "label" }, label), h("strong", { id }, value));
}

export async function dashboardView(main: HTMLElement): Promise<void> {
  let d: Dashboard;
  try {
    d = await get<Dashboard>("/dashboard");
  } catch (e) {
    fill(main, notice(e instanceof Error ? e.message : String(e)));
    return;
  }
  const auth = d.auth.available
    ? [
        tile("Accepts / min", num(d.auth.accepts_per_minute), "accepts"),
        tile("Rejects / min", num(d.auth.rejects_per_minute), "rejects"),
        tile("radiusd reporting", num(d.auth.radiusd_instances), "radiusd"),
      ]
    : [tile("Auth rates", "unavailable", "accepts")];
  fill(
    main,
    h("h1", {}, "Dashboard"),
    h(
      "section",
      { class: "tiles", "aria-label": "Figures" },
      tile("Online now", num(d.online.sessions), "online"),
      tile("Subscribers", num(d.subscribers.total), "total"),
      tile("Active", num(d.subscribers.active), "active"),
      tile("Suspended", num(d.subscribers.suspended), "suspended"),
      tile("Disabled", num(d.subscribers.disabled), "disabled"),
      ...auth,
    ),
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
    h("p", { class: "muted" }, `Figures of ${when(d.computed_at)}.`),
  );
}
