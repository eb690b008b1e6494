import { randomBytes } from "node:crypto";
import { link, open, readFile, rename, rm, stat, utimes } from "node:fs/promises";
import { hostname } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { OutputError } from "../errors.js";

// A lock file that keeps processes sharing a directory (replicas sharing a download cache) from
// doing the same work at once. It holds its owner (pid, host, start time) so that a waiter can say
// who it waits for, and so that a lock left by a killed process is taken over at once when the
// process ran on this host and is gone. The owner touches the file while it works: a lock nobody
// has touched for `staleMs` (an owner on another host that died, or a pid reused) is taken over too.

const POLL_MS = 200;

interface LockOwner {
  readonly pid: number;
  readonly host: string;
  /** Milliseconds since the epoch. */
  readonly startedAt: number;
  /** Tells this lock from a later one of the same process. */
  readonly token: string;
}

interface HeldLock {
  readonly text: string;
  readonly mtimeMs: number;
  /** Null when the text is not a lock owner (a lock being written, or one from an older version). */
  readonly owner: LockOwner | null;
}

/**
 * Runs `action` holding the lock file `path`, waiting while a live process holds it. `subject`
 * (the URL being downloaded) starts the one-line warnings: one when the wait starts, naming the
 * owner, and one for each lock taken over.
 */
export async function withFileLock<T>(
  path: string,
  subject: string,
  staleMs: number,
  action: () => Promise<T>,
): Promise<T> {
  const me: LockOwner = {
    pid: process.pid,
    host: hostname(),
    startedAt: Date.now(),
    token: randomBytes(6).toString("hex"),
  };
  let waiting = false;
  while (!(await tryLock(path, me))) {
    const held = await readLock(path);
    if (held === null) continue; // released meanwhile
    const dead = held.owner !== null && held.owner.host === me.host && !processIsAlive(held.owner.pid);
    const idleMs = Date.now() - held.mtimeMs;
    if ((dead || idleMs > staleMs) && (await takeOver(path, held.text))) {
      const why = dead ? "which is no longer running" : `untouched for ${Math.round(idleMs / 1000)} s`;
      process.emitWarning(`${subject}: took over the lock ${path} from ${ownerText(held.owner)}, ${why}`);
      continue;
    }
    if (!waiting) {
      waiting = true;
      process.emitWarning(`${subject}: waiting for ${ownerText(held.owner)} to finish with the lock ${path}`);
    }
    await sleep(POLL_MS);
  }
  const heartbeat = setInterval(() => {
    const now = new Date();
    utimes(path, now, now).catch(() => {});
  }, staleMs / 4);
  heartbeat.unref();
  try {
    return await action();
  } finally {
    clearInterval(heartbeat);
    // A lock taken over from this process (it looked stale) is the new owner's to remove.
    if ((await readLock(path))?.owner?.token === me.token) await rm(path, { force: true });
  }
}

async function tryLock(path: string, me: LockOwner): Promise<boolean> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, "wx");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw new OutputError(`${path}: cannot create the lock file (${(error as Error).message})`, {
      file: path,
      cause: error,
    });
  }
  try {
    await handle.writeFile(JSON.stringify(me));
  } finally {
    await handle.close();
  }
  return true;
}

async function readLock(path: string): Promise<HeldLock | null> {
  try {
    const { mtimeMs } = await stat(path);
    const text = await readFile(path, "utf8");
    return { text, mtimeMs, owner: parseOwner(text) };
  } catch {
    return null;
  }
}

function parseOwner(text: string): LockOwner | null {
  try {
    const owner = JSON.parse(text) as Partial<LockOwner>;
    const valid =
      Number.isSafeInteger(owner.pid) &&
      owner.pid! > 0 &&
      typeof owner.host === "string" &&
      typeof owner.startedAt === "number" &&
      typeof owner.token === "string";
    return valid ? (owner as LockOwner) : null;
  } catch {
    return null;
  }
}

/** Whether a process with this pid runs on this host (one of another user counts). */
export function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to another user.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Removes the stale lock whose content is `text`, unless another waiter replaced it first: the
 * lock is moved aside and checked, so that a fresh lock moved by mistake can be put back.
 */
async function takeOver(path: string, text: string): Promise<boolean> {
  const aside = `${path}.${randomBytes(6).toString("hex")}.stale`;
  try {
    await rename(path, aside);
  } catch {
    return false;
  }
  const moved = await readFile(aside, "utf8").catch(() => "");
  if (moved !== text) await link(aside, path).catch(() => {});
  await rm(aside, { force: true });
  return moved === text;
}

function ownerText(owner: LockOwner | null): string {
  if (owner === null) return "another process (the lock file names no owner)";
  return `pid ${owner.pid} on ${owner.host} (since ${new Date(owner.startedAt).toISOString()})`;
}
