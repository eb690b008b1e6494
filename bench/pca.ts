// IncrementalPCA fit (k = 50, batches of 1,000, niter 2) through the command line on the benchmark
// file (NormalizeTotal + Log1p), against upstream's algorithm in PyTorch (torch.svd_lowrank per
// batch and per merge) and scikit-learn's IncrementalPCA (partial_fit per batch), both in
// bench/pca_peers.py on the same h5py-streamed blocks, in the same run. Peak RSS from GNU time.
// The last column, the sum of the 50 explained variances (the variance the components capture),
// compares accuracy without an exact reference: higher is better; exact PCA is the maximum.
// Ours runs with the command line's OpenBLAS thread count for incremental_pca (1; see
// src/cli/registry.ts) unless OPENBLAS_NUM_THREADS is set; PyTorch runs with 2 threads and 1.
// Usage: node --import tsx bench/pca.ts [--quick]   (needs npm run build and the data of
// /usr/bin/python3 scripts/make-bench-data.py [5000])

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { benchmarkFile, root, runTimed, scratchDir, writeFitConfig } from "./lib/cli-bench.js";

const quick = process.argv.includes("--quick");
const file = benchmarkFile(quick);
const dir = scratchDir("bench-pca-");

const config = writeFitConfig(join(dir, "ipca.yaml"), {
  file,
  rootDir: dir,
  model: "IncrementalPCA",
  init: "{n_components: 50, svd_lowrank_niter: 2}",
  workers: 1,
  logEveryNSteps: 1000,
});
const cli = join(root, "bin/cellarium.js");
const ours = runTimed(cli, ["incremental_pca", "fit", "--config", config]);
const fit = /fit: (\d+) cells in ([\d.]+) s/.exec(ours.stdout);
const checkpoint = /checkpoint: (.+)/.exec(ours.stdout)?.[1];
if (!fit || !checkpoint) throw new Error(`no fit or checkpoint line in\n${ours.stdout}`);
const variances = join(dir, "ev.json");
runTimed(cli, ["inspect", checkpoint, "--attr", "model.explained_variance_k", "--out", variances]);
const ev = JSON.parse(readFileSync(variances, "utf8")).value.data as number[];
const rows = [
  {
    name: "cellarium-ts incremental_pca fit (1 read-ahead worker, 1 OpenBLAS thread)",
    cellsPerS: Number(fit[1]) / Number(fit[2]),
    wall: ours.wallSeconds,
    rss: ours.rssMiB,
    variance: ev.reduce((a, b) => a + b, 0),
  },
];
for (const [name, method, threads] of [
  ["PyTorch, upstream's algorithm (torch.svd_lowrank), 2 threads", "torch", "2"],
  ["PyTorch, upstream's algorithm (torch.svd_lowrank), 1 thread", "torch", "1"],
  ["scikit-learn IncrementalPCA, 2 threads", "sklearn", "2"],
] as const) {
  const out = runTimed("/usr/bin/python3", [
    join(root, "bench/pca_peers.py"),
    method,
    file,
    "50",
    "2",
    "1000",
    threads,
  ]);
  const parsed = JSON.parse(out.stdout.trim().split("\n").at(-1)!);
  rows.push({
    name,
    cellsPerS: parsed.cells_per_s,
    wall: out.wallSeconds,
    rss: out.rssMiB,
    variance: parsed.explained_variance_sum,
  });
}
console.log(
  `${quick ? "5,000" : "100,000"} cells x 20,000 genes, k = 50, batches of 1,000, niter 2, NormalizeTotal + Log1p\n`,
);
console.log("| run | cells/s | process s | peak RSS MiB | sum of the 50 explained variances |");
console.log("|---|---:|---:|---:|---:|");
for (const r of rows) {
  console.log(
    `| ${r.name} | ${Math.round(r.cellsPerS)} | ${r.wall.toFixed(1)} | ${r.rss.toFixed(0)} | ${r.variance.toFixed(2)} |`,
  );
}
