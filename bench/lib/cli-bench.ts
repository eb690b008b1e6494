// What the command-line benchmarks share: the benchmark file and the compiled CLI they need, and a
// runner that times a process and reads its peak resident memory from GNU time.

import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const root = fileURLToPath(new URL("../..", import.meta.url));

/** The 100k x 20k benchmark file (5,000 cells with --quick); exits with a hint when it or dist/ is missing. */
export function benchmarkFile(quick: boolean): string {
  const file = join(root, "bench/data", quick ? "bench_100k_20k_5000.h5ad" : "bench_100k_20k.h5ad");
  for (const [path, fix] of [
    [file, `/usr/bin/python3 scripts/make-bench-data.py${quick ? " 5000" : ""}`],
    [join(root, "dist/cli/main.js"), "npm run build"],
  ] as const) {
    if (!existsSync(path)) {
      console.error(`${path} is missing: run ${fix}`);
      process.exit(1);
    }
  }
  return file;
}

/** A scratch directory for a benchmark's configs and runs, removed when the benchmark exits. */
export function scratchDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Runs a command under GNU time; returns its stdout, wall time and peak RSS. */
export function runTimed(
  command: string,
  args: string[],
): { stdout: string; wallSeconds: number; rssMiB: number } {
  const start = performance.now();
  const result = spawnSync("/usr/bin/time", ["-f", "MAXRSS_KB %M", command, ...args], {
    encoding: "utf8",
    maxBuffer: 1 << 26,
  });
  const wallSeconds = (performance.now() - start) / 1000;
  if (result.status !== 0) throw new Error(`${command} ${args.join(" ")} failed:\n${result.stderr}`);
  return {
    stdout: result.stdout,
    wallSeconds,
    rssMiB: Number(/MAXRSS_KB (\d+)/.exec(result.stderr)?.[1]) / 1024,
  };
}

/** One `cellarium <command> fit` process as a benchmark row. */
export interface FitRow {
  readonly cells: number;
  /** The fit loop's own time, as the command line reports it. */
  readonly seconds: number;
  /** Cells/s between the first and the last step logged in metrics.csv (the steady rate). */
  readonly steady: number;
  /** The whole process, start-up included. */
  readonly wallSeconds: number;
  readonly rssMiB: number;
}

/**
 * Runs `node <cli> <command> fit --config <config>` under GNU time and reads its fit line and its
 * metrics.csv (the config must log at least two steps for the steady rate).
 */
export function timedFit(cli: string, command: string, config: string, extra: string[] = []): FitRow {
  const out = runTimed(process.execPath, [cli, command, "fit", "--config", config, ...extra]);
  const fit = /fit: (\d+) cells in ([\d.]+) s/.exec(out.stdout);
  if (!fit) throw new Error(`${command}: no fit line in\n${out.stdout}`);
  const runDir = /run directory: (.+)/.exec(out.stdout)![1]!;
  const logged = readFileSync(join(runDir, "metrics.csv"), "utf8").trim().split("\n").slice(1);
  const [first, last] = [logged[0]!, logged.at(-1)!].map((line) => line.split(",").map(Number));
  // columns: epoch, step, cells, elapsed_s, ...
  return {
    cells: Number(fit[1]),
    seconds: Number(fit[2]),
    steady: (last![2]! - first![2]!) / (last![3]! - first![3]!),
    wallSeconds: out.wallSeconds,
    rssMiB: out.rssMiB,
  };
}

/** The median of `values`. */
export function median(values: number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
}

/**
 * Writes the config the command-line benchmarks fit with to `path`: one epoch over `file` in
 * batches of 1,000 through NormalizeTotal + Log1p into cellarium.ml.models.<model>, runs under
 * `rootDir`.
 */
export function writeFitConfig(
  path: string,
  o: { file: string; rootDir: string; model: string; init: string; workers: number; logEveryNSteps: number },
): string {
  writeFileSync(
    path,
    `trainer: {max_epochs: 1, enable_progress_bar: false, log_every_n_steps: ${o.logEveryNSteps}, default_root_dir: ${o.rootDir}}
model:
  transforms:
    - {class_path: cellarium.ml.transforms.NormalizeTotal, init_args: {target_count: 10_000}}
    - cellarium.ml.transforms.Log1p
  model: {class_path: cellarium.ml.models.${o.model}, init_args: ${o.init}}
data:
  dadc: {class_path: cellarium.ml.data.DistributedAnnDataCollection, init_args: {filenames: ${o.file}}}
  batch_keys: {x_ng: {attr: X}, var_names_g: {attr: var_names}}
  batch_size: 1000
  num_workers: ${o.workers}
`,
  );
  return path;
}
