// Admins and their roles (superadmin only): the list, a new admin, and changes to one
// (role, disabled, two-factor requirement, allowed networks, a new password).

import { call, get, post } from "./api";
import { fill, h, notice, when } from "./dom";
import { Form } from "./form";
import type { AdminView } from "./types";

const ROLES: [string, string][] = [
  ["superadmin", "Superadmin: everything, admins and revealing passwords included"],
  ["admin", "Admin: subscribers, plans, NAS, sessions, audit log"],
  ["support", "Support: read, kick sessions, reset passwords"],
  ["viewer", "Viewer: read only"],
];

function err(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function networks(text: string): string[] {
  return text
    .split(/[\s,]+/)
    .map((n) => n.trim())
    .filter((n) => n !== "");
}

function checkbox(f: Form, name: string, label: string, on: boolean): HTMLElement {
  const box = h("input", { type: "checkbox" });
  box.checked = on;
  const row = f.row(name, label, box);
  row.classList.add("check");
  return row;
}

const checked = (f: Form, name: string) => (f.control(name) as HTMLInputElement).checked;

export async function adminsView(main: HTMLElement): Promise<void> {
  let admins: AdminView[];
  try {
    admins = (await get<{ items: AdminView[] }>("/admins")).items;
  } catch (e) {
    fill(main, notice(err(e)));
    return;
  }
  fill(
    main,
    h("div", { class: "title" }, h("h1", {}, "Admins"), h("a", { href: "#/admins/new", class: "button", id: "new-admin" }, "New admin")),
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
          h("th", { scope: "col" }, "Role"),
          h("th", { scope: "col", class: "wide" }, "Two-factor"),
          h("th", { scope: "col", class: "wide" }, "Last login"),
        ),
      ),
      h(
        "tbody",
        {},
        ...admins.map((a) =>
          h(
            "tr",
            {},
            h("td", {}, h("a", { href: `#/admins/${a.id}` }, a.username), a.disabled ? h("span", { class: "badge disabled" }, " disabled") : null),
            h("td", {}, a.role),
            h("td", { class: "wide" }, a.totp_enabled ? "on" : a.totp_required ? "required, not set up" : "off"),
            h("td", { class: "wide" }, when(a.last_login_at)),
          ),
        ),
      ),
    ),
    h("h2", {}, "Roles"),
    h("ul", {}, ...ROLES.map(([, text]) => h("li", {}, text))),
  );
}

/// A new admin (`id` null) or admin `id`.
export async function adminView(main: HTMLElement, id: number | null): Promise<void> {
  let admin: AdminView | null = null;
  if (id !== null) {
    try {
      admin = await get<AdminView>(`/admins/${id}`);
    } catch (e) {
      fill(main, notice(err(e)));
      return;
    }
  }
  const f = new Form("admin");
  const form = h(
    "form",
    {
      class: "card form",
      novalidate: true,
      autocomplete: "off",
      onsubmit: async (ev: Event) => {
        ev.preventDefault();
        f.clear();
        const body: Record<string, unknown> = {
          role: f.value("role"),
          totp_required: checked(f, "totp_required"),
          allowed_networks: networks(f.value("allowed_networks")),
        };
        try {
          if (admin) {
            body.disabled = checked(f, "disabled");
            if (f.value("password") !== "") body.password = f.value("password");
            admin = await call<AdminView>("PATCH", `/admins/${admin.id}`, body);
            (f.control("password") as HTMLInputElement).value = "";
            fill(f.status, notice("Saved.", "ok"));
          } else {
            body.username = f.value("username");
            body.password = f.value("password");
            const created = await post<AdminView>("/admins", body);
            location.hash = `#/admins/${created.id}`;
          }
        } catch (e) {
          f.fail(e);
        }
      },
    },
    admin ? null : f.input("username", "Username", "", { required: true }),
    f.input(
      "password",
      admin ? "New password" : "Password",
      "",
      { type: "password", autocomplete: "new-password", required: !admin },
      admin ? "Leave empty to keep it. A new one logs the admin out everywhere." : "At least 12 characters.",
    ),
    f.select("role", "Role", admin?.role ?? "viewer", ROLES.map(([v, text]) => [v, text])),
    checkbox(f, "totp_required", "Require two-factor login", admin?.totp_required ?? false),
    f.input("allowed_networks", "Allowed networks", admin?.allowed_networks.join(", ") ?? "", {}, "CIDR, comma-separated (10.0.0.0/8); empty: any."),
    admin ? checkbox(f, "disabled", "Disabled (refused at once)", admin.disabled) : null,
    f.status,
    h("button", { type: "submit", id: "save-admin" }, admin ? "Save" : "Create"),
  );
  fill(main, h("p", {}, h("a", { href: "#/admins" }, "← Admins")), h("h1", {}, admin ? admin.username : "New admin"), form);
  f.control(admin ? "role" : "username")?.focus();
}
