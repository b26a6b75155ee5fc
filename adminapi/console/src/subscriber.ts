// One subscriber: details, suspend/resume, sessions online (kick) and the last ones,
// usage per period (a chart) and the last Access-Rejects with their Reply-Message.

import { get, post } from "./api";
import { barChart } from "./chart";
import { duration, fill, h, notice, octets, when } from "./dom";
import { sessionTable } from "./sessions";
import { statusBadge } from "./subscribers";
import type { HistoryPage, PasswordAnswer, RejectList, SessionList, Subscriber, UsageReport } from "./types";

export interface Can {
  write: boolean;
  kick: boolean;
  reset: boolean;
  reveal: boolean;
}

/// A button that runs `act` and reports its failure in `status`.
function action(id: string, label: string, status: HTMLElement, act: () => Promise<void>, danger = false): HTMLElement {
  return h(
    "button",
    {
      type: "button",
      id,
      class: danger ? "danger" : "",
      onclick: async (ev: Event) => {
        const button = ev.currentTarget as HTMLButtonElement;
        button.disabled = true;
        try {
          await act();
        } catch (e) {
          fill(status, notice(e instanceof Error ? e.message : String(e)));
        } finally {
          button.disabled = false;
        }
      },
    },
    label,
  );
}

function details(s: Subscriber): HTMLElement {
  const rows: [string, string | HTMLElement][] = [
    ["Status", statusBadge(s.status)],
    ["Plan", s.plan],
    ["Expires", when(s.expires_at)],
    ["Name", s.name ?? ""],
    ["Phone", s.phone ?? ""],
    ["Email", s.email ?? ""],
    ["Address", s.address ?? ""],
    ["MAC", s.mac ?? ""],
    ["Static IPv4", s.ipv4 ?? ""],
    ["Simultaneous use", String(s.simultaneous_use)],
    ["Fair usage until", when(s.fup_until)],
  ];
  return h("dl", { class: "details" }, ...rows.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

const month = new Intl.DateTimeFormat(undefined, { dateStyle: "medium" });

/// Usage per billing period, oldest to newest, as a chart.
async function usage(box: HTMLElement, id: number): Promise<void> {
  try {
    const u = await get<UsageReport>(`/subscribers/${id}/usage?limit=12`);
    const items = [...u.items].reverse();
    fill(
      box,
      h("h2", { id: "usage-h" }, `Usage per ${u.period}`),
      items.length
        ? barChart(
            `Usage per ${u.period}`,
            items.map((p) => month.format(new Date(p.period_start))),
            [
              { name: "Download", class: "bar-down", values: items.map((p) => p.download_octets) },
              { name: "Upload", class: "bar-up", values: items.map((p) => p.upload_octets) },
            ],
            octets,
          )
        : h("p", { class: "muted" }, "No usage yet."),
    );
  } catch (e) {
    fill(box, h("h2", { id: "usage-h" }, "Usage"), notice(e instanceof Error ? e.message : String(e)));
  }
}

/// The last Access-Rejects radiusd recorded, with their Reply-Message.
async function rejects(box: HTMLElement, id: number): Promise<void> {
  const head = h("h2", { id: "rejects-h" }, "Last rejects");
  try {
    const r = await get<RejectList>(`/subscribers/${id}/rejects`);
    fill(
      box,
      head,
      r.items.length
        ? h(
            "table",
            { id: "rejects" },
            h(
              "thead",
              {},
              h(
                "tr",
                {},
                h("th", { scope: "col" }, "When"),
                h("th", { scope: "col" }, "Reply-Message"),
                h("th", { scope: "col", class: "wide" }, "NAS"),
                h("th", { scope: "col", class: "wide" }, "Calling-Station-Id"),
              ),
            ),
            h(
              "tbody",
              {},
              ...r.items.map((x) =>
                h(
                  "tr",
                  {},
                  h("td", {}, when(x.at)),
                  h("td", {}, x.reply_message),
                  h("td", { class: "wide" }, x.nas),
                  h("td", { class: "wide" }, x.calling_station_id ?? ""),
                ),
              ),
            ),
          )
        : h("p", { class: "muted" }, "No reject in the last 7 days."),
    );
  } catch (e) {
    fill(box, head, notice(e instanceof Error ? e.message : String(e)));
  }
}

export async function subscriberView(main: HTMLElement, id: number, can: Can): Promise<() => Promise<void>> {
  const status = h("div", { "aria-live": "polite" });
  const head = h("div", {});
  const online = h("section", { "aria-labelledby": "online-h" });
  const history = h("section", { "aria-labelledby": "history-h" });
  const usageBox = h("section", { "aria-labelledby": "usage-h" });
  const rejectsBox = h("section", { "aria-labelledby": "rejects-h" });

  // A password shown stays on screen until the page is left; it is never stored.
  const password = h("div", { "aria-live": "polite" });
  const showPassword = (text: string, value: string): void =>
    fill(password, h("p", { class: "notice ok", role: "status" }, text, " ", h("code", { id: "password" }, value)));

  const show = (s: Subscriber): void => {
    const suspend = s.status === "active";
    const buttons = [
      can.write &&
        action(suspend ? "suspend" : "resume", suspend ? "Suspend" : "Resume", status, async () => {
          show(await post<Subscriber>(`/subscribers/${s.id}/${suspend ? "suspend" : "resume"}`));
          fill(status, notice(suspend ? "Suspended." : "Resumed.", "ok"));
        }, suspend),
      can.write && h("a", { href: `#/subscribers/${s.id}/edit`, class: "button", id: "edit" }, "Edit"),
      can.write &&
        action("renew", "Renew", status, async () => {
          const renewed = await post<Subscriber>(`/subscribers/${s.id}/renew`);
          show(renewed);
          fill(status, notice(`Renewed until ${when(renewed.expires_at)}.`, "ok"));
        }),
      can.reset &&
        action("reset-password", "New password", status, async () => {
          const r = await post<PasswordAnswer>(`/subscribers/${s.id}/reset-password`, {});
          fill(status);
          showPassword("New password (shown once):", r.password ?? "");
        }),
      can.reveal &&
        action("reveal-password", "Show password", status, async () => {
          const r = await post<PasswordAnswer>(`/subscribers/${s.id}/reveal-password`);
          fill(status);
          showPassword("Password:", r.password ?? "");
        }),
    ].filter((b): b is HTMLElement => b instanceof HTMLElement);
    fill(
      head,
      h("h1", {}, s.username),
      buttons.length ? h("div", { class: "actions" }, ...buttons) : null,
      password,
      details(s),
    );
  };

  const refresh = async (): Promise<void> => {
    void rejects(rejectsBox, id);
    const live = await get<SessionList>(`/sessions?subscriber_id=${id}`);
    fill(
      online,
      h("h2", { id: "online-h" }, "Online now"),
      live.items.length ? sessionTable(live.items, can.kick, status, () => void refresh()) : h("p", { class: "muted" }, "Not online."),
    );
  };

  try {
    show(await get<Subscriber>(`/subscribers/${id}`));
    await refresh();
    const past = await get<HistoryPage>(`/subscribers/${id}/sessions/history?limit=10`);
    fill(
      history,
      h("h2", { id: "history-h" }, "Last sessions"),
      past.items.length
        ? h(
            "table",
            {},
            h(
              "thead",
              {},
              h(
                "tr",
                {},
                h("th", { scope: "col" }, "Started"),
                h("th", { scope: "col", class: "n" }, "Time"),
                h("th", { scope: "col", class: "n wide" }, "Down / up"),
                h("th", { scope: "col" }, "Ended by"),
              ),
            ),
            h(
              "tbody",
              {},
              ...past.items.map((p) =>
                h(
                  "tr",
                  {},
                  h("td", {}, when(p.started_at)),
                  h("td", { class: "n" }, duration(p.session_time_secs)),
                  h("td", { class: "n wide" }, `${octets(p.download_octets)} / ${octets(p.upload_octets)}`),
                  h("td", {}, p.terminate_cause ?? ""),
                ),
              ),
            ),
          )
        : h("p", { class: "muted" }, "No session yet."),
    );
  } catch (e) {
    fill(status, notice(e instanceof Error ? e.message : String(e)));
  }
  await usage(usageBox, id);
  fill(main, h("p", {}, h("a", { href: "#/subscribers" }, "← Subscribers")), status, head, online, rejectsBox, history, usageBox);
  return refresh;
}
