import { mkdir, readdir } from "node:fs/promises";
import { join } from "node:path";

/**
 * A new run directory `<root>/lightning_logs/version_<N>` with the next unused N, the layout
 * Lightning's loggers use, so paths in upstream workflows (`.../version_0/checkpoints/...`) carry over.
 */
export async function createRunDir(root: string): Promise<string> {
  const logs = join(root, "lightning_logs");
  await mkdir(logs, { recursive: true });
  const used = (await readdir(logs))
    .map((name) => /^version_(\d+)$/.exec(name))
    .filter((m) => m !== null)
    .map((m) => Number(m[1]));
  for (let version = used.length === 0 ? 0 : Math.max(...used) + 1; ; version++) {
    const dir = join(logs, `version_${version}`);
    try {
      // Non-recursive mkdir fails if another process took this version first.
      await mkdir(dir);
      return dir;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
  }
}
