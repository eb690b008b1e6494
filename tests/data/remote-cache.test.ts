import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { hostname } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { DistributedAnnDataCollection } from "../../src/data/collection.js";
import { isRemote, localPath } from "../../src/data/remote-cache.js";
import { ArgumentError, DownloadError, FileFormatError } from "../../src/errors.js";
import { tempDir } from "../helpers/temp.js";

// A loopback server per test, misbehaving in the ways real servers and proxies do. Each test
// asserts what the cache must do about it: refuse, retry, restart or revalidate, and never store
// a file that is not the server's file.

const SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);

/** `length` bytes that start like an HDF5 file; `seed` gives another version of the file. */
function hdf5Bytes(length: number, seed: number): Buffer {
  const bytes = Buffer.from(Array.from({ length }, (_, i) => (i * 7919 + seed * 104729) % 251));
  SIGNATURE.copy(bytes);
  return bytes;
}

const v1 = hdf5Bytes(200_000, 1);
const v2 = hdf5Bytes(200_000, 2);
/** Fast retries and short timeouts, so that the faults take milliseconds. */
const quick = { retryDelayMs: 5, idleTimeoutMs: 5_000, connectTimeoutMs: 5_000 };

type Handler = (req: IncomingMessage, res: ServerResponse, n: number) => void;

interface Served {
  url(path?: string): string;
  /** The requests received, in order (n counts from 1). */
  readonly requests: IncomingMessage[];
  close(): void;
}

async function serve(handler: Handler): Promise<Served> {
  const requests: IncomingMessage[] = [];
  const server = createServer((req, res) => handler(req, res, requests.push(req)));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: (path = "/shard_0.h5ad") => `${base}${path}`,
    requests,
    close() {
      server.closeAllConnections();
      server.close();
    },
  };
}

/** Serves `body` as a well-behaved server does: ETag, If-None-Match, Range with If-Range. */
function sendFile(req: IncomingMessage, res: ServerResponse, body: Buffer, etag: string): void {
  if (req.headers["if-none-match"] === etag) {
    res.writeHead(304, { etag }).end();
    return;
  }
  const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
  const ifRange = req.headers["if-range"];
  if (range !== null && (ifRange === undefined || ifRange === etag)) {
    const start = Number(range[1]);
    res.writeHead(206, {
      etag,
      "content-length": body.length - start,
      "content-range": `bytes ${start}-${body.length - 1}/${body.length}`,
    });
    res.end(body.subarray(start));
    return;
  }
  res.writeHead(200, { etag, "content-length": body.length }).end(body);
}

/** Announces the whole of `body` but sends only `sent` bytes, then drops the connection. */
function sendShort(res: ServerResponse, body: Buffer, sent: number, cacheDir: string, etag = '"v1"'): void {
  res.writeHead(200, { etag, "content-length": body.length });
  // The connection drops once the client has stored every byte sent (a timed pause lost the race
  // on a loaded machine, and the resume then asked for fewer bytes).
  res.write(body.subarray(0, sent), async () => {
    await partialReaches(cacheDir, sent);
    res.destroy();
  });
}

