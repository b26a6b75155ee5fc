// A form whose fields are named as the API names them (`name`, `burst.time_secs`), so an
// error the API answers is shown at its field: the message under it, the control marked
// aria-invalid and described by the message, focus moved there.

import { ApiError } from "./api";
import { fill, h, notice } from "./dom";

export type Control = HTMLInputElement | HTMLSelectElement;

export class Form {
  readonly status = h("div", { "aria-live": "polite" });
  private readonly inputs = new Map<string, Control>();
  private readonly errors = new Map<string, HTMLElement>();

  /// `prefix` keeps ids unique on the page: `plan-burst-time_secs`.
  constructor(private readonly prefix: string) {}

  /// A labelled row for `control`, the API's field `name`.
  row(name: string, label: string, control: Control, hint?: string): HTMLElement {
    const id = `${this.prefix}-${name.replaceAll(".", "-")}`;
    const error = h("span", { class: "field-error", id: `${id}-error` });
    const described = [error.id];
    const help = hint ? h("small", { id: `${id}-hint` }, hint) : null;
    if (help) described.push(help.id);
    control.id = id;
    control.name = name;
    control.setAttribute("aria-describedby", described.join(" "));
    this.inputs.set(name, control);
    this.errors.set(name, error);
    return h("div", { class: "field" }, h("label", { for: id }, label), control, help, error);
  }

  input(name: string, label: string, value: string | number | null | undefined, attrs: Record<string, string | boolean> = {}, hint?: string): HTMLElement {
    const control = h("input", attrs);
    control.value = value === null || value === undefined ? "" : String(value);
    return this.row(name, label, control, hint);
  }

  select(name: string, label: string, value: string, options: [string, string][]): HTMLElement {
    const control = h("select", {}, ...options.map(([v, text]) => h("option", { value: v }, text)));
    control.value = value;
    return this.row(name, label, control);
  }

  /// The field's text, trimmed.
  value(name: string): string {
    return this.inputs.get(name)?.value.trim() ?? "";
  }

  /// The field as a number, or `null` when empty; a bad number is left to the API to name.
  number(name: string): number | string | null {
    const v = this.value(name);
    if (v === "") return null;
    const n = Number(v);
    return Number.isFinite(n) ? n : v;
  }

  control(name: string): Control | undefined {
    return this.inputs.get(name);
  }

  clear(): void {
    for (const [name, error] of this.errors) {
      fill(error);
      this.inputs.get(name)?.removeAttribute("aria-invalid");
    }
    fill(this.status);
  }

  /// Shows a failure at its field (the nearest named one: `burst` for `burst.x` when the
  /// form has no `burst.x`), else above the submit button.
  fail(e: unknown): void {
    const message = e instanceof Error ? e.message : String(e);
    let field = e instanceof ApiError ? e.body.field : null;
    while (field && !this.errors.has(field) && field.includes(".")) field = field.slice(0, field.lastIndexOf("."));
    const error = field ? this.errors.get(field) : undefined;
    const control = field ? this.inputs.get(field) : undefined;
    if (error && control) {
      fill(error, message);
      control.setAttribute("aria-invalid", "true");
      control.focus();
    } else {
      fill(this.status, notice(message));
    }
  }
}
