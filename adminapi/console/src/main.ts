// The console's shell: login, the navigation, and a router on the URL's fragment
// (`#/subscribers/42`), so the server only ever serves files.

import "./style.css";
import { type Me, get, logout, refresh, whenLoggedOut } from "./api";
import { adminView, adminsView } from "./admins";
import { auditView } from "./audit";
import { createView } from "./create";
import { dashboardView } from "./dashboard";
import { editView } from "./edit";
import { importView } from "./import";
import { fill, h } from "./dom";
import { type LiveEvents, onLive, startLive, stopLive } from "./live";
import { loginView } from "./login";
import { nasListView, nasView } from "./nas";
import { planView, plansView } from "./plans";
import { sessionsView } from "./sessions";
import { subscriberView } from "./subscriber";
import { subscribersView } from "./subscribers";

const root = document.getElementById("app") as HTMLElement;
let me: Me | null = null;
/// Counts navigations: a page still loading when the next one starts must not take
/// the live events over from the newer page.
let shown = 0;

function live(page: number, handlers: LiveEvents): void {
  if (page === shown) onLive(handlers);
}

async function route(): Promise<void> {
  if (!me) return;
  const page = ++shown;
  onLive({});
  const main = document.getElementById("main") as HTMLElement;
  const path = location.hash.replace(/^#/, "") || "/";
  for (const a of document.querySelectorAll("nav.top a")) {
    const href = a.getAttribute("href")?.replace(/^#/, "") ?? "";
    if (href === path || (href !== "/" && path.startsWith(href))) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const can = (p: string) => me?.permissions.includes(p) ?? false;
  const subscriber = path.match(/^\/subscribers\/(\d+)$/);
  if (subscriber) {
    const refresh = await subscriberView(main, Number(subscriber[1]), {
      write: can("subscriber_write"),
      kick: can("session_kick"),
      reset: can("password_reset"),
      reveal: can("password_reveal"),
    });
    live(page, { sessions: () => void refresh(), figures: () => void refresh() });
  } else if (/^\/subscribers\/\d+\/edit$/.test(path) && can("subscriber_write")) {
    await editView(main, Number(path.split("/")[2]));
  } else if (path === "/subscribers/import" && can("subscriber_write")) {
    importView(main);
  } else if (path === "/subscribers/new" && can("subscriber_write")) {
    await createView(main);
  } else if (path === "/subscribers") {
    subscribersView(main, can("subscriber_write"));
  } else if (path === "/plans") {
    await plansView(main, can("plan_write"));
  } else if (path === "/plans/new" && can("plan_write")) {
    await planView(main, null, true);
  } else if (/^\/plans\/\d+$/.test(path)) {
    await planView(main, Number(path.slice(7)), can("plan_write"));
  } else if (path === "/nas") {
    await nasListView(main, can("nas_write"));
  } else if (path === "/nas/new" && can("nas_write")) {
    await nasView(main, null, true);
  } else if (/^\/nas\/\d+$/.test(path)) {
    await nasView(main, Number(path.slice(5)), can("nas_write"));
  } else if (path === "/admins" && can("admin_manage")) {
    await adminsView(main);
  } else if (path === "/admins/new" && can("admin_manage")) {
    await adminView(main, null);
  } else if (/^\/admins\/\d+$/.test(path) && can("admin_manage")) {
    await adminView(main, Number(path.slice(8)));
  } else if (path === "/audit" && can("audit_read")) {
    auditView(main);
  } else if (path === "/sessions") {
    const refresh = sessionsView(main, can("session_kick"));
    await refresh();
    live(page, { sessions: () => void refresh() });
  } else {
    live(page, await dashboardView(main));
  }
  main.focus();
}

function shell(): void {
  if (!me) return;
  const can = (p: string) => me?.permissions.includes(p) ?? false;
  fill(
    root,
    h("a", { href: "#main", class: "skip" }, "Skip to content"),
    h(
      "header",
      {},
      h(
        "nav",
        { class: "top", "aria-label": "Main" },
        h("a", { href: "#/" }, "Dashboard"),
        h("a", { href: "#/subscribers" }, "Subscribers"),
        h("a", { href: "#/sessions" }, "Sessions"),
        h("a", { href: "#/plans" }, "Plans"),
        h("a", { href: "#/nas" }, "NAS"),
        can("admin_manage") ? h("a", { href: "#/admins" }, "Admins") : null,
        can("audit_read") ? h("a", { href: "#/audit" }, "Audit log") : null,
      ),
      h(
        "div",
        { class: "who" },
        h("span", {}, `${me.username} (${me.role})`),
        h(
          "button",
          {
            type: "button",
            id: "logout",
            onclick: async () => {
              try {
                await logout();
              } finally {
                me = null;
                start();
              }
            },
          },
          "Log out",
        ),
      ),
    ),
    h("main", { id: "main", tabindex: "-1" }),
  );
  void route();
}

async function enter(): Promise<void> {
  me = await get<Me>("/auth/me");
  startLive();
  shell();
}

function start(): void {
  shown++;
  stopLive();
  loginView(root, () => void enter());
}

whenLoggedOut(() => {
  me = null;
  start();
});
window.addEventListener("hashchange", () => void route());

// A reload keeps the session through the refresh cookie; without one, the login form.
refresh().then((ok) => (ok ? enter() : start()));
