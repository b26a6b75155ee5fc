// The console's shell: login, the navigation, and a router on the URL's fragment
// (`#/subscribers/42`), so the server only ever serves files.

import "./style.css";
import { type Me, get, logout, refresh, whenLoggedOut } from "./api";
import { createView } from "./create";
import { dashboardView } from "./dashboard";
import { fill, h } from "./dom";
import { loginView } from "./login";
import { sessionsView } from "./sessions";
import { subscriberView } from "./subscriber";
import { subscribersView } from "./subscribers";

/// How often live pages read again: a session that starts shows within 2 s.
const LIVE_MS = 1000;

const root = document.getElementById("app") as HTMLElement;
let me: Me | null = null;
let ticker: number | undefined;
/// Counts navigations: a page still loading when the next one starts must not start its
/// ticker over the newer page.
let shown = 0;

function live(page: number, f: () => Promise<void>): void {
  if (page !== shown) return;
  window.clearInterval(ticker);
  ticker = window.setInterval(() => void f(), LIVE_MS);
}

async function route(): Promise<void> {
  if (!me) return;
  window.clearInterval(ticker);
  const page = ++shown;
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
    live(page, refresh);
  } else if (path === "/subscribers/new" && can("subscriber_write")) {
    await createView(main);
  } else if (path === "/subscribers") {
    subscribersView(main, can("subscriber_write"));
  } else if (path === "/sessions") {
    const refresh = sessionsView(main, can("session_kick"));
    await refresh();
    live(page, refresh);
  } else {
    const show = () => dashboardView(main);
    await show();
    live(page, show);
  }
  main.focus();
}

function shell(): void {
  if (!me) return;
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
  shell();
}

function start(): void {
  shown++;
  window.clearInterval(ticker);
  loginView(root, () => void enter());
}

whenLoggedOut(() => {
  me = null;
  start();
});
window.addEventListener("hashchange", () => void route());

// A reload keeps the session through the refresh cookie; without one, the login form.
refresh().then((ok) => (ok ? enter() : start()));
