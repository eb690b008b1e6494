import { randomBytes } from "node:crypto";
import { rename, rm, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

// Outputs (checkpoints, predictions, h5ad files) appear whole or not at all: they are written to
// a temporary file in the same directory (so the rename stays on one file system) and renamed.

/** A temporary path next to `path`, hidden and unique. */
export function temporarySibling(path: string): string {
  return join(dirname(path), `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
}

/** Runs `write(tmpPath)`, then renames the temporary file onto `path`; on failure removes it. */
export async function withAtomicOutput<T>(
  path: string,
  write: (tmpPath: string) => Promise<T> | T,
): Promise<T> {
  const tmp = temporarySibling(path);
  try {
    const result = await write(tmp);
    await rename(tmp, path);
    return result;
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
}

/** Writes bytes to `path` atomically. */
export function writeFileAtomic(path: string, bytes: Uint8Array | string): Promise<void> {
  return withAtomicOutput(path, (tmp) => writeFile(tmp, bytes));
}
