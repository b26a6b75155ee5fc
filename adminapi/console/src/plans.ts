// Plans: the list, a plan's form (new or edit) with the Mikrotik-Rate-Limit it will send
// shown as it is typed, and "apply to online subscribers" (a CoA job).

import { call, get, post } from "./api";
import { fill, h, notice, num, octets } from "./dom";
import { Form } from "./form";
import type { Job, Plan } from "./types";

const BURST = ["download_kbps", "upload_kbps", "threshold_download_kbps", "threshold_upload_kbps", "time_secs"];
const SPEEDS = ["download_kbps", "upload_kbps"];
const GB = 1e9;

/// A rate in the shortest exact MikroTik unit, as radiusd writes it (model/src/plan.rs).
function rate(kbps: number): string {
  if (kbps === 0) return "0";
  return kbps % 1000 === 0 ? `${kbps / 1000}M` : `${kbps}k`;
}

/// The Mikrotik-Rate-Limit of a plan's settings, as `RateLimit::to_mikrotik` builds it:
/// rx/tx (upload first), then burst, threshold, time, priority, limit-at, each needing
/// the ones before it.
export function mikrotikRateLimit(p: Pick<Plan, "download_kbps" | "upload_kbps" | "burst" | "priority" | "min">): string {
  let out = `${rate(p.upload_kbps)}/${rate(p.download_kbps)}`;
  if (!p.burst && p.priority === null && !p.min) return out;
  const b = p.burst ?? { download_kbps: 0, upload_kbps: 0, threshold_download_kbps: 0, threshold_upload_kbps: 0, time_secs: 0 };
  out += ` ${rate(b.upload_kbps)}/${rate(b.download_kbps)} ${rate(b.threshold_upload_kbps)}/${rate(b.threshold_download_kbps)} ${b.time_secs}/${b.time_secs}`;
  if (p.priority === null && !p.min) return out;
  out += ` ${p.priority ?? 8}`;
  if (p.min) out += ` ${rate(p.min.upload_kbps)}/${rate(p.min.download_kbps)}`;
  return out;
}

function err(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export async function plansView(main: HTMLElement, canWrite: boolean): Promise<void> {
  let plans: Plan[];
  try {
    plans = (await get<{ items: Plan[] }>("/plans")).items;
  } catch (e) {
    fill(main, notice(err(e)));
    return;
  }
  fill(
    main,
    h("div", { class: "title" }, h("h1", {}, "Plans"), canWrite ? h("a", { href: "#/plans/new", class: "button", id: "new-plan" }, "New plan") : null),
    h(
      "table",
      {},
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", { scope: "col" }, "Name"),
          h("th", { scope: "col" }, "Mikrotik-Rate-Limit"),
          h("th", { scope: "col", class: "n wide" }, "Quota"),
          h("th", { scope: "col", class: "n wide" }, "Price"),
        ),
      ),
      h(
        "tbody",
        {},
        ...plans.map((p) =>
          h(
            "tr",
            {},
            h("td", {}, h("a", { href: `#/plans/${p.id}` }, p.name)),
            h("td", {}, h("code", {}, p.mikrotik_rate_limit)),
            h("td", { class: "n wide" }, p.quota_bytes === null ? "unlimited" : `${octets(p.quota_bytes)} / ${p.quota_period}`),
            h("td", { class: "n wide" }, num(p.price_cents / 100)),
          ),
        ),
      ),
    ),
  );
}

