import { randomBytes } from "node:crypto";
import { copyFile, link, mkdir, readdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { basename, dirname, join } from "node:path";
import { OutputError } from "../errors.js";
import { processIsAlive } from "./file-lock.js";

// Outputs (checkpoints, predictions, h5ad files, CSVs) appear whole or not at all: they are written
// to a temporary file in the same directory (so the rename stays on one file system) and renamed.
//
// Temporary names are `.<name>.<12 hex digits>.<pid>@<host>.tmp`, defined here only, so that a run
// that starts writing into a directory can tell a temporary file left by a killed run from one
// being written, and remove it (sweepTemporaries; an AnnData-Zarr store is such a temporary
// directory, zarr/write-elements.ts): it is stale when its process is gone from this
// host, or when nobody has touched it for STALE_TEMPORARY_MS (its writer ran on another host
// sharing the directory, or its pid was reused).

/** A temporary file untouched for this long is stale, whoever wrote it (6 hours). */
export const STALE_TEMPORARY_MS = 6 * 3600 * 1000;

/** This host as it appears in temporary names (characters other than letters, digits, . and - as _). */
const HOST = hostname().replace(/[^A-Za-z0-9.-]/g, "_") || "localhost";

const TEMPORARY_NAME = /^\.(.+)\.[0-9a-f]{12}\.(\d+)@([A-Za-z0-9._-]+)\.tmp$/;

/** A temporary path next to `path`, hidden, unique, and naming this process. */
export function temporarySibling(path: string): string {
  const id = randomBytes(6).toString("hex");
  return join(dirname(path), `.${basename(path)}.${id}.${process.pid}@${HOST}.tmp`);
}

/** The file a temporary name (temporarySibling) stands for and the process writing it; null for other names. */
export function temporaryOwner(name: string): { target: string; pid: number; host: string } | null {
  const match = TEMPORARY_NAME.exec(name);
  return match ? { target: match[1]!, pid: Number(match[2]), host: match[3]! } : null;
}

/**
 * Removes the stale temporary files in `dir` (see the top of this file); returns their paths.
 * Best effort: a file that cannot be examined or removed is left alone.
 */
export async function sweepTemporaries(dir: string, now = Date.now()): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const owner = temporaryOwner(name);
    if (owner === null) continue;
    const path = join(dir, name);
    const gone = owner.host === HOST && owner.pid !== process.pid && !processIsAlive(owner.pid);
    if (!gone) {
      const info = await stat(path).catch(() => null);
      const kind = info !== null && (info.isFile() || info.isDirectory());
      if (!kind || now - info!.mtimeMs < STALE_TEMPORARY_MS) continue;
    }
    try {
      // A directory: an AnnData-Zarr store being written (zarr/write-elements.ts).
      await rm(path, { force: true, recursive: true });
      removed.push(path);
    } catch {
      // Someone else's file we may not remove: theirs to clean.
    }
  }
  return removed;
}

/** "no space left on device (ENOSPC)" from a Node system error; the first line of any other error. */
export function systemReason(error: unknown): string {
  const system = error as NodeJS.ErrnoException;
  if (typeof system?.code === "string" && typeof system.message === "string") {
    // "ENOSPC: no space left on device, write" / "ENOENT: no such file or directory, open '/x'"
    const text = /^[A-Z0-9_]+: (.*?)(?:, \w+(?: '.*')?)?$/.exec(system.message)?.[1] ?? system.message;
    return `${text} (${system.code})`;
  }
  const message = error instanceof Error ? error.message : String(error);
  return message.split("\n")[0]!.trim();
}

/**
 * An error of the system (a code such as ENOSPC, EROFS, ENOENT) while writing `path`, as an
 * OutputError naming the path and, when given, the config key or argument that chose it; other
 * errors (a CellariumError, a bug) as they are.
 */
export function outputError(path: string, error: unknown, key?: string): unknown {
  if (typeof (error as NodeJS.ErrnoException)?.code !== "string" || error instanceof OutputError)
    return error;
  return new OutputError(
    `${path}${key === undefined ? "" : ` (${key})`}: cannot write: ${systemReason(error)}`,
    {
      file: path,
      ...(key !== undefined && { key }),
      cause: error,
    },
  );
}

/** Which config key or argument chose an output's path, for the error naming it. */
export interface OutputOptions {
  readonly key?: string;
}

/**
 * Runs `write(tmpPath)`, then renames the temporary file onto `path`. On failure the temporary
 * file is removed, a file already at `path` is left as it was, and a system error becomes an
 * OutputError naming `path` (outputError).
 */
export async function withAtomicOutput<T>(
  path: string,
  write: (tmpPath: string) => Promise<T> | T,
  options: OutputOptions = {},
): Promise<T> {
  const tmp = temporarySibling(path);
  try {
    const result = await write(tmp);
    await rename(tmp, path);
    return result;
  } catch (error) {
    await rm(tmp, { force: true }).catch(() => {});
    throw outputError(path, error, options.key);
  }
}

/** Writes bytes to `path` atomically. */
export function writeFileAtomic(
  path: string,
  bytes: Uint8Array | string,
  options: OutputOptions = {},
): Promise<void> {
  return withAtomicOutput(path, (tmp) => writeFile(tmp, bytes), options);
}

/** Gives `source` a second name `path` atomically: a hard link, or a copy where links are not allowed. */
export function linkFileAtomic(source: string, path: string, options: OutputOptions = {}): Promise<void> {
  return withAtomicOutput(
    path,
    async (tmp) => {
      try {
        await link(source, tmp);
      } catch {
        await copyFile(source, tmp);
      }
    },
    options,
  );
}

/**
 * Makes sure outputs can be written into `dir` before any work is done: it exists or is created,
 * is a directory, and takes a new file (a probe, written and removed, under a temporary name);
 * then removes the stale temporary files of killed runs there. Failures are one OutputError
 * naming the directory and `key`, the config key or argument that chose it.
 */
export async function prepareOutputDirectory(dir: string, key: string): Promise<void> {
  const fail = (what: string, cause: unknown) =>
    new OutputError(`${dir} (${key}): ${what}`, { file: dir, key, value: dir, cause });
  try {
    await mkdir(dir, { recursive: true });
  } catch (error) {
    const blocker = await fileInTheWay(dir);
    if (blocker !== null) {
      throw fail(`${blocker === dir ? "is" : `${blocker} is`} not a directory`, error);
    }
    throw fail(`cannot create the directory: ${systemReason(error)}`, error);
  }
  if (!(await stat(dir)).isDirectory()) throw fail("is not a directory", null);
  const probe = temporarySibling(join(dir, "write-check"));
  try {
    await writeFile(probe, "cellarium write check\n", { flag: "wx" });
  } catch (error) {
    throw fail(`cannot write in the directory: ${systemReason(error)}`, error);
  } finally {
    await rm(probe, { force: true }).catch(() => {});
  }
  await sweepTemporaries(dir);
}

/** The first of `dir` and its ancestors that exists and is not a directory, or null. */
async function fileInTheWay(dir: string): Promise<string | null> {
  for (let path = dir; ; path = dirname(path)) {
    const info = await stat(path).catch(() => null);
    if (info !== null) return info.isDirectory() ? null : path;
    if (dirname(path) === path) return null;
  }
}
