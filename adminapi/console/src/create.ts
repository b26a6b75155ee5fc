// A new subscriber: the API's validation errors are shown at the field they name.

import { ApiError, get, post } from "./api";
import { fill, h, notice } from "./dom";
import type { Subscriber } from "./types";

interface PlanList {
  items: { id: number; name: string }[];
}

/// The form's fields: API name, label, input attributes.
const FIELDS: [string, string, Record<string, string | boolean>][] = [
  ["username", "Username", { required: true, autocomplete: "off" }],
  ["password", "Password", { type: "password", required: true, autocomplete: "new-password" }],
  ["name", "Name", { autocomplete: "off" }],
  ["phone", "Phone", { type: "tel", autocomplete: "off" }],
  ["email", "Email", { type: "email", autocomplete: "off" }],
  ["mac", "MAC", { autocomplete: "off" }],
  ["ipv4", "Static IPv4", { autocomplete: "off" }],
  ["expires_at", "Expires", { type: "date" }],
];

export async function createView(main: HTMLElement): Promise<void> {
  const status = h("div", { "aria-live": "polite" });
  const inputs = new Map<string, HTMLInputElement | HTMLSelectElement>();
  const errors = new Map<string, HTMLElement>();
  const row = (name: string, label: string, control: HTMLInputElement | HTMLSelectElement): HTMLElement => {
    const error = h("span", { class: "field-error", id: `${name}-error` });
    control.id = `new-${name}`;
    control.name = name;
    control.setAttribute("aria-describedby", error.id);
    inputs.set(name, control);
    errors.set(name, error);
    return h("div", { class: "field" }, h("label", { for: control.id }, label), control, error);
  };
  let plans: PlanList;
  try {
    plans = await get<PlanList>("/plans");
  } catch (e) {
    fill(main, notice(e instanceof Error ? e.message : String(e)));
    return;
  }
  const plan = h("select", { required: true }, ...plans.items.map((p) => h("option", { value: p.id }, p.name)));
  const form = h(
    "form",
    {
      class: "card form",
      novalidate: true,
      onsubmit: async (ev: Event) => {
        ev.preventDefault();
        for (const [name, error] of errors) {
          fill(error);
          inputs.get(name)?.removeAttribute("aria-invalid");
        }
        fill(status);
        const body: Record<string, unknown> = { plan_id: Number(plan.value) };
        for (const [name, control] of inputs) {
          if (name !== "plan_id" && control.value.trim() !== "") body[name] = control.value.trim();
        }
        try {
          const created = await post<Subscriber>("/subscribers", body);
          location.hash = `#/subscribers/${created.id}`;
        } catch (e) {
          const field = e instanceof ApiError ? e.body.field : null;
          const error = field ? errors.get(field) : undefined;
          const control = field ? inputs.get(field) : undefined;
          if (error && control) {
            fill(error, e instanceof Error ? e.message : String(e));
            control.setAttribute("aria-invalid", "true");
            control.focus();
          } else {
            fill(status, notice(e instanceof Error ? e.message : String(e)));
          }
        }
      },
    },
    ...FIELDS.map(([name, label, attrs]) => row(name, label, h("input", attrs))),
    row("plan_id", "Plan", plan),
    status,
    h("button", { type: "submit" }, "Create"),
  );
  fill(main, h("p", {}, h("a", { href: "#/subscribers" }, "← Subscribers")), h("h1", {}, "New subscriber"), form);
  inputs.get("username")?.focus();
}