/// The plan's settings from the form, as the API takes them; `null` clears a setting.
function settings(f: Form): Record<string, unknown> {
  const group = (g: string, keys: string[]) =>
    keys.some((k) => f.value(`${g}.${k}`) !== "") ? Object.fromEntries(keys.map((k) => [k, f.number(`${g}.${k}`)])) : null;
  const quota = f.number("quota_bytes");
  return {
    name: f.value("name"),
    download_kbps: f.number("download_kbps"),
    upload_kbps: f.number("upload_kbps"),
    priority: f.number("priority"),
    burst: group("burst", BURST),
    min: group("min", SPEEDS),
    quota_bytes: typeof quota === "number" ? Math.round(quota * GB) : quota,
    quota_period: f.value("quota_period"),
    fup: group("fup", SPEEDS),
    fup_action: f.value("fup_action"),
    interim_interval_secs: f.number("interim_interval_secs"),
    pool: f.value("pool") || null,
    validity_days: f.number("validity_days"),
    price_cents: f.number("price_cents"),
  };
}

/// The preview's rate from the form, or why there is none yet.
function preview(f: Form): string {
  const s = settings(f);
  const ok = (v: unknown) => typeof v === "number" && Number.isInteger(v) && v >= 0;
  const groupOk = (g: unknown) => g === null || Object.values(g as object).every(ok);
  if (!ok(s.download_kbps) || !ok(s.upload_kbps) || !(s.priority === null || ok(s.priority)) || !groupOk(s.burst) || !groupOk(s.min)) {
    return "— (whole kbit/s numbers needed)";
  }
  return mikrotikRateLimit(s as unknown as Plan);
}

/// Runs the apply job and reports its progress in `status` until it ends.
async function apply(plan: Plan, status: HTMLElement): Promise<void> {
  const started = await post<{ job_id: number }>(`/plans/${plan.id}/apply`);
  fill(status, notice(`Applying ${plan.name}…`, "ok"));
  for (let i = 0; i < 600; i++) {
    const job = await get<Job>(`/jobs/${started.job_id}`);
    const t = job.totals;
    const counts = `${num(t.ack)} of ${num(t.sessions)} sessions acknowledged, ${num(t.nak)} refused, ${num(t.timeout)} unanswered, ${num(t.deferred)} waiting for their NAS, ${num(t.skipped)} skipped, ${num(t.error)} failed`;
    if (job.state !== "running") {
      fill(status, notice(`Applied to online subscribers (${job.state}): ${counts}.`, "ok"));
      return;
    }
    fill(status, notice(`Applying ${plan.name}: ${counts} so far.`, "ok"));
    await new Promise((r) => window.setTimeout(r, 500));
  }
}

