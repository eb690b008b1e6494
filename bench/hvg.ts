// hvg_seurat_v3 (issue "Highly variable genes", item 5): the whole command-line fit, n_top_genes
// 2,000, on the 100k x 20k benchmark file, against the numpy peer of the same two passes over h5py
// row blocks with R's loess (bench/hvg_numpy.py), in the same run. Target: ours >= 3x faster. Peak
// memory must not grow with the cells: the fit also runs on the first 20 and 50 batches of each
// epoch (limit_train_batches). Ours ends after the first epoch when that pass already gives the
// clipped sums (src/models/hvg-seurat-v3.ts); the "epochs" column says how many it made. Our runs
// write the fit report (report.html and its PNGs), as the command line does by default; the whole
// file also runs with --no_report, which writes what the peer writes (the CSVs).
// Usage: node --import tsx bench/hvg.ts [--repeats N]
// Needs npm run build and bench/data/bench_100k_20k.h5ad (/usr/bin/python3 scripts/make-bench-data.py).

import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { benchmarkFile, median, root, runTimed, scratchDir } from "./lib/cli-bench.js";

const args = process.argv.slice(2);
const repeats = Number(args[args.indexOf("--repeats") + 1] || 3);
const file = benchmarkFile(false);
const dir = scratchDir("bench-hvg-");
const cli = join(root, "bin/cellarium.js");

function config(batches: number | null): string {
  const path = join(dir, `hvg-${batches ?? "all"}.yaml`);
  writeFileSync(
    path,
    `trainer: {max_epochs: 2, enable_progress_bar: false, log_every_n_steps: 10, default_root_dir: ${dir}${batches ? `, limit_train_batches: ${batches}` : ""}}
model:
  transforms: [cellarium.ml.transforms.Densify]
  model:
    class_path: cellarium.ml.models.HVGSeuratV3
    init_args: {n_top_genes: 2000, output_path: ${dir}/hvg.csv}
data:
  dadc: {class_path: cellarium.ml.data.DistributedAnnDataCollection, init_args: {filenames: ${file}}}
  batch_keys: {x_ng: {attr: X, convert_fn: cellarium.ml.utilities.data.to_torch_sparse_csr}, var_names_g: {attr: var_names}}
  batch_size: 1000
  num_workers: 1
`,
  );
  return path;
}

interface Row {
  fit: number;
  wall: number;
  rss: number;
  epochs: number;
}
const ours = new Map<string, Row[]>();
const peer: { seconds: number; wall: number; rss: number; pass1: number; loess: number; pass2: number }[] =
  [];
const sizes = [20, 50, null, "no_report"] as const;
const cellsOf = (size: (typeof sizes)[number]) => (typeof size === "number" ? size : 100) * 1000;
for (let r = 0; r < repeats; r++) {
  for (const batches of sizes) {
    const report = batches === "no_report" ? ["--no_report"] : [];
    const limit = typeof batches === "number" ? batches : null;
    const out = runTimed(cli, ["hvg_seurat_v3", "fit", "--config", config(limit), ...report]);
    const fit = /fit: (\d+) cells in ([\d.]+) s/.exec(out.stdout);
    if (!fit) throw new Error(`no fit line in\n${out.stdout}`);
    const key = String(batches ?? 100);
    const early = /needed (\d+) of max_epochs/.exec(out.stdout);
    ours.set(key, [
      ...(ours.get(key) ?? []),
      { fit: Number(fit[2]), wall: out.wallSeconds, rss: out.rssMiB, epochs: early ? Number(early[1]) : 2 },
    ]);
  }
  const out = runTimed("/usr/bin/python3", [join(root, "bench/hvg_numpy.py"), file, "2000"]);
  const p = JSON.parse(out.stdout.trim().split("\n").at(-1)!);
  peer.push({
    seconds: p.seconds,
    wall: out.wallSeconds,
    rss: out.rssMiB,
    pass1: p.pass1_s,
    loess: p.loess_s,
    pass2: p.pass2_s,
  });
}

const m = (values: number[]) => median(values);
console.log(`hvg_seurat_v3, n_top_genes 2000, 100,000 cells x 20,000 genes; medians of ${repeats} runs\n`);
console.log("| run | cells | epochs (passes) | fit s | process s | cells/s (process) | peak RSS MiB |");
console.log("|---|---:|---:|---:|---:|---:|---:|");
for (const batches of sizes) {
  const rows = ours.get(String(batches ?? 100))!;
  const cells = cellsOf(batches);
  const wall = m(rows.map((x) => x.wall));
  console.log(
    `| cellarium hvg_seurat_v3 fit${batches === "no_report" ? " --no_report" : ""} | ${cells} | ${[...new Set(rows.map((x) => x.epochs))].join(", ")} | ${m(rows.map((x) => x.fit)).toFixed(2)} | ${wall.toFixed(2)} | ${(cells / wall).toFixed(0)} | ${Math.max(...rows.map((x) => x.rss)).toFixed(0)} |`,
  );
}
const peerWall = m(peer.map((x) => x.wall));
console.log(
  `| numpy + h5py + R loess (bench/hvg_numpy.py) | 100000 | 2 | ${m(peer.map((x) => x.seconds)).toFixed(2)} | ${peerWall.toFixed(2)} | ${(100000 / peerWall).toFixed(0)} | ${Math.max(...peer.map((x) => x.rss)).toFixed(0)} |`,
);
const all = ours.get("100")!;
const plain = ours.get("no_report")!;
console.log(
  `\npeer: pass 1 ${m(peer.map((x) => x.pass1)).toFixed(2)} s, loess (Rscript, start-up included) ${m(peer.map((x) => x.loess)).toFixed(2)} s, pass 2 ${m(peer.map((x) => x.pass2)).toFixed(2)} s`,
);
console.log(
  `ratio, whole process: ${(peerWall / m(all.map((x) => x.wall))).toFixed(2)}x with our report, ${(peerWall / m(plain.map((x) => x.wall))).toFixed(2)}x with --no_report; ours' fit loop vs the peer's timed part: ${(m(peer.map((x) => x.seconds)) / m(all.map((x) => x.fit))).toFixed(2)}x (target >= 3x)`,
);
