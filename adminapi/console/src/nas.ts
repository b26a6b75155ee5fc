// NAS devices: the list with how CoA reaches each (coa_health), and a NAS's form. The
// shared secret is write-only: never shown (the API never returns it), only replaced.

import { call, get, post } from "./api";
import { fill, h, notice, num, when } from "./dom";
import { Form } from "./form";
import type { Nas } from "./types";

const VENDORS: [string, string][] = [
  ["mikrotik", "MikroTik"],
  ["cisco", "Cisco"],
  ["juniper", "Juniper"],
  ["accel-ppp", "accel-ppp"],
  ["other", "Other"],
];

function err(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/// How CoA reaches the NAS, in a few words.
function health(n: Nas): HTMLElement {
  const c = n.coa_health;
  if (!c) return h("span", { class: "muted" }, "—");
  if (c.unreachable) return h("span", { class: "danger-text" }, `Unreachable, ${num(c.kept)} changes kept`);
  if (c.kept > 0) return h("span", { class: "danger-text" }, `${num(c.kept)} changes kept since ${when(c.oldest_kept_at)}`);
  return h("span", { class: "ok-text" }, `Reachable (${num(c.ack)} ACK, ${num(c.nak)} NAK, ${num(c.timeout)} timed out)`);
}

export async function nasListView(main: HTMLElement, canWrite: boolean): Promise<void> {
  let items: Nas[];
  try {
    items = (await get<{ items: Nas[] }>("/nas")).items;
  } catch (e) {
    fill(main, notice(err(e)));
    return;
  }
  fill(
    main,
    h("div", { class: "title" }, h("h1", {}, "NAS"), canWrite ? h("a", { href: "#/nas/new", class: "button", id: "new-nas" }, "New NAS") : null),
    items.length
      ? h(
          "table",
          {},
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              h("th", { scope: "col" }, "Name"),
              h("th", { scope: "col" }, "Address"),
              h("th", { scope: "col", class: "wide" }, "Make"),
              h("th", { scope: "col" }, "CoA"),
            ),
          ),
          h(
            "tbody",
            {},
            ...items.map((n) =>
              h(
                "tr",
                {},
                h("td", {}, h("a", { href: `#/nas/${n.id}` }, n.name)),
                h("td", {}, n.address),
                h("td", { class: "wide" }, n.vendor),
                h("td", {}, health(n)),
              ),
            ),
          ),
        )
      : notice("No NAS yet.", "ok"),
  );
}

/// A new NAS (`id` null) or NAS `id`.
export async function nasView(main: HTMLElement, id: number | null, canWrite: boolean): Promise<void> {
  let nas: Nas | null = null;
  if (id !== null) {
    try {
      nas = await get<Nas>(`/nas/${id}`);
    } catch (e) {
      fill(main, notice(err(e)));
      return;
    }
  }
  const f = new Form("nas");
  const check = (name: string, label: string, on: boolean) => {
    const box = h("input", { type: "checkbox" });
    box.checked = on;
    const row = f.row(name, label, box);
    row.classList.add("check");
    return row;
  };
  const boxes = ["require_message_authenticator", "tls_own_secret", "tls_coa"];
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
          name: f.value("name"),
          address: f.value("address"),
          vendor: f.value("vendor"),
          coa_port: f.number("coa_port"),
          tls_identity: f.value("tls_identity") || null,
          coa_window: f.number("coa_window"),
          coa_rate: f.number("coa_rate"),
        };
        for (const b of boxes) body[b] = (f.control(b) as HTMLInputElement).checked;
        // Left empty, the secret stays as it is.
        if (f.value("secret") !== "") body.secret = f.value("secret");
        try {
          if (nas) {
            nas = await call<Nas>("PATCH", `/nas/${nas.id}`, body);
            (f.control("secret") as HTMLInputElement).value = "";
            fill(f.status, notice(body.secret ? "Saved, with the new secret." : "Saved.", "ok"));
          } else {
            const created = await post<Nas>("/nas", Object.fromEntries(Object.entries(body).filter(([, v]) => v !== null)));
            location.hash = `#/nas/${created.id}`;
          }
        } catch (e) {
          f.fail(e);
        }
      },
    },
    h(
      "fieldset",
      { disabled: !canWrite },
      h("legend", { class: "sr-only" }, "NAS settings"),
      f.input("name", "Name", nas?.name, { required: true }),
      f.input("address", "Address or range", nas?.address, { required: true }, "192.0.2.10, or 10.20.0.0/24 for NASes sharing a secret."),
      f.input(
        "secret",
        nas ? "New shared secret" : "Shared secret",
        "",
        { type: "password", autocomplete: "new-password", required: !nas },
        nas ? "Set, and never shown. Leave empty to keep it; type one to replace it." : "Never shown again once saved.",
      ),
      f.select("vendor", "Make", nas?.vendor ?? "mikrotik", VENDORS),
      f.input("coa_port", "CoA port", nas?.coa_port ?? 3799, { inputmode: "numeric" }),
      check("require_message_authenticator", "Require Message-Authenticator (BlastRADIUS)", nas?.require_message_authenticator ?? true),
      h(
        "details",
        { open: Boolean(nas?.tls_identity || nas?.coa_window || nas?.coa_rate) },
        h("summary", {}, "RadSec and CoA pacing"),
        h(
          "div",
          { class: "pair" },
          f.input("tls_identity", "RadSec certificate identity", nas?.tls_identity),
          f.input("coa_window", "CoA window", nas?.coa_window, { inputmode: "numeric" }, "Requests in flight at once; empty: the default."),
          f.input("coa_rate", "CoA rate cap (per second)", nas?.coa_rate, { inputmode: "numeric" }, "Empty: no cap."),
        ),
        check("tls_own_secret", "Sign RadSec with this NAS's own secret", nas?.tls_own_secret ?? false),
        check("tls_coa", "Send CoA over its RadSec connection", nas?.tls_coa ?? false),
      ),
    ),
    f.status,
    canWrite ? h("button", { type: "submit", id: "save-nas" }, nas ? "Save" : "Create") : null,
  );
  fill(
    main,
    h("p", {}, h("a", { href: "#/nas" }, "← NAS")),
    h("h1", {}, nas ? nas.name : "New NAS"),
    nas ? h("p", { id: "coa-health" }, "CoA: ", health(nas)) : null,
    form,
  );
  f.control("name")?.focus();
}
