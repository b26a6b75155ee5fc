// The web console's figures (issue 19) in Debian's chromium, headless, driven by
// playwright-core from adminapi/console/node_modules (`make console` installs it), against
// a running proisp-adminapi. bench/console.sh starts everything and calls this; by hand:
//
//   CONSOLE_URL=http://127.0.0.1:18082 CONSOLE_ADMIN=bencher CONSOLE_PASSWORD=… \
//     node bench/console.mjs
//
//   LOADS     cold loads of the dashboard (default 20): each a new browser context with
//             an empty cache, holding only the refresh cookie the previous one left (the
//             session a staff member comes back to). Per load: navigation start to the
//             load event, and to the dashboard complete on screen (figures, the auth
//             chart, the backends' health, the top users).
//   SEARCHES  searches typed on the subscribers page (default 200): patterns of the kinds
//             bench/history.sh uses, typed key by key KEY_DELAY ms apart (default 80, a
//             fast typist), each timed from its last keystroke to its results on screen.
//   SUBSCRIBERS  how many were seeded (user000001 …), for the patterns (default 1000000).
// Prints p50, p95 and max of each, and the whole result as one JSON line.
import { createRequire } from "node:module";

const require = createRequire(new URL("../adminapi/console/package.json", import.meta.url));
const { chromium } = require("playwright-core");

const env = (name, fallback) => {
  const v = process.env[name] ?? fallback;
  if (v === undefined) throw new Error(`${name} is not set`);
  return v;
};
const url = env("CONSOLE_URL");
const admin = env("CONSOLE_ADMIN");
const password = env("CONSOLE_PASSWORD");
const loads = Number(env("LOADS", "20"));
const searches = Number(env("SEARCHES", "200"));
const keyDelay = Number(env("KEY_DELAY", "80"));
const subscribers = Number(env("SUBSCRIBERS", "1000000"));
const WAIT = { timeout: 30_000 };

/// Deterministic patterns (a linear congruential generator seeded with 19).
function patterns(n) {
  let x = 19;
  const next = (m) => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x % m;
  };
  const out = [];
  for (let i = 0; i < n; i++) {
    const user = String(1 + next(subscribers)).padStart(6, "0");
    switch (i % 3) {
      case 0:
        out.push(`user${user.slice(0, 5)}`); // about ten matches
        break;
      case 1:
        out.push(user.slice(0, 3 + next(4))); // bare digits, 3 to 6
        break;
      default:
        out.push(`user0${String(next(1000)).padStart(3, "0")}`); // a thousand matches
    }
  }
  return out;
}

function summary(ms) {
  const s = [...ms].sort((a, b) => a - b);
  const pick = (q) => s[Math.min(s.length - 1, Math.floor(q * s.length))];
  return { n: s.length, p50: pick(0.5), p95: pick(0.95), max: s[s.length - 1] };
}
const fmt = (name, r) => `${name}\tn ${r.n}\tp50 ${r.p50.toFixed(1)} ms\tp95 ${r.p95.toFixed(1)} ms\tmax ${r.max.toFixed(1)} ms`;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox"],
});
try {
  // Log in once; every cold load then starts from the refresh cookie alone.
  let context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  let page = await context.newPage();
  await page.goto(url);
  await page.fill("#username", admin, WAIT);
  await page.fill("#password", password);
  await page.click("button[type=submit]");
  await page.getByRole("heading", { name: "Dashboard" }).waitFor(WAIT);
  let state = await context.storageState();
  await context.close();

  const loadEvent = [];
  const complete = [];
  for (let i = 0; i < loads; i++) {
    context = await browser.newContext({ viewport: { width: 1280, height: 800 }, storageState: state });
    page = await context.newPage();
    await page.goto(url, { waitUntil: "load" });
    // Complete: the figures, the chart, the backends' health and the top users drawn.
    const done = await page.waitForFunction(
      () =>
        /\d/.test(document.querySelector("#total")?.textContent ?? "") &&
        document.querySelector("#auth-chart svg") !== null &&
        document.querySelectorAll("#health li").length > 0 &&
        document.querySelector("#main table tbody") !== null
          ? performance.now()
          : null,
      null,
      { ...WAIT, polling: "raf" },
    );
    complete.push(await done.jsonValue());
    loadEvent.push(await page.evaluate(() => performance.getEntriesByType("navigation")[0].loadEventEnd));
    state = await context.storageState();
    await context.close();
  }

  // Searches: the time from the last keystroke's input event to the page saying it is
  // no longer busy with results drawn (the console marks #main aria-busy while a search
  // is pending), measured in the page.
  context = await browser.newContext({ viewport: { width: 1280, height: 800 }, storageState: state });
  page = await context.newPage();
  await page.goto(`${url}/#/subscribers`);
  await page.locator("#search").waitFor(WAIT);
  await page.evaluate(() => {
    const main = document.querySelector("#main");
    window.benchLastInput = 0;
    window.benchDrawn = [];
    document.querySelector("#search").addEventListener("input", () => {
      window.benchLastInput = performance.now();
    });
    new MutationObserver(() => {
      if (main.getAttribute("aria-busy") === "false") window.benchDrawn.push(performance.now());
    }).observe(main, { attributes: true, attributeFilter: ["aria-busy"] });
  });
  const typed = [];
  let empty = 0;
  for (const q of patterns(searches)) {
    await page.locator("#search").fill("");
    await page.waitForFunction(() => document.querySelector("#main").getAttribute("aria-busy") !== "true", null, WAIT);
    await page.locator("#search").pressSequentially(q, { delay: keyDelay });
    const ms = await page.waitForFunction(
      () => {
        const last = window.benchLastInput;
        const drawn = window.benchDrawn.find((t) => t >= last);
        return drawn === undefined || document.querySelector("#main").getAttribute("aria-busy") === "true"
          ? null
          : drawn - last;
      },
      null,
      WAIT,
    );
    typed.push(await ms.jsonValue());
    if ((await page.locator("#results tr").count()) === 0) empty++;
  }
  await context.close();

  const result = {
    url,
    dashboard_load_event_ms: summary(loadEvent),
    dashboard_complete_ms: summary(complete),
    search_last_key_to_results_ms: summary(typed),
    searches_without_results: empty,
    key_delay_ms: keyDelay,
  };
  console.log(fmt("dashboard cold load (load event)", result.dashboard_load_event_ms));
  console.log(fmt("dashboard cold load (complete)", result.dashboard_complete_ms));
  console.log(fmt("search, last keystroke to results", result.search_last_key_to_results_ms));
  console.log(`searches that found nobody: ${empty} of ${typed.length}`);
  console.log(JSON.stringify(result));
} finally {
  await browser.close();
}
