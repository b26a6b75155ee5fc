// Sessions online, with kick; also the online part of a subscriber's page.

import { get, post } from "./api";
import { duration, fill, h, notice, octets, when } from "./dom";
import type { KickResult, Session, SessionList } from "./types";

/// A table of open sessions with a Kick button each (when `canKick`); `reload` is
/// called after a kick.
export function sessionTable(items: Session[], canKick: boolean, status: HTMLElement, reload: () => void): HTMLElement {
  return h(
    "table",
    {},
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        h("th", { scope: "col" }, "Username"),
        h("th", { scope: "col" }, "Address"),
        h("th", { scope: "col", class: "wide" }, "Since"),
        h("th", { scope: "col", class: "n" }, "Time"),
        h("th", { scope: "col", class: "n wide" }, "Down / up"),
        canKick ? h("th", { scope: "col" }, h("span", { class: "sr-only" }, "Actions")) : null,
      ),
    ),
    h(
      "tbody",
      {},
      ...items.map((s) =>
        h(
          "tr",
          {},
          h("td", {}, s.subscriber_id ? h("a", { href: `#/subscribers/${s.subscriber_id}` }, s.username) : s.username),
          h("td", {}, s.framed_ip ?? ""),
          h("td", { class: "wide" }, when(s.started_at)),
          h("td", { class: "n" }, duration(s.session_time_secs)),
          h("td", { class: "n wide" }, `${octets(s.download_octets)} / ${octets(s.upload_octets)}`),
          canKick
            ? h(
                "td",
                {},
                h(
                  "button",
                  {
                    type: "button",
                    class: "danger",
                    "aria-label": `Kick ${s.username}`,
                    onclick: async (ev: Event) => {
                      (ev.currentTarget as HTMLButtonElement).disabled = true;
                      try {
                        const r = await post<KickResult>(`/sessions/${s.id}/kick`);
                        fill(status, notice(`${s.username}: ${r.message}`, r.result === "ack" ? "ok" : "error"));
                      } catch (e) {
                        fill(status, notice(e instanceof Error ? e.message : String(e)));
                      }
                      reload();
                    },
                  },
                  "Kick",
                ),
              )
            : null,
        ),
      ),
    ),
  );
}

export function sessionsView(main: HTMLElement, canKick: boolean): () => Promise<void> {
  const status = h("div", { "aria-live": "polite" });
  const list = h("div", {});
  const count = h("p", { class: "muted" });
  const refresh = async (): Promise<void> => {
    try {
      const page = await get<SessionList>("/sessions?limit=200");
      fill(list, page.items.length ? sessionTable(page.items, canKick, status, () => void refresh()) : notice("Nobody is online.", "ok"));
      fill(count, page.next_after_id ? "The first 200 sessions." : `${page.items.length} online.`);
    } catch (e) {
      fill(status, notice(e instanceof Error ? e.message : String(e)));
    }
  };
  fill(main, h("h1", {}, "Sessions online"), status, count, list);
  return refresh;
}
