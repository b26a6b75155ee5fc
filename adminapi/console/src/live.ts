// One server-sent event stream for the whole console (GET /api/v1/events/stream, read
// with fetch() so the access token goes in the Authorization header): pages register
// what to do with `figures` and `sessions` events instead of reading the API again and
// again. The stream ends when the access token expires or the connection fails; it is
// opened again a second later (with a renewed token), and its first events bring the
// pages up to date.

import { openStream } from "./api";
import type { LiveFigures, SessionsChanged } from "./types";

export interface LiveEvents {
  figures?: (f: LiveFigures) => void;
  sessions?: (s: SessionsChanged) => void;
}

const RETRY_MS = 1000;

let running: AbortController | null = null;
let page: LiveEvents = {};
let latest: LiveFigures | null = null;

function dispatch(name: string, data: string): void {
  const value = JSON.parse(data);
  if (name === "figures") {
    latest = value;
    page.figures?.(value);
  } else if (name === "sessions") {
    page.sessions?.(value);
  }
}

/// Reads one stream to its end, dispatching each event.
async function readStream(body: ReadableStream<Uint8Array>): Promise<void> {
  const reader = body.getReader();
  const text = new TextDecoder();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += text.decode(value, { stream: true });
    let end = buf.indexOf("\n\n");
    while (end >= 0) {
      let name = "";
      let data = "";
      for (const line of buf.slice(0, end).split("\n")) {
        if (line.startsWith("event: ")) name = line.slice(7);
        else if (line.startsWith("data: ")) data += line.slice(6);
      }
      buf = buf.slice(end + 2);
      if (name && data) dispatch(name, data);
      end = buf.indexOf("\n\n");
    }
  }
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = window.setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      window.clearTimeout(t);
      resolve();
    });
  });
}

/// Starts the stream (after login); a running one is kept.
export function startLive(): void {
  if (running) return;
  const ctl = new AbortController();
  running = ctl;
  void (async () => {
    while (!ctl.signal.aborted) {
      try {
        const res = await openStream("/events/stream", ctl.signal);
        if (!res) break;
        if (res.body) await readStream(res.body);
      } catch {
        // Reconnected below: the server restarted, the network failed, or we stopped.
      }
      await pause(RETRY_MS, ctl.signal);
    }
  })();
}

/// Stops the stream (logout).
export function stopLive(): void {
  running?.abort();
  running = null;
  page = {};
  latest = null;
}

/// What the page now shown does with events (replacing the previous page's); the last
/// figures are handed over at once.
export function onLive(handlers: LiveEvents): void {
  page = handlers;
  if (latest) handlers.figures?.(latest);
}
