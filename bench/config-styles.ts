// Every model's whole command-line fit with each way cellarium-ml configs lay out x_ng (issue 13
// item 5): `convert_fn: cellarium.ml.utilities.data.densify` (older configs, scVI), the
// `cellarium.ml.transforms.Densify` transform at the head of model.transforms (upstream's examples),
// and `convert_fn: to_torch_sparse_csr` (the baseline every ratio divides by). The result does not
// depend on the layout (tests/models/dense-layouts.test.ts), so neither should the time: the target
// is every densify style within 1.2x of CSR.
// Pipelines, batches of 1,000 cells unless said, on the 100k x 20k benchmark file (a copy with an
// obs label column, bench/label_copy.py, in the OS temporary directory, made once):
//   onepass_mean_var_std  NormalizeTotal, Log1p                      one epoch
//   tdigest               NormalizeTotal, Log1p                      one epoch
//   incremental_pca       NormalizeTotal, Log1p                      one epoch, k = 50, niter 2
//   incremental_pca+z     NormalizeTotal, Log1p, ZScore              one epoch (upstream's example)
//   logistic_regression   NormalizeTotal, Log1p, ZScore              STEPS_SLOW steps, Adam
//   probabilistic_pca     NormalizeTotal, Log1p, ZScore              STEPS_SLOW steps, k = 50, Adam
//   geneformer            NormalizeTotal, DivideByScale              GENEFORMER_STEPS steps of 8 cells,
//                                                                    hidden 256, 6 layers, 512 positions
// ZScore's statistics come from this run's own onepass fit, and so does DivideByScale's scale_g
// (its mean_g: a stand-in for TDigest's medians, since a fit capped by --max-steps writes no
// checkpoint to read them from; the scale does not change the cost).
// Peers in the same run (--no-peers skips them): numpy mean/var over h5py blocks
// (bench/streaming_numpy.py; target: our onepass fit >= 3x its rate) and upstream's IPCA algorithm
// in PyTorch, 2 threads (bench/pca_peers.py; target: our incremental_pca fit >= 8x its rate).
// Each fit is its own process (1 read-ahead worker); every cell of the table is the median of
// --repeats runs (default 3), interleaved. "fit s" is the fit loop's time as the CLI reports it.
// The fits run with --no_report (they write what the peers write: the model's outputs and a
// checkpoint); --report adds the run report the command line writes by default to every fit.
// Usage: node --import tsx bench/config-styles.ts [--repeats N] [--models onepass,ipca,...]
//        [--max-steps N (caps every fit, for a quick check)] [--no-peers] [--report]
// Needs npm run build and bench/data/bench_100k_20k.h5ad (/usr/bin/python3 scripts/make-bench-data.py).

import { existsSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { benchmarkFile, median, root, runTimed, scratchDir } from "./lib/cli-bench.js";

const args = process.argv.slice(2);
const option = (name: string): string | undefined => {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1] : undefined;
};
const repeats = Number(option("--repeats") ?? 3);
const maxSteps = option("--max-steps") === undefined ? undefined : Number(option("--max-steps"));
// Peers only for whole fits: a capped fit is not comparable.
const peers = !args.includes("--no-peers") && option("--max-steps") === undefined;
const report = args.includes("--report") ? [] : ["--no_report"];
const STEPS_SLOW = 20;
const GENEFORMER_STEPS = 3;

const source = benchmarkFile(false);
const file = join(tmpdir(), "cellarium-bench-labelled-100k_20k.h5ad");
if (!existsSync(file) || statSync(file).mtimeMs < statSync(source).mtimeMs) {
  console.error(`writing ${file} (a copy of ${source} with an obs label column)`);
  runTimed("/usr/bin/python3", [join(root, "bench/label_copy.py"), source, file]);
}
const dir = scratchDir("bench-styles-");
const cli = join(root, "bin/cellarium.js");
const onepassCsv = join(dir, "onepass.csv");

type Style = "csr" | "densify" | "Densify";
const STYLES: readonly Style[] = ["csr", "densify", "Densify"];
const styleName: Record<Style, string> = {
  csr: "convert_fn to_torch_sparse_csr",
  densify: "convert_fn densify",
  Densify: "Densify transform",
};

interface Case {
  readonly name: string;
  readonly command: string;
  readonly model: string;
  readonly transforms: () => string[];
  readonly steps?: number;
  readonly batchSize?: number;
  readonly optim?: string;
  readonly labels?: boolean;
}

const normalizeLog = [
  "{class_path: cellarium.ml.transforms.NormalizeTotal, init_args: {target_count: 10_000}}",
  "cellarium.ml.transforms.Log1p",
];
const zScore = () =>
  `{class_path: cellarium.ml.transforms.ZScore, init_args: !FileMultiLoader {file_path: ${onepassCsv}, loader_fn: pandas.read_csv, fields: {mean_g: {attr: mean_g.values, convert_fn: torch.FloatTensor}, std_g: {attr: std_g.values, convert_fn: torch.FloatTensor}, var_names_g: {attr: var_names_g, convert_fn: pandas.Series.to_numpy}}}}`;

