// Subscribers: search as you type (username, name or phone; an IPv4 address or prefix;
// a MAC), a status filter, and paging by the API's cursor.

import { get } from "./api";
import { fill, h, notice, when } from "./dom";
import type { Subscriber, SubscriberPage } from "./types";

const PAGE = 25;
/// How long typing must pause before a search goes out: short enough to be felt as
/// instant, long enough to send one search for a burst (a paste, a held key).
const TYPING_PAUSE_MS = 30;
const IPV4 = /^\d{1,3}(\.\d{1,3}){3}(\/\d{1,2})?$/;
const MAC = /^[0-9a-f]{2}([:-]?[0-9a-f]{2}){5}$/i;

/// The query string of a search: which parameter the text is for.
function searchParams(text: string, status: string, online: string, after: string | null): URLSearchParams {
  const p = new URLSearchParams({ limit: String(PAGE) });
  const t = text.trim();
  if (IPV4.test(t)) p.set("ip", t);
  else if (MAC.test(t)) p.set("mac", t);
  else if (t.length >= 3) p.set("q", t);
  if (status) p.set("status", status);
  if (online) p.set("online", online);
  if (after) p.set("after", after);
  return p;
}

export function statusBadge(status: string): HTMLElement {
  return h("span", { class: `badge ${status}` }, status);
}

function row(s: Subscriber): HTMLElement {
  return h(
    "tr",
    {},
    h("td", {}, h("a", { href: `#/subscribers/${s.id}` }, s.username)),
    h("td", {}, s.name ?? ""),
    h("td", { class: "wide" }, s.phone ?? ""),
    h("td", {}, statusBadge(s.status)),
    h("td", {}, s.online ? "online" : ""),
    h("td", { class: "wide" }, s.plan),
    h("td", { class: "wide" }, when(s.expires_at)),
  );
}

export function subscribersView(main: HTMLElement, canCreate: boolean): void {
  const search = h("input", {
    id: "search",
    type: "search",
    placeholder: "Username, name, phone, IP or MAC",
    autocomplete: "off",
  });
  const status = h(
    "select",
    { id: "status" },
    h("option", { value: "" }, "Any status"),
    h("option", { value: "active" }, "Active"),
    h("option", { value: "suspended" }, "Suspended"),
    h("option", { value: "disabled" }, "Disabled"),
  );
  const online = h(
    "select",
    { id: "online" },
    h("option", { value: "" }, "Online or not"),
    h("option", { value: "true" }, "Online"),
    h("option", { value: "false" }, "Offline"),
  );
  const body = h("tbody", { id: "results" });
  const message = h("div", { "aria-live": "polite" });
  const prev = h("button", { type: "button", disabled: true }, "First page");
  const next = h("button", { type: "button", disabled: true }, "Next page");
  let cursor: string | null = null;
  let pending: AbortController | null = null;
  let timer: number | undefined;

  async function load(after: string | null): Promise<void> {
    pending?.abort();
    const mine = new AbortController();
    pending = mine;
    try {
      const page = await get<SubscriberPage>(
        `/subscribers?${searchParams(search.value, status.value, online.value, after)}`,
        mine.signal,
      );
      if (pending !== mine) return;
      fill(body, ...page.items.map(row));
      fill(message, page.items.length === 0 ? notice("No subscriber matches.", "ok") : null);
      cursor = page.next;
      next.disabled = cursor === null;
      prev.disabled = after === null;
      main.setAttribute("aria-busy", "false");
    } catch (e) {
      if (mine.signal.aborted) return;
      fill(message, notice(e instanceof Error ? e.message : String(e)));
    }
  }

  function soon(): void {
    window.clearTimeout(timer);
    // A search still on its way is for text that has changed since: never drawn.
    pending?.abort();
    pending = null;
    main.setAttribute("aria-busy", "true");
    timer = window.setTimeout(() => load(null), TYPING_PAUSE_MS);
  }

  search.addEventListener("input", soon);
  status.addEventListener("change", soon);
  online.addEventListener("change", soon);
  next.addEventListener("click", () => load(cursor));
  prev.addEventListener("click", () => load(null));

  fill(
    main,
    h(
      "div",
      { class: "title" },
      h("h1", {}, "Subscribers"),
      canCreate
        ? h(
            "div",
            { class: "actions" },
            h("a", { href: "#/subscribers/import", class: "button", id: "import-subscribers" }, "Import CSV"),
            h("a", { href: "#/subscribers/new", class: "button", id: "new-subscriber" }, "New subscriber"),
          )
        : null,
    ),
    h(
      "div",
      { class: "filters", role: "search" },
      h("label", { for: "search", class: "sr-only" }, "Search"),
      search,
      h("label", { for: "status", class: "sr-only" }, "Status"),
      status,
      h("label", { for: "online", class: "sr-only" }, "Online"),
      online,
    ),
    message,
    h(
      "table",
      {},
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", { scope: "col" }, "Username"),
          h("th", { scope: "col" }, "Name"),
          h("th", { scope: "col", class: "wide" }, "Phone"),
          h("th", { scope: "col" }, "Status"),
          h("th", { scope: "col" }, "Online"),
          h("th", { scope: "col", class: "wide" }, "Plan"),
          h("th", { scope: "col", class: "wide" }, "Expires"),
        ),
      ),
      body,
    ),
    h("nav", { class: "pager", "aria-label": "Pages" }, prev, next),
  );
  search.focus();
  void load(null);
}
