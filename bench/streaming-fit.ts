// OnePassMeanVarStd and TDigest fit through the command line, as a user runs them (compiled code:
// `npm run build` first), on the benchmark file in 1,000-cell batches through NormalizeTotal + Log1p,
// with 0 and 1 read-ahead workers; against numpy streaming mean/var over h5py blocks and exact
// per-gene medians with numpy (bench/streaming_numpy.py) in the same run. Each run is its own
// process; peak RSS is GNU time's maximum resident set size. Prints a markdown table.
// Data: /usr/bin/python3 scripts/make-bench-data.py [5000]
// Usage: node --import tsx bench/streaming-fit.ts [--quick]

import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { benchmarkFile, root, runTimed } from "./lib/cli-bench.js";

const quick = process.argv.includes("--quick");
const file = benchmarkFile(quick);
const dir = mkdtempSync(join(tmpdir(), "bench-streaming-"));

function writeConfig(model: string, workers: number): string {
  const path = join(dir, `${model}-${workers}.yaml`);
  const init =
    model === "OnePassMeanVarStd"
      ? `{algorithm: shifted_data, output_path: ${join(dir, "onepass.csv")}}`
      : "{}";
  writeFileSync(
    path,
    `trainer: {max_epochs: 1, enable_progress_bar: false, log_every_n_steps: 1000, default_root_dir: ${dir}}
model:
  transforms:
    - {class_path: cellarium.ml.transforms.NormalizeTotal, init_args: {target_count: 10_000}}
    - cellarium.ml.transforms.Log1p
  model: {class_path: cellarium.ml.models.${model}, init_args: ${init}}
data:
  dadc: {class_path: cellarium.ml.data.DistributedAnnDataCollection, init_args: {filenames: ${file}}}
  batch_keys: {x_ng: {attr: X}, var_names_g: {attr: var_names}}
  batch_size: 1000
  num_workers: ${workers}
`,
  );
  return path;
}

interface Row {
  readonly name: string;
  readonly cells: number;
  /** The fit loop's own time (cellarium-ts) or the script's (numpy). */
  readonly seconds: number;
  /** The whole process, start-up included. */
  readonly wallSeconds: number;
  readonly rssMiB: number;
}

/** Runs a command under GNU time; returns its stdout, wall time and peak RSS. */

function cellarium(name: string, command: string, model: string, workers: number): Row {
  const out = runTimed(process.execPath, [
    join(root, "bin/cellarium.js"),
    command,
    "fit",
    "--config",
    writeConfig(model, workers),
  ]);
  const fit = /fit: (\d+) cells in ([\d.]+) s/.exec(out.stdout);
  if (!fit) throw new Error(`${name}: no fit line in\n${out.stdout}`);
  return {
    name,
    cells: Number(fit[1]),
    seconds: Number(fit[2]),
    wallSeconds: out.wallSeconds,
    rssMiB: out.rssMiB,
  };
}

function numpy(name: string, task: string): Row {
  const out = runTimed("/usr/bin/python3", [join(root, "bench/streaming_numpy.py"), task, file]);
  const parsed = JSON.parse(out.stdout.trim().split("\n").at(-1)!);
  return {
    name,
    cells: parsed.cells,
    seconds: parsed.seconds,
    wallSeconds: out.wallSeconds,
    rssMiB: out.rssMiB,
  };
}

const rows: Row[] = [
  cellarium("onepass_mean_var_std fit, 0 workers", "onepass_mean_var_std", "OnePassMeanVarStd", 0),
  cellarium("onepass_mean_var_std fit, 1 worker", "onepass_mean_var_std", "OnePassMeanVarStd", 1),
  numpy("numpy mean/var over h5py blocks", "mean_var"),
  cellarium("tdigest fit, 0 workers", "tdigest", "TDigest", 0),
  cellarium("tdigest fit, 1 worker", "tdigest", "TDigest", 1),
  numpy("numpy exact medians of non-zeros", "medians"),
];
console.log(
  `${quick ? "5,000" : "100,000"} cells x 20,000 genes (CSR, ~7% non-zero), batches of 1,000, NormalizeTotal + Log1p\n`,
);
console.log("| run | cells/s (fit loop) | fit s | process s | peak RSS MiB |");
console.log("|---|---:|---:|---:|---:|");
for (const r of rows) {
  console.log(
    `| ${r.name} | ${Math.round(r.cells / r.seconds)} | ${r.seconds.toFixed(2)} | ${r.wallSeconds.toFixed(2)} | ${r.rssMiB.toFixed(0)} |`,
  );
}
