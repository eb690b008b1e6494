// Training across MPI ranks (issue 17, item 6), on this machine, compiled code (`npm run build`):
// 1. The Allreduce the gradient average uses (MpiWorld.allreduceSum: in place, buckets of 2^19
//    elements), 2 and 4 ranks over shared memory, on 10k to 50M elements of float64 (what a step
//    sends) and float32, against torch.distributed's all_reduce with gloo (the CPU backend of
//    PyTorch DDP, Debian's python3-torch) on the same sizes and rank counts: median seconds per
//    call and the bus bandwidth 2 (N - 1) / N * bytes / s (what each rank's link carries in a ring).
// 2. Time per optimizer step of LogisticRegression (2,000 genes, 1,000 cells per rank and step)
//    and of a Geneformer layer stack (4 layers, hidden 128, 256 tokens, 16 cells per rank and
//    step) with 1 process and with 2 and 4 ranks under mpirun (weak scaling: each rank its own
//    batch), from rank 0's metrics.csv between the first and the last logged step; peak RSS of
//    the largest rank.
// The machine has 2 cores: 4 ranks are oversubscribed, so 4-rank rows measure contention, not
// scaling. Data: /usr/bin/python3 scripts/make-scvi-data.py --cells 100000 --genes 2000 --batches 4 --out bench/data/scvi_100k_2k.h5ad
// Usage: node --import tsx bench/mpi.ts [--quick]

import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { root, scratchDir } from "./lib/cli-bench.js";

const quick = process.argv.includes("--quick");
const file = join(root, "bench/data/scvi_100k_2k.h5ad");
for (const [path, fix] of [
  [
    file,
    "/usr/bin/python3 scripts/make-scvi-data.py --cells 100000 --genes 2000 --batches 4 --out bench/data/scvi_100k_2k.h5ad",
  ],
  [join(root, "dist/cli/main.js"), "npm run build"],
] as const) {
  if (!existsSync(path)) {
    console.error(`${path} is missing: run ${fix}`);
    process.exit(1);
  }
}
const dir = scratchDir("bench-mpi-");
const cli = join(root, "bin/cellarium.js");
const mpiEnv = {
  ...process.env,
  OMPI_ALLOW_RUN_AS_ROOT: "1",
  OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: "1",
  CELLARIUM_REPORT: "0",
};
const SIZES = quick ? [10_000, 1_000_000] : [10_000, 100_000, 1_000_000, 10_000_000, 50_000_000];

interface Timing {
  dtype: string;
  size: number;
  seconds: number;
}

function jsonLines(stdout: string): Timing[] {
  return stdout
    .trim()
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as Timing);
}

function run(command: string, args: string[]): string {
  const result = spawnSync(command, args, { cwd: root, env: mpiEnv, encoding: "utf8", maxBuffer: 1 << 26 });
  if (result.status !== 0) throw new Error(`${command} ${args.join(" ")} failed:\n${result.stderr}`);
  return result.stdout + result.stderr;
}

const fmt = (x: number, digits = 2) =>
  x.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
const time = (s: number) =>
  s < 1e-3 ? `${fmt(s * 1e6, 0)} µs` : s < 1 ? `${fmt(s * 1e3, 1)} ms` : `${fmt(s, 2)} s`;

console.log("### Allreduce, in place, over shared memory (median per call)\n");
console.log(
  "| ranks | dtype | elements | MB | ours | torch gloo | ours / gloo | ours bus GB/s | gloo bus GB/s |",
);
console.log(
  "| ----: | ----- | -------: | -: | ---: | ---------: | ----------: | ------------: | ------------: |",
);
for (const ranks of [2, 4]) {
  const ours = jsonLines(
    run("mpirun", [
      "--oversubscribe",
      "-np",
      String(ranks),
      process.execPath,
      "--import",
      "tsx",
      "bench/mpi-allreduce.ts",
      ...SIZES.map(String),
    ]),
  );
  const torch = jsonLines(
    run("/usr/bin/python3", [
      "bench/torch_allreduce.py",
      String(ranks),
      String(29500 + ranks),
      ...SIZES.map(String),
    ]),
  );
  for (const o of ours) {
    const t = torch.find((x) => x.dtype === o.dtype && x.size === o.size)!;
    const bytes = o.size * (o.dtype === "float64" ? 8 : 4);
    const bus = (s: number) => fmt((((2 * (ranks - 1)) / ranks) * (bytes / s)) / 1e9);
    console.log(
      `| ${ranks} | ${o.dtype} | ${o.size.toLocaleString("en-US")} | ${fmt(bytes / 1e6, 2)} | ${time(o.seconds)} | ${time(t.seconds)} | ${fmt(o.seconds / t.seconds)} | ${bus(o.seconds)} | ${bus(t.seconds)} |`,
    );
  }
}