/// A new plan (`id` null) or plan `id`, editable when `canWrite`.
export async function planView(main: HTMLElement, id: number | null, canWrite: boolean): Promise<void> {
  let plan: Plan | null = null;
  if (id !== null) {
    try {
      plan = await get<Plan>(`/plans/${id}`);
    } catch (e) {
      fill(main, notice(err(e)));
      return;
    }
  }
  const f = new Form("plan");
  const shown = h("output", { id: "rate-preview", "aria-live": "polite" });
  const showPreview = () => fill(shown, preview(f));
  const kbps = (name: string, label: string, value: number | null | undefined, hint?: string) =>
    f.input(name, label, value, { inputmode: "numeric", autocomplete: "off" }, hint);
  const fields = h(
    "fieldset",
    { disabled: !canWrite, oninput: showPreview },
    h("legend", { class: "sr-only" }, "Plan settings"),
    f.input("name", "Name", plan?.name, { required: true, autocomplete: "off" }),
    h("div", { class: "pair" }, kbps("download_kbps", "Download (kbit/s)", plan?.download_kbps), kbps("upload_kbps", "Upload (kbit/s)", plan?.upload_kbps)),
    h(
      "details",
      { open: Boolean(plan?.burst || plan?.priority || plan?.min) },
      h("summary", {}, "Burst, priority, guaranteed speed"),
      h(
        "div",
        { class: "pair" },
        kbps("burst.download_kbps", "Burst download (kbit/s)", plan?.burst?.download_kbps),
        kbps("burst.upload_kbps", "Burst upload (kbit/s)", plan?.burst?.upload_kbps),
        kbps("burst.threshold_download_kbps", "Burst threshold download (kbit/s)", plan?.burst?.threshold_download_kbps),
        kbps("burst.threshold_upload_kbps", "Burst threshold upload (kbit/s)", plan?.burst?.threshold_upload_kbps),
        kbps("burst.time_secs", "Burst time (s)", plan?.burst?.time_secs),
        kbps("priority", "Priority (1 highest – 8)", plan?.priority),
        kbps("min.download_kbps", "Guaranteed download (kbit/s)", plan?.min?.download_kbps),
        kbps("min.upload_kbps", "Guaranteed upload (kbit/s)", plan?.min?.upload_kbps),
      ),
    ),
    h(
      "div",
      { class: "pair" },
      f.input("quota_bytes", "Quota (GB)", plan?.quota_bytes == null ? null : plan.quota_bytes / GB, { inputmode: "decimal", autocomplete: "off" }, "Empty: unlimited."),
      f.select("quota_period", "Quota period", plan?.quota_period ?? "month", [
        ["day", "Day"],
        ["week", "Week"],
        ["month", "Month"],
      ]),
      kbps("fup.download_kbps", "Fair-usage download (kbit/s)", plan?.fup?.download_kbps),
      kbps("fup.upload_kbps", "Fair-usage upload (kbit/s)", plan?.fup?.upload_kbps),
      f.select("fup_action", "Quota spent", plan?.fup_action ?? "throttle", [
        ["throttle", "Slow down to the fair-usage speed"],
        ["disconnect", "Disconnect"],
      ]),
      kbps("interim_interval_secs", "Interim interval (s)", plan?.interim_interval_secs ?? 300),
      f.input("pool", "Address pool", plan?.pool, { autocomplete: "off" }),
      kbps("validity_days", "Validity (days)", plan?.validity_days ?? 30),
      kbps("price_cents", "Price (cents)", plan?.price_cents ?? 0),
    ),
  );
  const applyStatus = h("div", { "aria-live": "polite" });
  const form = h(
    "form",
    {
      class: "card form wide-form",
      novalidate: true,
      onsubmit: async (ev: Event) => {
        ev.preventDefault();
        f.clear();
        const body = settings(f);
        try {
          if (plan) {
            plan = await call<Plan>("PATCH", `/plans/${plan.id}`, body);
            fill(f.status, notice(`Saved. radiusd sends ${plan.mikrotik_rate_limit} from the next login; apply it to who is online below.`, "ok"));
          } else {
            const created = await post<Plan>("/plans", Object.fromEntries(Object.entries(body).filter(([, v]) => v !== null)));
            location.hash = `#/plans/${created.id}`;
          }
        } catch (e) {
          f.fail(e);
        }
      },
    },
    fields,
    h("p", {}, "Mikrotik-Rate-Limit: ", h("code", {}, shown)),
    f.status,
    canWrite ? h("button", { type: "submit", id: "save-plan" }, plan ? "Save" : "Create") : null,
  );
  const applying = plan && canWrite
    ? h(
        "section",
        { "aria-labelledby": "apply-heading" },
        h("h2", { id: "apply-heading" }, "Online subscribers"),
        h("p", { class: "muted" }, "A saved plan reaches each subscriber at their next login; this sends it to those online now (CoA to MikroTik NAS)."),
        h(
          "button",
          {
            type: "button",
            id: "apply-plan",
            onclick: async (ev: Event) => {
              const button = ev.currentTarget as HTMLButtonElement;
              button.disabled = true;
              try {
                if (plan) await apply(plan, applyStatus);
              } catch (e) {
                fill(applyStatus, notice(err(e)));
              } finally {
                button.disabled = false;
              }
            },
          },
          "Apply to online subscribers",
        ),
        applyStatus,
      )
    : null;
  fill(main, h("p", {}, h("a", { href: "#/plans" }, "← Plans")), h("h1", {}, plan ? plan.name : "New plan"), form, applying);
  showPreview();
  f.control("name")?.focus();
}
