// Login (password, and the code of an authenticator app when two-factor login is on),
// and TOTP enrollment when the admin's role requires it and none is set up yet.

import qrcode from "qrcode-generator";
import { ApiError, login, post } from "./api";
import { fill, h, notice } from "./dom";

export function loginView(root: HTMLElement, done: () => void, message?: string): void {
  const status = h("div", { "aria-live": "polite" }, message ? notice(message, "ok") : null);
  const username = h("input", { id: "username", name: "username", autocomplete: "username", required: true });
  const password = h("input", {
    id: "password",
    name: "password",
    type: "password",
    autocomplete: "current-password",
    required: true,
  });
  const code = h("input", {
    id: "totp",
    name: "totp",
    inputmode: "numeric",
    autocomplete: "one-time-code",
    pattern: "[0-9]{6}",
    "aria-describedby": "totp-help",
  });
  const button = h("button", { type: "submit" }, "Log in");
  const form = h(
    "form",
    {
      class: "card login",
      onsubmit: async (ev: Event) => {
        ev.preventDefault();
        button.disabled = true;
        fill(status);
        try {
          const tokens = await login(username.value, password.value, code.value.trim());
          if (tokens.totp_enrollment_required) enrollView(root, done);
          else done();
        } catch (e) {
          const text =
            e instanceof ApiError && e.status === 429
              ? "Too many failed logins: wait a little and try again."
              : e instanceof ApiError
                ? "Wrong username, password or code."
                : "The server cannot be reached.";
          fill(status, notice(text));
        } finally {
          button.disabled = false;
        }
      },
    },
    h("h1", {}, "ProISP console"),
    h("label", { for: "username" }, "Username"),
    username,
    h("label", { for: "password" }, "Password"),
    password,
    h("label", { for: "totp" }, "Code"),
    code,
    h("small", { id: "totp-help" }, "The 6-digit code of your authenticator app, if two-factor login is on."),
    status,
    button,
  );
  fill(root, h("main", { class: "center" }, form));
  username.focus();
}

function enrollView(root: HTMLElement, done: () => void): void {
  const status = h("div", { "aria-live": "polite" });
  const qr = h("div", { class: "qr" });
  const url = h("code", { class: "secret" });
  const code = h("input", { id: "enroll-code", inputmode: "numeric", autocomplete: "one-time-code", required: true });
  const form = h(
    "form",
    {
      class: "card login",
      onsubmit: async (ev: Event) => {
        ev.preventDefault();
        try {
          await post("/auth/totp/confirm", { code: code.value.trim() });
          // The enrollment-only token is good for nothing else: a real login follows.
          loginView(root, done, "Two-factor login is on: log in again with a code.");
        } catch (e) {
          fill(status, notice(e instanceof Error ? e.message : String(e)));
        }
      },
    },
    h("h1", {}, "Set up two-factor login"),
    h("p", {}, "Your role requires it. Scan this code with an authenticator app (or add the key below), then enter the code it shows."),
    qr,
    url,
    h("label", { for: "enroll-code" }, "Code"),
    code,
    status,
    h("button", { type: "submit" }, "Turn on"),
  );
  fill(root, h("main", { class: "center" }, form));
  post<{ otpauth_url: string }>("/auth/totp/setup").then(
    (s) => {
      // Drawn here, in the page: the key never leaves the browser for an image service.
      const code = qrcode(0, "M");
      code.addData(s.otpauth_url);
      code.make();
      fill(qr, h("img", { src: code.createDataURL(5, 2), alt: "QR code of the two-factor key" }));
      fill(url, s.otpauth_url);
    },
    (e) => fill(status, notice(e instanceof Error ? e.message : String(e))),
  );
}
