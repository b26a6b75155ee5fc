// The one way the console talks to proisp-adminapi: /api/v1 on the same origin. The
// access token lives in this module's memory only; the refresh token is an HttpOnly
// cookie the page cannot read, sent by the browser to /api/v1/auth/refresh alone.

export interface ApiErrorBody {
  error: string;
  message: string;
  field: string | null;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: ApiErrorBody,
  ) {
    super(body.message);
  }
}

export interface Me {
  id: number;
  username: string;
  role: string;
  permissions: string[];
  totp_enabled: boolean;
  totp_required: boolean;
  totp_enrollment_required: boolean;
}

interface Tokens {
  access_token: string;
  expires_in: number;
  totp_enrollment_required: boolean;
}

let access: string | null = null;
let refreshing: Promise<boolean> | null = null;
let onLoggedOut: () => void = () => {};

/// What to do when the session ends (refresh refused): show the login form.
export function whenLoggedOut(f: () => void): void {
  onLoggedOut = f;
}

/// A body sent as it is, with its own Content-Type (a CSV file).
export class Raw {
  constructor(
    readonly text: string,
    readonly type: string,
  ) {}
}

async function send(
  method: string,
  path: string,
  body?: unknown,
  signal?: AbortSignal,
  accept = "application/json",
): Promise<Response> {
  const headers: Record<string, string> = { Accept: accept };
  if (access) headers.Authorization = `Bearer ${access}`;
  if (body instanceof Raw) headers["Content-Type"] = body.type;
  else if (body !== undefined) headers["Content-Type"] = "application/json";
  return fetch(`/api/v1${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : body instanceof Raw ? body.text : JSON.stringify(body),
    credentials: "same-origin",
    cache: "no-store",
    signal,
  });
}

async function read<T>(res: Response): Promise<T> {
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  const json = text ? JSON.parse(text) : undefined;
  if (!res.ok) {
    const body: ApiErrorBody =
      json && typeof json.error === "string"
        ? json
        : { error: "http_error", message: `${res.status} ${res.statusText}`, field: null };
    throw new ApiError(res.status, body);
  }
  return json as T;
}

/// A new access token from the refresh cookie; one attempt at a time.
export function refresh(): Promise<boolean> {
  refreshing ??= (async () => {
    try {
      const res = await send("POST", "/auth/refresh", {});
      if (!res.ok) return false;
      access = (await read<Tokens>(res)).access_token;
      return true;
    } catch {
      return false;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

/// Calls the API; a 401 on an expired access token is retried once after a refresh.
export async function call<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
  let res = await send(method, path, body, signal);
  if (res.status === 401 && access !== null) {
    if (await refresh()) {
      res = await send(method, path, body, signal);
    } else {
      access = null;
      onLoggedOut();
    }
  }
  return read<T>(res);
}

export const get = <T>(path: string, signal?: AbortSignal) => call<T>("GET", path, undefined, signal);
export const post = <T>(path: string, body?: unknown) => call<T>("POST", path, body);

export async function login(username: string, password: string, totp: string): Promise<Tokens> {
  const res = await send("POST", "/auth/login", {
    username,
    password,
    totp: totp === "" ? null : totp,
    refresh_cookie: true,
  });
  const tokens = await read<Tokens>(res);
  access = tokens.access_token;
  return tokens;
}

/// Revokes the session on the server: through `call`, so an access token that expired
/// meanwhile is renewed first and the refresh family is revoked all the same.
export async function logout(): Promise<void> {
  try {
    await call("POST", "/auth/logout", {});
  } finally {
    access = null;
  }
}

export function loggedIn(): boolean {
  return access !== null;
}

/// Opens a server-sent event stream (`GET path`, `text/event-stream`) with the access
/// token in the Authorization header, which a browser's EventSource cannot send; an
/// expired token is renewed first. `null` when the session is over.
export async function openStream(path: string, signal: AbortSignal): Promise<Response | null> {
  let res = await send("GET", path, undefined, signal, "text/event-stream");
  if (res.status === 401 && access !== null) {
    if (!(await refresh())) {
      access = null;
      onLoggedOut();
      return null;
    }
    res = await send("GET", path, undefined, signal, "text/event-stream");
  }
  if (!res.ok) await read(res);
  return res;
}
