import { createHash } from "node:crypto";
import { mkdir, open, rename, rm, stat } from "node:fs/promises";
import { homedir } from "node:os";
import { basename, join } from "node:path";
import { FileFormatError } from "../errors.js";

// Shards named by http(s) URL are downloaded once into a local cache and read from there (HDF5
// needs random access). A download that breaks off leaves `<name>.part`; the next attempt asks
// the server for the rest (HTTP Range) instead of starting over. A lock file keeps several
// processes on one machine (replicas sharing a cache) from downloading the same shard at once.

const LOCK_STALE_MS = 120_000;
const POLL_MS = 200;

/** The cache directory: CELLARIUM_CACHE_DIR, else ~/.cache/cellarium-ts. */
export function defaultCacheDir(): string {
  return process.env.CELLARIUM_CACHE_DIR ?? join(homedir(), ".cache", "cellarium-ts");
}

export function isRemote(path: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(path);
}

/** A local path for `source`: itself when local, else the cached download of the URL. */
export async function localPath(source: string, cacheDir = defaultCacheDir()): Promise<string> {
  if (!isRemote(source)) return source;
  const url = new URL(source);
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new FileFormatError(
      `${source}: ${url.protocol}// URLs are not supported; give a local path or an http(s) URL (a public or signed object URL)`,
    );
  }
  const key = createHash("sha256").update(source).digest("hex").slice(0, 16);
  const target = join(cacheDir, `${key}-${basename(url.pathname) || "download"}`);
  if (await exists(target)) return target;
  await mkdir(cacheDir, { recursive: true });
  await withLock(`${target}.lock`, async () => {
    if (!(await exists(target))) await download(source, target);
  });
  return target;
}

async function download(source: string, target: string): Promise<void> {
  const part = `${target}.part`;
  const have = (await stat(part).catch(() => null))?.size ?? 0;
  let response: Response;
  try {
    response = await fetch(source, { headers: have > 0 ? { Range: `bytes=${have}-` } : {} });
  } catch (error) {
    throw new FileFormatError(`${source}: download failed (${(error as Error).message})`, { cause: error });
  }
  if (response.status === 416 && have > 0) {
    // The part file already holds everything the server has.
    await rename(part, target);
    return;
  }
  if (!response.ok || response.body === null) {
    throw new FileFormatError(
      `${source}: download failed with HTTP ${response.status} ${response.statusText}`,
    );
  }
  const resumed = response.status === 206;
  const expected = Number(response.headers.get("content-length") ?? Number.NaN) + (resumed ? have : 0);
  // Each chunk is awaited onto disk, so an interruption keeps everything that arrived.
  const file = await open(part, resumed ? "a" : "w");
  try {
    for await (const chunk of response.body) await file.write(chunk);
  } catch (error) {
    throw new FileFormatError(
      `${source}: download interrupted (${(error as Error).message}); run again to resume from the partial file`,
      { cause: error },
    );
  } finally {
    await file.close();
  }
  const size = (await stat(part)).size;
  if (Number.isFinite(expected) && size !== expected) {
    throw new FileFormatError(
      `${source}: downloaded ${size} bytes, expected ${expected}; run again to resume`,
    );
  }
  await rename(part, target);
}

async function withLock(lockPath: string, action: () => Promise<void>): Promise<void> {
  for (;;) {
    try {
      const handle = await open(lockPath, "wx");
      await handle.close();
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const lock = await stat(lockPath).catch(() => null);
      // A lock left by a process that died is taken over once nothing has touched it for a while.
      if (lock && Date.now() - lock.mtimeMs > LOCK_STALE_MS) await rm(lockPath, { force: true });
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      if (await exists(lockPath.slice(0, -".lock".length))) return;
    }
  }
  try {
    await action();
  } finally {
    await rm(lockPath, { force: true });
  }
}

async function exists(path: string): Promise<boolean> {
  return (await stat(path).catch(() => null)) !== null;
}
