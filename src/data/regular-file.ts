import { constants, type Stats } from "node:fs";
import { open } from "node:fs/promises";
import { systemReason } from "./atomic-file.js";

// Inputs named on the command line or in a config (a checkpoint, a config file, a CSV) are read
// only when they are regular files: reading a FIFO waits for a writer that may never come, and a
// device or a directory is never what was meant.

/** What a non-regular file is, for messages ("a FIFO"); null for a regular file. */
export function fileKind(stats: Stats): string | null {
  if (stats.isFile()) return null;
  if (stats.isDirectory()) return "a directory";
  if (stats.isFIFO()) return "a FIFO";
  if (stats.isSocket()) return "a socket";
  if (stats.isCharacterDevice() || stats.isBlockDevice()) return "a device";
  return "a special file";
}

/**
 * Reads a whole regular file. Anything else is refused without blocking: the file is opened with
 * O_NONBLOCK (which makes no difference to a regular file) and checked with fstat before a byte is
 * read. Every failure is `fail(reason)`, the reason one line such as "a FIFO, not a regular file"
 * or "no such file or directory (ENOENT)".
 */
export async function readRegularFile(
  path: string,
  fail: (reason: string, cause?: unknown) => Error,
): Promise<Buffer> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    throw fail(systemReason(error), error);
  }
  try {
    const kind = fileKind(await handle.stat());
    if (kind !== null) throw fail(`${kind}, not a regular file`);
    return await handle.readFile();
  } catch (error) {
    if (typeof (error as NodeJS.ErrnoException).code === "string") throw fail(systemReason(error), error);
    throw error;
  } finally {
    await handle.close();
  }
}