const CASES: Record<string, Case> = {
  onepass: {
    name: "onepass_mean_var_std",
    command: "onepass_mean_var_std",
    model: `{class_path: cellarium.ml.models.OnePassMeanVarStd, init_args: {algorithm: shifted_data, output_path: ${onepassCsv}}}`,
    transforms: () => normalizeLog,
  },
  tdigest: {
    name: "tdigest",
    command: "tdigest",
    model: "cellarium.ml.models.TDigest",
    transforms: () => normalizeLog,
  },
  ipca: {
    name: "incremental_pca",
    command: "incremental_pca",
    model:
      "{class_path: cellarium.ml.models.IncrementalPCA, init_args: {n_components: 50, svd_lowrank_niter: 2}}",
    transforms: () => normalizeLog,
  },
  "ipca+z": {
    name: "incremental_pca, + ZScore",
    command: "incremental_pca",
    model:
      "{class_path: cellarium.ml.models.IncrementalPCA, init_args: {n_components: 50, svd_lowrank_niter: 2}}",
    transforms: () => [...normalizeLog, zScore()],
  },
  lr: {
    name: "logistic_regression",
    command: "logistic_regression",
    model: "{class_path: cellarium.ml.models.LogisticRegression, init_args: {seed: 0, log_metrics: false}}",
    transforms: () => [...normalizeLog, zScore()],
    steps: STEPS_SLOW,
    optim: "optim_fn: torch.optim.Adam\n  optim_kwargs: {lr: 0.1}",
    labels: true,
  },
  ppca: {
    name: "probabilistic_pca",
    command: "probabilistic_pca",
    model:
      "{class_path: cellarium.ml.models.ProbabilisticPCA, init_args: {n_components: 50, ppca_flavor: marginalized, W_init_scale: 0.1, sigma_init_scale: 0.7, seed: 0}}",
    transforms: () => [...normalizeLog, zScore()],
    steps: STEPS_SLOW,
    optim: "optim_fn: torch.optim.Adam\n  optim_kwargs: {lr: 0.03}",
  },
  geneformer: {
    name: "geneformer, batches of 8 cells",
    command: "geneformer",
    model:
      "{class_path: cellarium.ml.models.Geneformer, init_args: {hidden_size: 256, num_hidden_layers: 6, num_attention_heads: 4, intermediate_size: 512, max_position_embeddings: 512}}",
    transforms: () => [
      normalizeLog[0]!,
      `{class_path: cellarium.ml.transforms.DivideByScale, init_args: !FileMultiLoader {file_path: ${onepassCsv}, loader_fn: pandas.read_csv, fields: {scale_g: {attr: mean_g.values, convert_fn: torch.FloatTensor}, var_names_g: {attr: var_names_g, convert_fn: pandas.Series.to_numpy}}}}`,
    ],
    steps: GENEFORMER_STEPS,
    batchSize: 8,
    optim: "optim_fn: torch.optim.AdamW\n  optim_kwargs: {lr: 0.001}",
  },
};

const selected = (option("--models") ?? Object.keys(CASES).join(",")).split(",");
for (const key of selected) {
  if (!(key in CASES)) throw new Error(`unknown model case ${key} (valid: ${Object.keys(CASES).join(", ")})`);
}
// ZScore and DivideByScale read onepass's CSV: onepass runs first (its rows shown only if selected).
const needs = new Set(selected);
if (selected.some((k) => ["ipca+z", "lr", "ppca", "geneformer"].includes(k))) needs.add("onepass");
const order = Object.keys(CASES).filter((k) => needs.has(k));

function writeConfig(c: Case, style: Style, path: string): string {
  const conversion =
    style === "csr"
      ? ", convert_fn: cellarium.ml.utilities.data.to_torch_sparse_csr"
      : style === "densify"
        ? ", convert_fn: cellarium.ml.utilities.data.densify"
        : "";
  const transforms = [...(style === "Densify" ? ["cellarium.ml.transforms.Densify"] : []), ...c.transforms()];
  const steps = Math.min(c.steps ?? Number.POSITIVE_INFINITY, maxSteps ?? Number.POSITIVE_INFINITY);
  const labels = c.labels
    ? ", y_n: {attr: obs, key: label, convert_fn: cellarium.ml.utilities.data.categories_to_codes}, y_categories: {attr: obs, key: label, convert_fn: cellarium.ml.utilities.data.get_categories}"
    : "";
  const logEvery = Number.isFinite(steps) ? 1 : 10;
  writeFileSync(
    path,
    `trainer: {max_epochs: 1${Number.isFinite(steps) ? `, max_steps: ${steps}` : ""}, enable_progress_bar: false, log_every_n_steps: ${logEvery}, default_root_dir: ${dir}}
model:
  transforms:
${transforms.map((t) => `    - ${t}`).join("\n")}
  model: ${c.model}
${c.optim ? `  ${c.optim}\n` : ""}data:
  dadc: {class_path: cellarium.ml.data.DistributedAnnDataCollection, init_args: {filenames: ${file}}}
  batch_keys: {x_ng: {attr: X${conversion}}, var_names_g: {attr: var_names}${labels}}
  batch_size: ${c.batchSize ?? 1000}
  num_workers: 1
`,
  );
  return path;
}

