import { mkdir, readdir, readFile, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { outputError, sweepTemporaries, temporaryOwner, writeFileAtomic } from "../data/atomic-file.js";

/** The name of the marker a failed run leaves in its run directory, holding the error's one line. */
export const FAILED_MARKER = "FAILED";

/** Lightning's CSVLogger name (default lightning_logs) and version (default: the next unused). */
export interface RunDirLayout {
  readonly name?: string;
  readonly version?: number | string;
}

/**
 * A new run directory `<root>/lightning_logs/version_<N>` with the next unused N, the layout
 * Lightning's loggers use, so paths in upstream workflows (`.../version_0/checkpoints/...`) carry over.
 * The temporary files that killed runs left in the earlier run directories (and their checkpoints/)
 * are removed first. A directory that cannot be created is an OutputError naming it and `key`.
 */
export async function createRunDir(root: string, key?: string, layout: RunDirLayout = {}): Promise<string> {
  const logs = join(root, layout.name ?? "lightning_logs");
  let names: string[];
  try {
    await mkdir(logs, { recursive: true });
    names = await readdir(logs);
  } catch (error) {
    throw outputError(logs, error, key);
  }
  const used = names
    .map((name) => /^version_(\d+)$/.exec(name))
    .filter((m) => m !== null)
    .map((m) => Number(m[1]));
  for (const version of used) {
    const dir = join(logs, `version_${version}`);
    await sweepTemporaries(dir);
    await sweepTemporaries(join(dir, "checkpoints"));
  }
  if (layout.version !== undefined) {
    // A version the config names is used as it is, new or not (Lightning's CSVLogger version).
    const dir = join(logs, typeof layout.version === "number" ? `version_${layout.version}` : layout.version);
    try {
      await mkdir(dir, { recursive: true });
      await sweepTemporaries(dir);
    } catch (error) {
      throw outputError(dir, error, key);
    }
    return dir;
  }
  for (let version = used.length === 0 ? 0 : Math.max(...used) + 1; ; version++) {
    const dir = join(logs, `version_${version}`);
    try {
      // Non-recursive mkdir fails if another process took this version first.
      await mkdir(dir);
      return dir;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw outputError(dir, error, key);
    }
  }
}

/**
 * After a fit that failed: a run directory holding nothing of value (a header-only metrics.csv, an
 * empty histograms.jsonl, an empty checkpoints/) is removed, so failures leave no empty
 * `version_N` behind; any other is kept (its metrics or checkpoints may be worth having) and gets a
 * FAILED file with the error's class and message on one line. Best effort: its own failures (a full disk) are
 * ignored, the run's error being the one to report.
 */
export async function settleFailedRunDir(dir: string, error: unknown): Promise<"removed" | "marked"> {
  if (await holdsNothing(dir)) {
    await rm(dir, { recursive: true, force: true }).catch(() => {});
    return "removed";
  }
  const name = error instanceof Error ? error.name : "Error";
  const message = (error instanceof Error ? error.message : String(error)).replace(/\s*\n\s*/g, " ").trim();
  await writeFileAtomic(join(dir, FAILED_MARKER), `${name}: ${message}\n`).catch(() => {});
  return "marked";
}

async function holdsNothing(dir: string): Promise<boolean> {
  const names = await readdir(dir).catch(() => null);
  if (names === null) return false;
  for (const name of names) {
    if (temporaryOwner(name) !== null) continue;
    const path = join(dir, name);
    if (name === "checkpoints") {
      const inside = await readdir(path).catch(() => null);
      if (inside === null || inside.some((entry) => temporaryOwner(entry) === null)) return false;
    } else if (name === "metrics.csv") {
      // A row after the header is worth keeping.
      const text = await readFile(path, "utf8").catch(() => null);
      if (text === null || text.split("\n").filter((row) => row !== "").length > 1) return false;
    } else if (name === "histograms.jsonl") {
      if ((await stat(path).catch(() => null))?.size !== 0) return false;
    } else return false;
  }
  return true;
}
