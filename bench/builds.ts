// The same fits through the command lines of two builds, interleaved in one run: this checkout's
// and another checkout's (e.g. a worktree of an earlier commit, built with `npm ci`), to measure
// what a change costs. Runs onepass_mean_var_std (0 and 1 read-ahead worker) and incremental_pca
// (k = 50, niter 2, 1 worker) on the benchmark file in 1,000-cell batches through NormalizeTotal +
// Log1p, each repeated and shown as medians, with the ratio this / other.
// Usage: node --import tsx bench/builds.ts <other checkout> [--quick] [--repeats N] [--only TEXT]
//   e.g. git worktree add /tmp/base <commit> && (cd /tmp/base && npm ci)

import { join, resolve } from "node:path";
import {
  benchmarkFile,
  type FitRow,
  median,
  root,
  scratchDir,
  timedFit,
  writeFitConfig,
} from "./lib/cli-bench.js";

const args = process.argv.slice(2);
const valued = ["--repeats", "--only"];
const other = args.find((a, i) => !a.startsWith("--") && !valued.includes(args[i - 1]!));
if (other === undefined) {
  console.error(
    "usage: node --import tsx bench/builds.ts <other checkout> [--quick] [--repeats N] [--only TEXT]",
  );
  process.exit(1);
}
const quick = args.includes("--quick");
const repeats = args.includes("--repeats") ? Number(args[args.indexOf("--repeats") + 1]) : 3;
/** Only the runs whose name contains this text. */
const only = args.includes("--only") ? args[args.indexOf("--only") + 1]! : "";
const file = benchmarkFile(quick);
const dir = scratchDir("bench-builds-");
const builds = [
  ["this", join(root, "bin/cellarium.js")],
  ["other", join(resolve(other), "bin/cellarium.js")],
] as const;

function config(name: string, model: string, init: string, workers: number): string {
  return writeFitConfig(join(dir, `${name}.yaml`), {
    file,
    rootDir: dir,
    model,
    init,
    workers,
    logEveryNSteps: 10,
  });
}

const onepassInit = `{algorithm: shifted_data, output_path: ${join(dir, "onepass.csv")}}`;
const allRuns: [string, string, string][] = [
  [
    "onepass_mean_var_std, 0 workers",
    "onepass_mean_var_std",
    config("onepass-0", "OnePassMeanVarStd", onepassInit, 0),
  ],
  [
    "onepass_mean_var_std, 1 worker",
    "onepass_mean_var_std",
    config("onepass-1", "OnePassMeanVarStd", onepassInit, 1),
  ],
  [
    "incremental_pca k = 50, 1 worker",
    "incremental_pca",
    config("ipca", "IncrementalPCA", "{n_components: 50, svd_lowrank_niter: 2}", 1),
  ],
];

const runs = allRuns.filter(([name]) => name.includes(only));
const results = runs.map(() => builds.map(() => [] as FitRow[]));
for (let r = 0; r < repeats; r++) {
  runs.forEach(([, command, cfg], i) => {
    // Alternate which build goes first, so that neither always runs on a warmer page cache.
    const order = r % 2 === 0 ? [0, 1] : [1, 0];
    for (const b of order) results[i]![b]!.push(timedFit(builds[b]![1], command, cfg));
  });
}

console.log(
  `${quick ? "5,000" : "100,000"} cells x 20,000 genes (CSR, ~7% non-zero), batches of 1,000, NormalizeTotal + Log1p; medians of ${repeats} interleaved runs; this = ${root}, other = ${resolve(other)}\n`,
);
console.log("| run | build | cells/s (fit loop) | cells/s (steady) | process s | peak RSS MiB |");
console.log("|---|---|---:|---:|---:|---:|");
runs.forEach(([name], i) => {
  const rows = builds.map((_, b) => {
    const all = results[i]![b]!;
    return {
      rate: median(all.map((row) => row.cells / row.seconds)),
      steady: median(all.map((row) => row.steady)),
      wall: median(all.map((row) => row.wallSeconds)),
      rss: Math.max(...all.map((row) => row.rssMiB)),
    };
  });
  rows.forEach((row, b) => {
    console.log(
      `| ${name} | ${builds[b]![0]} | ${Math.round(row.rate)} | ${Math.round(row.steady)} | ${row.wall.toFixed(2)} | ${row.rss.toFixed(0)} |`,
    );
  });
  const [mine, theirs] = rows;
  console.log(
    `| ${name} | this / other | ${(mine!.rate / theirs!.rate).toFixed(3)} | ${(mine!.steady / theirs!.steady).toFixed(3)} | ${(mine!.wall / theirs!.wall).toFixed(3)} | |`,
  );
});
