import assert from "node:assert/strict";
import { readFile, stat } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { isRemote, localPath } from "../../src/data/remote-cache.js";
import { tempDir } from "../helpers/temp.js";

const payload = Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 7919) % 251));

// A loopback server that honours Range and, while `breakAfter` is set, cuts the connection
// after that many bytes of a full response.
function serve(state: { breakAfter: number | null; ranges: string[]; requests: number }): Promise<Server> {
  const server = createServer((req, res) => {
    state.requests++;
    if (req.url !== "/shard_0.h5ad") {
      res.writeHead(404).end();
      return;
    }
    const range = req.headers.range;
    if (range) {
      state.ranges.push(range);
      const start = Number(/bytes=(\d+)-/.exec(range)![1]);
      res.writeHead(206, { "content-length": payload.length - start });
      res.end(payload.subarray(start));
      return;
    }
    res.writeHead(200, { "content-length": payload.length });
    if (state.breakAfter !== null) {
      // The pause lets the client consume the bytes before the connection drops: a stream that
      // errors discards the chunks it still queues.
      res.write(payload.subarray(0, state.breakAfter), () => setTimeout(() => res.destroy(), 100));
      return;
    }
    res.end(payload);
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

test("local paths pass through; http URLs are remote", async () => {
  assert.equal(await localPath("/data/x.h5ad"), "/data/x.h5ad");
  assert.equal(isRemote("https://host/x.h5ad"), true);
  assert.equal(isRemote("relative/x.h5ad"), false);
});

test("an interrupted download resumes with a Range request and is then served from the cache", async () => {
  const state = { breakAfter: 50_000 as number | null, ranges: [] as string[], requests: 0 };
  const server = await serve(state);
  const cache = tempDir("cache-");
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/shard_0.h5ad`;
  try {
    await assert.rejects(
      localPath(url, cache),
      /shard_0\.h5ad: download (interrupted|failed)|expected 200000/,
    );
    state.breakAfter = null;
    const path = await localPath(url, cache);
    assert.equal(state.ranges.length, 1);
    assert.equal(state.ranges[0], "bytes=50000-");
    assert.deepEqual(await readFile(path), payload);
    const requests = state.requests;
    assert.equal(await localPath(url, cache), path);
    assert.equal(state.requests, requests, "a cached file is not downloaded again");
    assert.equal((await stat(path)).size, payload.length);
  } finally {
    server.close();
  }
});

test("HTTP errors and unsupported schemes are one-line errors naming the URL", async () => {
  const state = { breakAfter: null, ranges: [] as string[], requests: 0 };
  const server = await serve(state);
  const cache = tempDir("cache-");
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    await assert.rejects(
      localPath(`${base}/missing.h5ad`, cache),
      /missing\.h5ad: download failed with HTTP 404/,
    );
    await assert.rejects(
      localPath("gs://bucket/a.h5ad", cache),
      /gs:\/\/bucket\/a\.h5ad: gs:\/\/ URLs are not supported/,
    );
  } finally {
    server.close();
  }
});