/** Resolves once a partial download in `cacheDir` holds `bytes` bytes (or after 20 s). */
async function partialReaches(cacheDir: string, bytes: number): Promise<void> {
  for (const deadline = Date.now() + 20_000; Date.now() < deadline; ) {
    for (const name of await readdir(cacheDir).catch(() => [] as string[])) {
      if (name.endsWith(".part") && (await stat(join(cacheDir, name)).catch(() => null))?.size === bytes)
        return;
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** The process's warnings while `run` runs. */
async function warningsDuring(run: () => Promise<unknown>): Promise<string[]> {
  const lines: string[] = [];
  const listener = (warning: Error) => lines.push(warning.message);
  process.on("warning", listener);
  try {
    await run();
    await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
  } finally {
    process.off("warning", listener);
  }
  return lines;
}

/** Files in the cache directory other than the partial download, its record and locks. */
async function cachedNames(dir: string): Promise<string[]> {
  return (await readdir(dir).catch(() => [])).filter((name) => !/\.part(\.json)?$|\.lock$/.test(name));
}

test("local paths pass through; http URLs are remote", async () => {
  assert.equal(await localPath("/data/x.h5ad"), "/data/x.h5ad");
  assert.equal(isRemote("https://host/x.h5ad"), true);
  assert.equal(isRemote("relative/x.h5ad"), false);
});

test("an interrupted download resumes with Range and If-Range, then is served from the cache", async () => {
  const server = await serve((req, res, n) =>
    n === 1 ? sendShort(res, v1, 50_000, cache) : sendFile(req, res, v1, '"v1"'),
  );
  const cache = tempDir("cache-");
  try {
    await assert.rejects(localPath(server.url(), { cacheDir: cache, ...quick, retries: 0 }), DownloadError);
    const path = await localPath(server.url(), { cacheDir: cache, ...quick });
    assert.equal(server.requests.length, 2);
    assert.equal(server.requests[1]!.headers.range, "bytes=50000-");
    assert.equal(server.requests[1]!.headers["if-range"], '"v1"');
    assert.deepEqual(await readFile(path), v1);
    const record = JSON.parse(await readFile(`${path}.json`, "utf8"));
    assert.equal(record.etag, '"v1"');
    assert.equal(record.length, v1.length);
    assert.equal(await localPath(server.url(), { cacheDir: cache }), path);
    assert.equal(server.requests.length, 2, "a file checked a moment ago is used without asking");
  } finally {
    server.close();
  }
});

test("a file changed on the server between a partial download and its resume is downloaded whole", async () => {
  let body = v1;
  let etag = '"v1"';
  const server = await serve((req, res, n) =>
    n === 1 ? sendShort(res, body, 50_000, cache, etag) : sendFile(req, res, body, etag),
  );
  const cache = tempDir("cache-");
  try {
    await assert.rejects(localPath(server.url(), { cacheDir: cache, ...quick, retries: 0 }));
    body = v2;
    etag = '"v2"';
    const path = await localPath(server.url(), { cacheDir: cache, ...quick });
    assert.deepEqual(await readFile(path), v2, "no bytes of v1 spliced onto v2");
  } finally {
    server.close();
  }
});

test("a 206 that restarts at byte 0 is not appended: the download starts over", async () => {
  const server = await serve((req, res, n) => {
    if (n === 1) return sendShort(res, v1, 50_000, cache);
    if (req.headers.range !== undefined) {
      res.writeHead(206, {
        "content-length": v1.length,
        "content-range": `bytes 0-${v1.length - 1}/${v1.length}`,
      });
      res.end(v1);
      return;
    }
    sendFile(req, res, v1, '"v1"');
  });
  const cache = tempDir("cache-");
  try {
    await assert.rejects(localPath(server.url(), { cacheDir: cache, ...quick, retries: 0 }));
    const path = await localPath(server.url(), { cacheDir: cache, ...quick });
    assert.deepEqual(await readFile(path), v1);
    assert.equal(server.requests.at(-1)!.headers.range, undefined, "the last request starts over");
  } finally {
    server.close();
  }
});

test("a body shorter than Content-Length never enters the cache, even when the server answers 416 to the resume", async () => {
  let whole = false;
  const server = await serve((req, res) => {
    if (whole) return sendFile(req, res, v1, '"v1"');
    if (req.headers.range !== undefined) {
      res.writeHead(416, { "content-range": `bytes */${v1.length}` });
      res.end();
      return;
    }
    sendShort(res, v1, 100_000, cache);
  });
  const cache = tempDir("cache-");
  try {
    const error = await localPath(server.url(), { cacheDir: cache, ...quick, retries: 1 }).catch((e) => e);
    assert.ok(error instanceof DownloadError, String(error));
    assert.match(error.message, /^http:\/\/127\.0\.0\.1:\d+\/shard_0\.h5ad: .*gave up after 2 attempts$/);
    assert.ok(!error.message.includes("\n"));
    assert.deepEqual(await cachedNames(cache), []);
    whole = true;
    const path = await localPath(server.url(), { cacheDir: cache, ...quick });
    assert.deepEqual(await readFile(path), v1);
  } finally {
    server.close();
  }
});

test("an HTML page answered with 200, or a body without the HDF5 signature, is refused and not cached", async () => {
  const page = Buffer.from("<!DOCTYPE html><html><body>Sign in</body></html>");
  const server = await serve((req, res) => {
    const html = req.url === "/login.h5ad";
    res.writeHead(200, { "content-type": html ? "text/html; charset=utf-8" : "application/octet-stream" });
    res.end(page);
  });
  const cache = tempDir("cache-");
  try {
    const html = await localPath(server.url("/login.h5ad"), { cacheDir: cache, ...quick }).catch((e) => e);
    assert.ok(html instanceof FileFormatError, String(html));
    assert.match(
      html.message,
      /login\.h5ad: the server answered HTTP 200 with an HTML page \(Content-Type text\/html/,
    );
    assert.equal(html.key, "Content-Type");
    const junk = await localPath(server.url("/junk.h5ad"), { cacheDir: cache, ...quick }).catch((e) => e);
    assert.ok(junk instanceof FileFormatError, String(junk));
    assert.match(
      junk.message,
      /junk\.h5ad: the download is not an HDF5 file .*starts with "<!DOCTYPE html><"\)$/,
    );
    assert.deepEqual(await readdir(cache), [], "nothing left in the cache, not even a partial file");
  } finally {
    server.close();
  }
});

test("a server that accepts the connection and never answers times out, naming the URL and the limit", {
  timeout: 30_000,
}, async () => {
  const server = await serve((req, res) => {
    if (req.url !== "/stall.h5ad") return; // no answer at all
    res.writeHead(200, { "content-length": v1.length });
    res.write(v1.subarray(0, 1000)); // then nothing more
  });
  const cache = tempDir("cache-");
  try {
    const started = Date.now();
    const error = await localPath(server.url(), {
      cacheDir: cache,
      idleTimeoutMs: 200,
      retries: 1,
      retryDelayMs: 5,
    }).catch((e) => e);
    assert.ok(error instanceof DownloadError, String(error));
    assert.match(
      error.message,
      /shard_0\.h5ad: no answer within 0\.2 s \(idleTimeoutMs.*gave up after 2 attempts$/,
    );
    assert.equal(error.key, "idleTimeoutMs");
    assert.equal(server.requests.length, 2);
    const stall = await localPath(server.url("/stall.h5ad"), {
      cacheDir: cache,
      idleTimeoutMs: 200,
      retries: 0,
    }).catch((e) => e);
    assert.ok(stall instanceof DownloadError, String(stall));
    assert.match(stall.message, /stall\.h5ad: no bytes of the body within 0\.2 s \(idleTimeoutMs/);
    // The collection passes its download options on.
    const opened = DistributedAnnDataCollection.open({
      filenames: server.url(),
      cacheDir: cache,
      download: { idleTimeoutMs: 200, retries: 0 },
    });
    await assert.rejects(
      opened,
      (error: Error) => error instanceof DownloadError && /no answer within 0\.2 s/.test(error.message),
    );
    assert.ok(Date.now() - started < 20_000);
    assert.deepEqual(await cachedNames(cache), []);
  } finally {
    server.close();
  }
});

test("503 and 429 are retried (Retry-After honoured); a server that keeps failing gives up after the bound", async () => {
  const flaky = await serve((req, res, n) => {
    if (n <= 2) res.writeHead(503, { "retry-after": "0" }).end();
    else if (n === 3) res.writeHead(429, { "retry-after": "1" }).end();
    else sendFile(req, res, v1, '"v1"');
  });
  const down = await serve((_req, res) => res.writeHead(503).end());
  const cache = tempDir("cache-");
  try {
    const started = Date.now();
    const path = await localPath(flaky.url(), { cacheDir: cache, ...quick });
    assert.deepEqual(await readFile(path), v1);
    assert.equal(flaky.requests.length, 4);
    assert.ok(Date.now() - started >= 900, "waited the second Retry-After asked for");
    const error = await localPath(down.url(), { cacheDir: cache, ...quick, retries: 2 }).catch((e) => e);
    assert.ok(error instanceof DownloadError, String(error));
    assert.match(error.message, /shard_0\.h5ad: HTTP 503 Service Unavailable; gave up after 3 attempts$/);
    assert.equal(down.requests.length, 3);
  } finally {
    flaky.close();
    down.close();
  }
});

test("404 fails at once, with the status in the message and fields", async () => {
  const server = await serve((_req, res) => res.writeHead(404).end());
  const cache = tempDir("cache-");
  try {
    const error = await localPath(server.url("/missing.h5ad"), { cacheDir: cache, ...quick }).catch((e) => e);
    assert.ok(error instanceof DownloadError, String(error));
    assert.match(error.message, /^http:\/\/127\.0\.0\.1:\d+\/missing\.h5ad: HTTP 404 Not Found$/);
    assert.equal(error.file, server.url("/missing.h5ad"));
    assert.equal(error.key, "status");
    assert.equal(error.value, 404);
    assert.equal(server.requests.length, 1, "no retry");
  } finally {
    server.close();
  }
});

test("malformed URLs and unsupported schemes are one-line ArgumentErrors naming the value", async () => {
  const cache = tempDir("cache-");
  for (const bad of ["http://[bad", "https://"]) {
    const error = await localPath(bad, { cacheDir: cache }).catch((e) => e);
    assert.ok(error instanceof ArgumentError, `${bad}: ${error}`);
    assert.equal(error.message, `${bad}: not a valid URL; give a local path or an http(s) URL`);
    assert.equal(error.value, bad);
  }
  await assert.rejects(localPath("gs://bucket/a.h5ad", { cacheDir: cache }), (error: Error) => {
    assert.ok(error instanceof ArgumentError);
    assert.match(error.message, /^gs:\/\/bucket\/a\.h5ad: gs:\/\/ URLs are not supported/);
    return true;
  });
  await assert.rejects(
    localPath("http://127.0.0.1:1/a.h5ad", { cacheDir: cache, idleTimeoutMs: -1 }),
    (error: Error) => {
      assert.ok(error instanceof ArgumentError);
      assert.match(error.message, /a\.h5ad: download option idleTimeoutMs must be a number > 0, got -1$/);
      return true;
    },
  );
});

test("redirects are followed, at most 5", async () => {
  const server = await serve((req, res) => {
    const hop = /^\/hop\/(\d+)$/.exec(req.url ?? "");
    if (hop === null) return sendFile(req, res, v1, '"v1"');
    const n = Number(hop[1]);
    res.writeHead(302, { location: n === 99 ? "/hop/99" : n > 0 ? `/hop/${n - 1}` : "/shard_0.h5ad" }).end();
  });
  const cache = tempDir("cache-");
  try {
    assert.deepEqual(
      await readFile(await localPath(server.url("/hop/4"), { cacheDir: cache, ...quick })),
      v1,
    );
    const error = await localPath(server.url("/hop/99"), { cacheDir: cache, ...quick }).catch((e) => e);
    assert.ok(error instanceof DownloadError, String(error));
    assert.match(
      error.message,
      /hop\/99: more than 5 redirects \(the last to http:\/\/127\.0\.0\.1:\d+\/hop\/99\)$/,
    );
  } finally {
    server.close();
  }
});

test("a lock left by a process that is gone is taken over at once, with a warning", {
  timeout: 30_000,
}, async () => {
  const server = await serve((req, res) => sendFile(req, res, v1, '"v1"'));
  const cache = tempDir("cache-");
  try {
    const path = await localPath(server.url(), { cacheDir: cache, ...quick });
    await rm(path);
    const child = spawnSync(process.execPath, ["-e", ""]);
    const lock = { pid: child.pid, host: hostname(), startedAt: Date.now(), token: "dead" };
    await writeFile(`${path}.lock`, JSON.stringify(lock));
    const started = Date.now();
    const warnings = await warningsDuring(() => localPath(server.url(), { cacheDir: cache, ...quick }));
    assert.ok(Date.now() - started < 10_000, "not the two minutes of a stale-by-age lock");
    assert.deepEqual(await readFile(path), v1);
    assert.ok(
      warnings.some(
        (w) => w.includes(`from pid ${child.pid} on ${hostname()}`) && w.includes("no longer running"),
      ),
      warnings.join("\n"),
    );
    assert.deepEqual(
      (await readdir(cache)).filter((name) => name.includes(".lock")),
      [],
    );
  } finally {
    server.close();
  }
});

test("a live lock makes the next process wait, saying who holds it", { timeout: 30_000 }, async () => {
  const server = await serve((req, res) => sendFile(req, res, v1, '"v1"'));
  const cache = tempDir("cache-");
  try {
    const path = await localPath(server.url(), { cacheDir: cache, ...quick });
    await rm(path);
    const lock = { pid: process.pid, host: hostname(), startedAt: Date.now(), token: "live" };
    await writeFile(`${path}.lock`, JSON.stringify(lock));
    const release = setTimeout(() => rm(`${path}.lock`), 500);
    const warnings = await warningsDuring(() => localPath(server.url(), { cacheDir: cache, ...quick }));
    clearTimeout(release);
    assert.deepEqual(await readFile(path), v1);
    assert.equal(warnings.length, 1, warnings.join("\n"));
    assert.match(
      warnings[0]!,
      new RegExp(`shard_0\\.h5ad: waiting for pid ${process.pid} on .* to finish with the lock`),
    );
  } finally {
    server.close();
  }
});

test("a cached file is revalidated: 304 keeps it, a new ETag downloads the new version", async () => {
  let body = v1;
  let etag = '"v1"';
  const server = await serve((req, res) => sendFile(req, res, body, etag));
  const cache = tempDir("cache-");
  const options = { cacheDir: cache, ...quick, revalidateAfterMs: 0 };
  try {
    const path = await localPath(server.url(), options);
    assert.equal(await localPath(server.url(), options), path);
    assert.equal(server.requests.length, 2);
    assert.equal(server.requests[1]!.headers["if-none-match"], '"v1"');
    assert.deepEqual(await readFile(path), v1);
    body = v2;
    etag = '"v2"';
    assert.equal(await localPath(server.url(), options), path);
    assert.deepEqual(await readFile(path), v2);
    assert.equal(JSON.parse(await readFile(`${path}.json`, "utf8")).etag, '"v2"');
  } finally {
    server.close();
  }
});

test("when the server cannot be reached, the cached copy is used with a one-line warning", async () => {
  const server = await serve((req, res) => sendFile(req, res, v1, '"v1"'));
  const cache = tempDir("cache-");
  const options = { cacheDir: cache, ...quick, revalidateAfterMs: 0 };
  const path = await localPath(server.url(), options);
  server.close();
  let again = "";
  const warnings = await warningsDuring(async () => {
    again = await localPath(server.url(), options);
  });
  assert.equal(again, path);
  assert.deepEqual(await readFile(path), v1);
  assert.equal(warnings.length, 1, warnings.join("\n"));
  assert.match(
    warnings[0]!,
    /shard_0\.h5ad: could not revalidate the cached copy .* \(connect ECONNREFUSED 127\.0\.0\.1:\d+\); using it as it is$/,
  );
});