const DATA = `data:
  dadc: {class_path: cellarium.ml.data.DistributedAnnDataCollection, init_args: {filenames: ${file}, shard_size: 100000}}
  batch_keys:
    x_ng: {attr: X, convert_fn: cellarium.ml.utilities.data.to_torch_sparse_csr}
    var_names_g: {attr: var_names}
    y_n: {attr: obs, key: cell_type, convert_fn: cellarium.ml.utilities.data.categories_to_codes}
    y_categories: {attr: obs, key: cell_type, convert_fn: cellarium.ml.utilities.data.get_categories}
  shuffle: true`;

const MODELS = [
  {
    name: "LogisticRegression (2,000 genes, 1,000 cells per rank)",
    command: "logistic_regression",
    steps: quick ? 20 : 60,
    log: 10,
    config: `seed_everything: 0
model:
  transforms:
    - {class_path: cellarium.ml.transforms.NormalizeTotal, init_args: {target_count: 10_000}}
    - cellarium.ml.transforms.Log1p
  model: {class_path: cellarium.ml.models.LogisticRegression, init_args: {W_prior_scale: 1.0, seed: 0}}
  optim_fn: torch.optim.Adam
  optim_kwargs: {lr: 0.01}
${DATA}
  batch_size: 1000`,
  },
  {
    name: "Geneformer (4 layers, hidden 128, 256 tokens, 16 cells per rank)",
    command: "geneformer",
    steps: quick ? 6 : 16,
    log: 2,
    config: `seed_everything: 0
model:
  transforms:
    - {class_path: cellarium.ml.transforms.NormalizeTotal, init_args: {target_count: 10_000}}
  model:
    class_path: cellarium.ml.models.Geneformer
    init_args: {hidden_size: 128, num_hidden_layers: 4, num_attention_heads: 4, intermediate_size: 256, max_position_embeddings: 256}
  optim_fn: torch.optim.AdamW
  optim_kwargs: {lr: 0.0001}
${DATA.replace(/\n {4}y_n:.*\n {4}y_categories:.*/, "")}
  batch_size: 16`,
  },
];

/** Seconds per step between rank 0's first and last logged steps, and the largest rank's peak RSS. */
function fit(model: (typeof MODELS)[number], ranks: number): { perStep: number; rssMiB: number } {
  const config = join(dir, `${model.command}.yaml`);
  writeFileSync(config, model.config);
  const runDir = join(dir, `${model.command}-${ranks}`);
  const program = [
    "/usr/bin/time",
    "-f",
    "MAXRSS_KB %M",
    process.execPath,
    cli,
    model.command,
    "fit",
    "--config",
    config,
  ];
  const args = [
    ...program,
    "--trainer.max_steps",
    String(model.steps),
    "--trainer.log_every_n_steps",
    String(model.log),
    "--trainer.enable_progress_bar",
    "false",
    "--trainer.default_root_dir",
    runDir,
  ];
  const out =
    ranks === 1
      ? run(args[0]!, args.slice(1))
      : run("mpirun", ["--oversubscribe", "-np", String(ranks), ...args]);
  const rss = Math.max(...[...out.matchAll(/MAXRSS_KB (\d+)/g)].map((m) => Number(m[1]))) / 1024;
  const logged = readFileSync(join(runDir, "lightning_logs/version_0/metrics.csv"), "utf8")
    .trim()
    .split("\n");
  const header = logged[0]!.split(",");
  const rows = logged.slice(1).map((line) => line.split(",").map(Number));
  const [step, elapsed] = [header.indexOf("step"), header.indexOf("elapsed_s")];
  const first = rows[0]!;
  const last = rows.at(-1)!;
  return {
    perStep: (last[elapsed]! - first[elapsed]!) / (last[step]! - first[step]!),
    rssMiB: rss,
  };
}

for (const model of MODELS) {
  console.log(`\n### ${model.name}: time per optimizer step\n`);
  console.log("| ranks | s / step | cells / s (all ranks) | vs 1 process | peak RSS per rank, MiB |");
  console.log("| ----: | -------: | --------------------: | -----------: | ---------------------: |");
  let single = 0;
  const batch = Number(/batch_size: (\d+)/.exec(model.config)![1]);
  for (const ranks of [1, 2, 4]) {
    const { perStep, rssMiB } = fit(model, ranks);
    const throughput = (ranks * batch) / perStep;
    if (ranks === 1) single = throughput;
    console.log(
      `| ${ranks} | ${fmt(perStep, 4)} | ${fmt(throughput, 0)} | ${fmt(throughput / single)} | ${fmt(rssMiB, 0)} |`,
    );
  }
}
