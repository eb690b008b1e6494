// OnePassMeanVarStd and TDigest fit through the command line, as a user runs them (compiled code:
// `npm run build` first), on the benchmark file in 1,000-cell batches through NormalizeTotal + Log1p,
// with 0 and 1 read-ahead workers; against numpy streaming mean/var over h5py blocks and exact
// per-gene medians with numpy (bench/streaming_numpy.py) in the same run. Each run is its own
// process; peak RSS is GNU time's maximum resident set size. Every run is repeated REPEATS times
// (interleaved) and the table shows medians. "steady" is the fit loop's rate after its first 10
// steps (from metrics.csv), the definition bench/data.ts uses for the data layer's rate.
// Prints a markdown table.
// Data: /usr/bin/python3 scripts/make-bench-data.py [5000]
// Usage: node --import tsx bench/streaming-fit.ts [--quick]

import { join } from "node:path";
import {
  benchmarkFile,
  type FitRow,
  median,
  root,
  runTimed,
  scratchDir,
  timedFit,
  writeFitConfig,
} from "./lib/cli-bench.js";

const REPEATS = 3;
const quick = process.argv.includes("--quick");
const file = benchmarkFile(quick);
const dir = scratchDir("bench-streaming-");

function writeConfig(model: string, workers: number): string {
  const init =
    model === "OnePassMeanVarStd"
      ? `{algorithm: shifted_data, output_path: ${join(dir, "onepass.csv")}}`
      : "{}";
  return writeFitConfig(join(dir, `${model}-${workers}.yaml`), {
    file,
    rootDir: dir,
    model,
    init,
    workers,
    logEveryNSteps: quick ? 1 : 10,
  });
}

type Row = FitRow;

function cellarium(command: string, model: string, workers: number): Row {
  return timedFit(join(root, "bin/cellarium.js"), command, writeConfig(model, workers));
}

function numpy(task: string): Row {
  const out = runTimed("/usr/bin/python3", [join(root, "bench/streaming_numpy.py"), task, file]);
  const parsed = JSON.parse(out.stdout.trim().split("\n").at(-1)!);
  return {
    cells: parsed.cells,
    seconds: parsed.seconds,
    steady: parsed.cells / parsed.seconds,
    wallSeconds: out.wallSeconds,
    rssMiB: out.rssMiB,
  };
}

const runs: [string, () => Row][] = [
  ["onepass_mean_var_std fit, 0 workers", () => cellarium("onepass_mean_var_std", "OnePassMeanVarStd", 0)],
  ["onepass_mean_var_std fit, 1 worker", () => cellarium("onepass_mean_var_std", "OnePassMeanVarStd", 1)],
  ["onepass_mean_var_std fit, 2 workers", () => cellarium("onepass_mean_var_std", "OnePassMeanVarStd", 2)],
  ["numpy mean/var over h5py blocks", () => numpy("mean_var")],
  ["tdigest fit, 0 workers", () => cellarium("tdigest", "TDigest", 0)],
  ["tdigest fit, 1 worker", () => cellarium("tdigest", "TDigest", 1)],
  ["numpy exact medians of non-zeros", () => numpy("medians")],
];
const results: Row[][] = runs.map(() => []);
for (let r = 0; r < REPEATS; r++) {
  runs.forEach(([, measure], i) => {
    results[i]!.push(measure());
  });
}
console.log(
  `${quick ? "5,000" : "100,000"} cells x 20,000 genes (CSR, ~7% non-zero), batches of 1,000, NormalizeTotal + Log1p; medians of ${REPEATS} runs\n`,
);
console.log("| run | cells/s (fit loop) | cells/s (steady) | fit s | process s | peak RSS MiB |");
console.log("|---|---:|---:|---:|---:|---:|");
runs.forEach(([name], i) => {
  const rows = results[i]!;
  const rate = median(rows.map((r) => r.cells / r.seconds));
  const steady = median(rows.map((r) => r.steady));
  const fit = median(rows.map((r) => r.seconds));
  const wall = median(rows.map((r) => r.wallSeconds));
  const rss = Math.max(...rows.map((r) => r.rssMiB));
  console.log(
    `| ${name} | ${Math.round(rate)} | ${Math.round(steady)} | ${fit.toFixed(2)} | ${wall.toFixed(2)} | ${rss.toFixed(0)} |`,
  );
});
