// A subscriber's change: `PATCH /subscribers/{id}` with the fields that changed (a
// merge patch: an emptied field is sent as null, clearing it), the API's validation
// errors shown at their fields.

import { call, get } from "./api";
import { fill, h, notice } from "./dom";
import { Form } from "./form";
import type { Subscriber } from "./types";

interface PlanList {
  items: { id: number; name: string }[];
}

/// Text fields: API name, label, input attributes.
const TEXT: [keyof Subscriber & string, string, Record<string, string | boolean>][] = [
  ["name", "Name", { autocomplete: "off" }],
  ["phone", "Phone", { type: "tel", autocomplete: "off" }],
  ["email", "Email", { type: "email", autocomplete: "off" }],
  ["address", "Address", { autocomplete: "off" }],
  ["mac", "MAC", { autocomplete: "off" }],
  ["ipv4", "Static IPv4", { autocomplete: "off" }],
];

export async function editView(main: HTMLElement, id: number): Promise<void> {
  let s: Subscriber;
  let plans: PlanList;
  try {
    [s, plans] = await Promise.all([get<Subscriber>(`/subscribers/${id}`), get<PlanList>("/plans")]);
  } catch (e) {
    fill(main, notice(e instanceof Error ? e.message : String(e)));
    return;
  }
  const form = new Form("edit");
  const expires = s.expires_at ? s.expires_at.slice(0, 10) : "";
  const element = h(
    "form",
    {
      class: "card form",
      novalidate: true,
      onsubmit: async (ev: Event) => {
        ev.preventDefault();
        form.clear();
        const body: Record<string, unknown> = {};
        const plan = Number(form.value("plan_id"));
        if (plan !== s.plan_id) body.plan_id = plan;
        const use = form.number("simultaneous_use");
        if (use !== s.simultaneous_use) body.simultaneous_use = use;
        if (form.value("expires_at") !== expires) body.expires_at = form.value("expires_at") || null;
        for (const [name] of TEXT) {
          const v = form.value(name);
          if (v !== (s[name] ?? "")) body[name] = v === "" ? null : v;
        }
        if (Object.keys(body).length === 0) {
          fill(form.status, notice("Nothing changed.", "ok"));
          return;
        }
        try {
          s = await call<Subscriber>("PATCH", `/subscribers/${s.id}`, body);
          location.hash = `#/subscribers/${s.id}`;
        } catch (e) {
          form.fail(e);
        }
      },
    },
    form.select(
      "plan_id",
      "Plan",
      String(s.plan_id),
      plans.items.map((p) => [String(p.id), p.name]),
    ),
    form.input("expires_at", "Expires", expires, { type: "date" }),
    form.input("simultaneous_use", "Simultaneous sessions", s.simultaneous_use, { inputmode: "numeric" }, "0: no limit"),
    ...TEXT.map(([name, label, attrs]) => form.input(name, label, s[name] as string | null, attrs)),
    form.status,
    h("button", { type: "submit", id: "save" }, "Save"),
  );
  fill(
    main,
    h("p", {}, h("a", { href: `#/subscribers/${s.id}` }, `← ${s.username}`)),
    h("h1", {}, `Edit ${s.username}`),
    element,
  );
  form.control("plan_id")?.focus();
}
