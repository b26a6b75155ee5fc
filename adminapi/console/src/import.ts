// The CSV import: the file goes to the server whole, as a job (POST
// /subscribers/imports), which checks and writes it part by part; the page follows the
// job, showing how far it got and every refused row (numbered as in the file) as the
// parts are done. The job runs on without the page: leaving it does not stop the import,
// the Cancel button does (the parts written stay), and the latest imports are listed
// below the form to follow again. "All or nothing" makes the job check every row first
// and write them only if none is refused.

import { Raw, call, get } from "./api";
import { fill, h, notice, num, when } from "./dom";
import type { ImportErrorPage, ImportJob } from "./types";

/// How often the page asks how far the job got.
const POLL_MS = 300;

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
  const recentRows = h("tbody", {});
  const recent = h(
    "table",
    { id: "import-recent", hidden: true },
    h("caption", {}, "Latest imports"),
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        h("th", { scope: "col" }, "Started"),
        h("th", { scope: "col" }, "By"),
        h("th", { scope: "col" }, "State"),
        h("th", { scope: "col", class: "n" }, "Rows"),
        h("th", { scope: "col", class: "n" }, "Created"),
        h("th", { scope: "col", class: "n" }, "Refused"),
        h("th", { scope: "col" }, h("span", { class: "sr-only" }, "Details")),
      ),
    ),
    recentRows,
  );
  const cancel = h("button", { type: "button", id: "import-cancel", hidden: true }, "Cancel import");

  /// Appends the refused rows after row `after`; returns the last row listed.
  const listErrors = async (job: number, after: number): Promise<number> => {
    let last = after;
    for (;;) {
      const page = await get<ImportErrorPage>(`/subscribers/imports/${job}/errors?after=${last}&limit=1000`);
      for (const err of page.items) {
        errorRows.append(h("tr", {}, h("td", { class: "n" }, num(err.row)), h("td", {}, err.field), h("td", {}, err.message)));
        last = err.row;
      }
      errors.hidden = errorRows.childElementCount === 0;
      if (page.next === null) return last;
    }
  };

  const show = (job: ImportJob) => {
    progress.max = Math.max(1, job.rows);
    progress.value = job.processed;
    const verb = job.all_or_nothing ? "checked" : "read";
    fill(summary, `${num(job.processed)} of ${num(job.rows)} rows ${verb}: ${num(job.created)} created, ${num(job.refused)} refused.`);
  };

  const follow = async (id: number): Promise<void> => {
    let listed = 0;
    cancel.hidden = false;
    cancel.onclick = async () => {
      cancel.disabled = true;
      try {
        await call("DELETE", `/jobs/${id}`);
      } catch (e) {
        fill(status, notice(e instanceof Error ? e.message : String(e)));
      }
    };
    try {
      for (;;) {
        const job = await get<ImportJob>(`/subscribers/imports/${id}`);
        show(job);
        if (job.state !== "running") {
          // All listed again: an all-or-nothing write may refuse rows listed before.
          fill(errorRows);
          listed = 0;
        }
        listed = await listErrors(id, listed);
        if (job.state === "cancelled") {
          fill(status, notice(`Import cancelled: ${num(job.created)} subscribers created before it stopped.`));
          return;
        }
        if (job.state !== "running") {
          if (job.all_or_nothing && !job.committed) fill(status, notice("Nothing was imported: fix the refused rows and try again."));
          else fill(status, notice(`Import finished: ${num(job.created)} subscribers created.`, "ok"));
          return;
        }
        if (job.all_or_nothing && job.processed === job.rows && job.refused === 0) fill(status, notice("Every row checked: writing them…", "ok"));
        await new Promise((r) => window.setTimeout(r, POLL_MS));
      }
    } finally {
      cancel.hidden = true;
      cancel.disabled = false;
    }
  };

  /// Empties the report of the import shown before.
  const clear = (): void => {
    fill(status);
    fill(summary);
    fill(errorRows);
    errors.hidden = true;
    progress.value = 0;
  };

  /// Lists the latest imports, each with a button that follows it here.
  const listRecent = async (): Promise<void> => {
    let jobs: ImportJob[];
    try {
      jobs = await get<ImportJob[]>("/subscribers/imports?limit=10");
    } catch {
      return;
    }
    fill(recentRows);
    for (const job of jobs) {
      const show = h("button", { type: "button" }, `Show import ${job.id}`);
      show.onclick = () => void watch(job.id);
      recentRows.append(
        h(
          "tr",
          {},
          h("td", {}, when(job.created_at)),
          h("td", {}, job.created_by),
          h("td", {}, job.state),
          h("td", { class: "n" }, num(job.rows)),
          h("td", { class: "n" }, num(job.created)),
          h("td", { class: "n" }, num(job.refused)),
          h("td", {}, show),
        ),
      );
    }
    recent.hidden = jobs.length === 0;
  };

  /// Follows import `id` from the start of its report, then lists the latest again.
  const watch = async (id: number): Promise<void> => {
    clear();
    try {
      await follow(id);
    } catch (e) {
      fill(status, notice(`The import goes on, but its progress cannot be read: ${e instanceof Error ? e.message : String(e)}`));
    }
    await listRecent();
  };

  const run = async (): Promise<void> => {
    clear();
    const chosen = file.files?.[0];
    if (!chosen) {
      fill(status, notice("Choose a CSV file first."));
      return;
    }
    const query = whole.checked ? "?all_or_nothing=true" : "";
    let started: { job_id: number; rows: number };
    try {
      started = await call("POST", `/subscribers/imports${query}`, new Raw(await chosen.text(), "text/csv"));
    } catch (e) {
      fill(status, notice(`Not imported: ${e instanceof Error ? e.message : String(e)}`));
      return;
    }
    await watch(started.job_id);
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
    cancel,
    progress,
    summary,
    status,
  );
  fill(main, h("p", {}, h("a", { href: "#/subscribers" }, "← Subscribers")), h("h1", {}, "Import subscribers"), form, errors, recent);
  void listRecent();
}
