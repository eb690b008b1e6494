import type { IncomingMessage } from "node:http";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { DownloadError } from "../errors.js";

// One HTTP GET for the download cache (remote-cache.ts), on node:http rather than fetch: fetch
// has no connect timeout of its own, asks for gzip and inflates it (so the bytes received would
// no longer match Content-Length), and hides how many redirects it followed.

export interface Timeouts {
  /** Milliseconds to resolve the host and open the connection (TLS handshake included). */
  readonly connectTimeoutMs: number;
  /** Milliseconds without a byte from the server, while waiting for the answer or the body. */
  readonly idleTimeoutMs: number;
}

/** Redirects followed before giving up (a loop would otherwise never end). */
export const MAX_REDIRECTS = 5;

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/**
 * The server's answer to a GET of `url` (redirects followed), its body not yet read. A timeout is
 * a DownloadError whose key is the option that ran out (connectTimeoutMs or idleTimeoutMs); it
 * also ends the body's stream if it happens while the body arrives.
 */
export function httpGet(
  url: URL,
  headers: Readonly<Record<string, string>>,
  timeouts: Timeouts,
  source = url.href,
  redirects = 0,
): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const https = url.protocol === "https:";
    const req = (https ? httpsRequest : httpRequest)(url, {
      // A connection of its own, so that its "connect" event always comes and starts the idle clock.
      agent: false,
      headers: { "accept-encoding": "identity", "user-agent": "cellarium-ts", ...headers },
    });
    let response: IncomingMessage | undefined;
    const connectTimer = setTimeout(() => {
      req.destroy(timeoutError(source, "connectTimeoutMs", timeouts.connectTimeoutMs, "could not connect"));
    }, timeouts.connectTimeoutMs);
    req.on("socket", (socket) => {
      socket.once(https ? "secureConnect" : "connect", () => {
        clearTimeout(connectTimer);
        req.setTimeout(timeouts.idleTimeoutMs);
      });
    });
    req.on("timeout", () => {
      const what = response === undefined ? "no answer" : "no bytes of the body";
      const error = timeoutError(source, "idleTimeoutMs", timeouts.idleTimeoutMs, what);
      response?.destroy(error);
      req.destroy(error);
    });
    req.on("error", (error) => {
      clearTimeout(connectTimer);
      reject(error);
    });
    req.on("response", (res) => {
      const location = res.headers.location;
      if (!REDIRECTS.has(res.statusCode ?? 0) || location === undefined) {
        // A timeout before the caller reads the body must not be an unhandled 'error' event; the
        // caller's read still fails with it (a destroyed stream keeps its error).
        res.on("error", () => {});
        response = res;
        resolve(res);
        return;
      }
      res.resume();
      req.destroy();
      const next = URL.canParse(location, url.href) ? new URL(location, url) : undefined;
      if (next === undefined || (next.protocol !== "http:" && next.protocol !== "https:")) {
        reject(
          new DownloadError(`${source}: redirected to ${location}, which is not an http(s) URL`, {
            file: source,
            key: "Location",
            value: location,
          }),
        );
      } else if (redirects >= MAX_REDIRECTS) {
        reject(
          new DownloadError(`${source}: more than ${MAX_REDIRECTS} redirects (the last to ${next.href})`, {
            file: source,
            key: "redirects",
            value: redirects + 1,
          }),
        );
      } else {
        resolve(httpGet(next, headers, timeouts, source, redirects + 1));
      }
    });
    req.end();
  });
}

function timeoutError(source: string, key: keyof Timeouts, ms: number, what: string): DownloadError {
  const variable =
    key === "connectTimeoutMs" ? "CELLARIUM_HTTP_CONNECT_TIMEOUT" : "CELLARIUM_HTTP_IDLE_TIMEOUT";
  return new DownloadError(
    `${source}: ${what} within ${ms / 1000} s (${key}, or ${variable} in seconds, sets the limit)`,
    { file: source, key, value: ms },
  );
}
