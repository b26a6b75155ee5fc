// The audit log: who changed what, newest first, with filters and paging (a cursor:
// "Older" continues below the last entry shown).

import { get } from "./api";
import { fill, h, notice, when } from "./dom";
import type { AuditPage } from "./types";

const ENTITIES = ["", "subscriber", "plan", "nas", "session", "admin", "job"];

export function auditView(main: HTMLElement): void {
  const entity = h("select", { id: "audit-entity" }, ...ENTITIES.map((e) => h("option", { value: e }, e || "Any")));
  const action = h("input", { id: "audit-action", placeholder: "plan.update", autocomplete: "off" });
  const entityId = h("input", { id: "audit-entity-id", autocomplete: "off", inputmode: "numeric" });
  const since = h("input", { id: "audit-since", type: "date" });
  const limit = h("select", { id: "audit-limit" }, ...["10", "50", "200"].map((n) => h("option", { value: n }, n)));
  limit.value = "50";
  const until = h("input", { id: "audit-until", type: "date" });
  const status = h("div", { "aria-live": "polite" });
  const rows = h("tbody", { id: "audit-rows" });
  const older = h("button", { type: "button", id: "audit-older", disabled: true }, "Older");
  const newest = h("button", { type: "button", id: "audit-newest", disabled: true }, "Newest");
  let before: number | null = null;

  const load = async (at: number | null): Promise<void> => {
    const q = new URLSearchParams({ limit: limit.value });
    if (entity.value) q.set("entity", entity.value);
    if (action.value.trim()) q.set("action", action.value.trim());
    if (entityId.value.trim()) q.set("entity_id", entityId.value.trim());
    // Days start at midnight where the browser is.
    if (since.value) q.set("since", new Date(`${since.value}T00:00`).toISOString());
    if (until.value) q.set("until", new Date(`${until.value}T00:00`).toISOString());
    if (at !== null) q.set("before_id", String(at));
    try {
      const page = await get<AuditPage>(`/audit?${q}`);
      fill(status);
      fill(
        rows,
        ...page.items.map((r) =>
          h(
            "tr",
            { "data-id": r.id },
            h("td", {}, when(r.at)),
            h("td", {}, r.admin_username),
            h("td", {}, h("code", {}, r.action)),
            h("td", {}, r.entity_id ? `${r.entity} ${r.entity_id}` : r.entity),
            h("td", { class: "wide" }, r.client_ip ?? ""),
            h(
              "td",
              { class: "wide" },
              r.before || r.after
                ? h("details", {}, h("summary", {}, "Change"), h("pre", {}, JSON.stringify({ before: r.before, after: r.after }, null, 1)))
                : "",
            ),
          ),
        ),
      );
      if (!page.items.length) fill(status, notice("No entries.", "ok"));
      before = page.next_before_id;
      older.disabled = before === null;
      newest.disabled = at === null;
    } catch (e) {
      fill(status, notice(e instanceof Error ? e.message : String(e)));
    }
  };
  const reset = () => void load(null);
  older.addEventListener("click", () => void load(before));
  newest.addEventListener("click", reset);

  const label = (control: HTMLElement, text: string) => h("div", { class: "field" }, h("label", { for: control.id }, text), control);
  fill(
    main,
    h("h1", {}, "Audit log"),
    h(
      "form",
      {
        class: "filters audit",
        role: "search",
        onsubmit: (ev: Event) => {
          ev.preventDefault();
          reset();
        },
      },
      label(entity, "Entity"),
      label(entityId, "Entity id"),
      label(action, "Action"),
      label(since, "From"),
      label(until, "Before"),
      label(limit, "Per page"),
      h("button", { type: "submit", id: "audit-filter" }, "Filter"),
    ),
    status,
    h(
      "table",
      {},
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", { scope: "col" }, "When"),
          h("th", { scope: "col" }, "Who"),
          h("th", { scope: "col" }, "Action"),
          h("th", { scope: "col" }, "On"),
          h("th", { scope: "col", class: "wide" }, "From"),
          h("th", { scope: "col", class: "wide" }, h("span", { class: "sr-only" }, "Details")),
        ),
      ),
      rows,
    ),
    h("div", { class: "pager" }, newest, older),
  );
  reset();
}
