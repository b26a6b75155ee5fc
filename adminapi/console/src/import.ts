// The CSV import: the file is read in the browser and sent in parts of PART_ROWS rows
// (each with the header), so the page shows how far it got and every refused row
// (numbered as in the file) as the parts come back. "All or nothing" sends the file in
// one request instead, which the server commits only if every row is valid.

import { Raw, call } from "./api";
import { fill, h, notice, num } from "./dom";
import type { ImportReport } from "./types";

/// Rows per request when importing part by part.
const PART_ROWS = 1000;

/// The file's records as text (header first), split at line ends outside quotes.
export function records(text: string): string[] {
  const out: string[] = [];
  let quoted = false;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') quoted = !quoted;
    else if (c === "\n" && !quoted) {
      out.push(text.slice(start, i).replace(/\r$/, ""));
      start = i + 1;
    }
  }
  if (start < text.length) out.push(text.slice(start).replace(/\r$/, ""));
  return out.filter((r) => r.trim() !== "");
}

export function importView(main: HTMLElement): void {
  const file = h("input", { type: "file", id: "import-file", accept: ".csv,text/csv", required: true });
  const whole = h("input", { type: "checkbox", id: "import-all" });
  const progress = h("progress", { id: "import-progress", max: 1, value: 0, "aria-label": "Import progress" });
  const summary = h("p", { id: "import-summary", "aria-live": "polite" });
  const status = h("div", { "aria-live": "polite" });
  const errorRows = h("tbody", {});
  const errors = h(
    "table",
    { id: "import-errors", hidden: true },
    h("caption", {}, "Refused rows"),
    h("thead", {}, h("tr", {}, h("th", { scope: "col", class: "n" }, "Row"), h("th", { scope: "col" }, "Column"), h("th", { scope: "col" }, "Why"))),
    errorRows,
  );
  const submit = h("button", { type: "submit", id: "import-start" }, "Import");

  const run = async (): Promise<void> => {
    fill(status);
    fill(errorRows);
    errors.hidden = true;
    const chosen = file.files?.[0];
    if (!chosen) {
      fill(status, notice("Choose a CSV file first."));
      return;
    }
    const all = records(await chosen.text());
    const [header, ...rows] = all;
    if (header === undefined) {
      fill(status, notice("The file is empty."));
      return;
    }
    const parts = whole.checked ? [rows] : Array.from({ length: Math.ceil(rows.length / PART_ROWS) }, (_, i) => rows.slice(i * PART_ROWS, (i + 1) * PART_ROWS));
    progress.max = Math.max(1, rows.length);
    progress.value = 0;
    let done = 0;
    let created = 0;
    let refused = 0;
    const show = () => fill(summary, `${num(done)} of ${num(rows.length)} rows read: ${num(created)} created, ${num(refused)} refused.`);
    show();
    for (const part of parts) {
      const query = whole.checked ? "?all_or_nothing=true" : "";
      let report: ImportReport;
      try {
        report = await call<ImportReport>("POST", `/subscribers/import${query}`, new Raw([header, ...part].join("\n"), "text/csv"));
      } catch (e) {
        fill(status, notice(`Stopped after ${num(done)} rows: ${e instanceof Error ? e.message : String(e)}`));
        return;
      }
      // The server numbers this part's rows from 2 (its header is row 1).
      for (const err of report.errors) {
        const row = err.row === 1 ? 1 : err.row + done;
        errorRows.append(h("tr", {}, h("td", { class: "n" }, num(row)), h("td", {}, err.field), h("td", {}, err.message)));
      }
      errors.hidden = errorRows.childElementCount === 0;
      created += report.created.length;
      refused += report.errors.length;
      done += part.length;
      progress.value = done;
      show();
    }
    if (whole.checked && refused > 0) fill(status, notice("Nothing was imported: fix the refused rows and try again."));
    else fill(status, notice(`Import finished: ${num(created)} subscribers created.`, "ok"));
  };

  const form = h(
    "form",
    {
      class: "card form",
      onsubmit: async (ev: Event) => {
        ev.preventDefault();
        submit.disabled = true;
        try {
          await run();
        } finally {
          submit.disabled = false;
        }
      },
    },
    h("div", { class: "field" }, h("label", { for: file.id }, "CSV file"), file, h("small", {}, "A header row first: username, password, plan (required); status, expires_at, mac, ipv4, name, phone, email, address.")),
    h("div", { class: "field check" }, whole, h("label", { for: whole.id }, "All or nothing (import only if every row is valid)")),
    submit,
    progress,
    summary,
    status,
  );
  fill(main, h("p", {}, h("a", { href: "#/subscribers" }, "← Subscribers")), h("h1", {}, "Import subscribers"), form, errors);
}