interface Timing {
  cells: number;
  seconds: number;
  wallSeconds: number;
  rssMiB: number;
}

const timings = new Map<string, Timing[]>();
const record = (key: string, t: Timing) => timings.set(key, [...(timings.get(key) ?? []), t]);
const peerRuns: [string, string, () => Timing][] = [
  [
    "numpy mean/var over h5py blocks (onepass peer)",
    "onepass",
    () => python("streaming_numpy.py", ["mean_var", file]),
  ],
  [
    "PyTorch, upstream's IPCA algorithm, 2 threads (incremental_pca peer)",
    "ipca",
    () => python("pca_peers.py", ["torch", file, "50", "2", "1000", "2"]),
  ],
];

function python(script: string, scriptArgs: string[]): Timing {
  const out = runTimed("/usr/bin/python3", [join(root, "bench", script), ...scriptArgs]);
  const parsed = JSON.parse(out.stdout.trim().split("\n").at(-1)!);
  return {
    cells: parsed.cells,
    seconds: parsed.seconds ?? parsed.cells / parsed.cells_per_s,
    wallSeconds: out.wallSeconds,
    rssMiB: out.rssMiB,
  };
}

for (let r = 0; r < repeats; r++) {
  for (const key of order) {
    const c = CASES[key]!;
    for (const style of STYLES) {
      const config = writeConfig(c, style, join(dir, `${key}-${style}.yaml`));
      const out = runTimed(cli, [c.command, "fit", "--config", config, ...report]);
      const fit = /fit: (\d+) cells in ([\d.]+) s/.exec(out.stdout);
      const runDir = /run directory: (.+)/.exec(out.stdout)?.[1];
      if (!fit || !runDir) throw new Error(`${c.name} (${style}): no fit line in\n${out.stdout}`);
      record(`${key}/${style}`, {
        cells: Number(fit[1]),
        seconds: Number(fit[2]),
        wallSeconds: out.wallSeconds,
        rssMiB: out.rssMiB,
      });
    }
  }
  if (peers) for (const [name, key, run] of peerRuns) if (needs.has(key)) record(name, run());
}

const med = (key: string, f: (t: Timing) => number) => median(timings.get(key)!.map(f));
console.log(
  `100,000 cells x 20,000 genes (CSR, ~7% non-zero), 1 read-ahead worker, ${report.length > 0 ? "--no_report" : "with the run report"}; medians of ${repeats} runs${maxSteps ? `; every fit capped at ${maxSteps} steps` : ""}\n`,
);
console.log("| model | x_ng layout | cells | fit s | ratio to CSR | process s | peak RSS MiB |");
console.log("|---|---|---:|---:|---:|---:|---:|");
for (const key of order.filter((k) => selected.includes(k))) {
  const base = med(`${key}/csr`, (t) => t.seconds);
  for (const style of STYLES) {
    const k = `${key}/${style}`;
    const fit = med(k, (t) => t.seconds);
    console.log(
      `| ${CASES[key]!.name} | ${styleName[style]} | ${med(k, (t) => t.cells)} | ${fit.toFixed(2)} | ${(fit / base).toFixed(2)} | ${med(k, (t) => t.wallSeconds).toFixed(2)} | ${Math.max(...timings.get(k)!.map((t) => t.rssMiB)).toFixed(0)} |`,
    );
  }
}
if (peers) {
  console.log(
    "\n| peer | peer cells/s | ours cells/s, fit loop (slowest layout) | ratio | peer cells/s, whole process | ours cells/s, whole process | ratio, whole to whole | ratio, our whole to peer's loop | target |",
  );
  console.log("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
  for (const [name, key] of peerRuns) {
    if (!timings.has(name) || !selected.includes(key)) continue;
    const rate = med(name, (t) => t.cells / t.seconds);
    const loop = Math.min(...STYLES.map((s) => med(`${key}/${s}`, (t) => t.cells / t.seconds)));
    const whole = Math.min(...STYLES.map((s) => med(`${key}/${s}`, (t) => t.cells / t.wallSeconds)));
    // The peer's whole process too (interpreter start, imports, opening the file): whole against whole.
    const peerWhole = med(name, (t) => t.cells / t.wallSeconds);
    console.log(
      `| ${name} | ${Math.round(rate)} | ${Math.round(loop)} | ${(loop / rate).toFixed(1)}x | ${Math.round(peerWhole)} | ${Math.round(whole)} | ${(whole / peerWhole).toFixed(1)}x | ${(whole / rate).toFixed(1)}x | ${key === "onepass" ? ">= 3x" : ">= 8x"} |`,
    );
  }
}
