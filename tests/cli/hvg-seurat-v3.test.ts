// hvg_seurat_v3 on the user's path: a config in the layout of upstream's
// examples/cli_workflow/hvg_seurat_v3_train_config.yaml (a Densify transform, CSR x_ng, the batch
// codes through batch_index_n), on an .h5ad that anndata wrote, against a numpy port of scanpy's
// algorithm with R's loess (tests/helpers/hvg_reference.py): the same selected genes, the same
// ranks, means and variances to float64 rounding, normalized variances within 1e-6, for both
// flavors, with and without batches; and the same result from 2 replicas and from partial runs
// merged in two stages.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { main } from "../../src/cli/main.js";
import { cliStdout } from "../helpers/cli-capture.js";
import { runPython } from "../helpers/python.js";
import { tempDir } from "../helpers/temp.js";

const root = new URL("../..", import.meta.url).pathname;
const work = tempDir("hvg-");
const h5ad = join(work, "counts.h5ad");

// Negative-binomial counts: 900 cells x 600 genes in 3 batches of different depths, gene means
// log-normal, a few genes all zero, one gene non-zero in one cell, a var column feature_id
// (upstream's configs filter on it) and an integer one.
runPython(
  `
import sys, anndata, numpy as np, pandas as pd, scipy.sparse as sp
rng = np.random.default_rng(7)
n, g = 900, 600
batch = np.repeat(np.array(["a", "b", "c"]), [300, 350, 250])
depth = np.select([batch == "a", batch == "b"], [1.0, 2.5], 0.6)
mu = np.exp(rng.normal(-1.0, 1.6, g))
theta = rng.uniform(0.5, 10, g)
lam = rng.gamma(theta, (mu * depth[:, None]) / theta)
x = rng.poisson(lam).astype(np.float32)
x[:, :5] = 0
x[:, 5] = 0
x[17, 5] = 3
obs = pd.DataFrame({"batch": pd.Categorical(batch)}, index=[f"cell{i}" for i in range(n)])
var = pd.DataFrame({"feature_id": [f"ENSG{j:05d}" for j in range(g)], "n_cells": (x > 0).sum(0)}, index=[f"gene{j}" for j in range(g)])
anndata.AnnData(X=sp.csr_matrix(x), obs=obs, var=var).write_h5ad(sys.argv[1])
print("null")
`,
  null,
  [h5ad],
);

interface Case {
  readonly flavor: "seurat_v3" | "seurat_v3_paper";
  readonly batches: boolean;
}

function config(dir: string, c: Case, trainer = ""): string {
  const batchKey = c.batches
    ? `
    batch_index_n:
      attr: obs
      key: batch
      convert_fn: cellarium.ml.utilities.data.categories_to_codes`
    : "";
  return `# lightning.pytorch==2.5.2
seed_everything: true
trainer:
  accelerator: auto
  strategy:
    class_path: lightning.pytorch.strategies.DDPStrategy
    dict_kwargs:
      broadcast_buffers: false
  devices: auto
  logger: null
  callbacks: null
  max_epochs: 2
  enable_progress_bar: false
  default_root_dir: ${dir}${trainer}
model:
  cpu_transforms: null
  transforms:
    - cellarium.ml.transforms.Densify
  model:
    class_path: cellarium.ml.models.HVGSeuratV3
    init_args:
      n_top_genes: 60
      span: 0.3
      n_batch: null
      use_batch_key: ${c.batches}
      flavor: ${c.flavor}
      output_path: ${dir}/hvg.csv
  optim_fn: null
  optim_kwargs: null
  scheduler_fn: null
  scheduler_kwargs: null
  is_initialized: false
data:
  dadc:
    class_path: cellarium.ml.data.DistributedAnnDataCollection
    init_args:
      filenames: ${h5ad}
      shard_size: 900
      max_cache_size: 2
  batch_keys:
    x_ng:
      attr: X
      convert_fn: cellarium.ml.utilities.data.to_torch_sparse_csr
    var_names_g:
      attr: var_names${batchKey}
  batch_size: 100
  shuffle: false
  num_workers: 1
ckpt_path: null
`;
}

interface Row {
  readonly gene: string;
  readonly fields: Record<string, string>;
}

async function readCsv(path: string): Promise<Row[]> {
  const [header, ...lines] = (await readFile(path, "utf8")).trim().split("\n");
  const names = header!.split(",");
  return lines.map((line) => {
    const values = line.split(",");
    return { gene: values[0]!, fields: Object.fromEntries(names.map((n, i) => [n, values[i]!])) };
  });
}

type Reference = Record<string, (number | boolean | null)[]> & { var_names: string[] };

function reference(c: Case): Reference {
  const script = join(root, "tests/helpers/hvg_reference.py");
  const out = execFileSync("/usr/bin/python3", [script], {
    input: JSON.stringify({ h5ad, n_top_genes: 60, flavor: c.flavor, batch_key: c.batches ? "batch" : null }),
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  return JSON.parse(out) as Reference;
}

function close(actual: number, expected: number, tolerance: number, what: string): void {
  const scale = Math.max(Math.abs(expected), 1e-300);
  assert.ok(Math.abs(actual - expected) <= tolerance * scale, `${what}: ${actual} vs ${expected}`);
}

function compare(rows: Row[], ref: Reference, c: Case): void {
  const position = new Map(ref.var_names.map((name, j) => [name, j]));
  assert.equal(rows.length, ref.var_names.length);
  for (const row of rows) {
    const j = position.get(row.gene)!;
    const f = row.fields;
    close(Number(f.means), ref.means![j] as number, 1e-12, `${row.gene} means`);
    close(Number(f.variances), ref.variances![j] as number, 1e-9, `${row.gene} variances`);
    close(Number(f.variances_norm), ref.variances_norm![j] as number, 1e-6, `${row.gene} variances_norm`);
    const rank = ref.highly_variable_rank![j];
    if (rank === null) assert.equal(f.highly_variable_rank, "", `${row.gene} has no rank`);
    else assert.equal(Number(f.highly_variable_rank), rank, `${row.gene} rank`);
    assert.equal(f.highly_variable, ref.highly_variable![j] ? "True" : "False", `${row.gene} selection`);
    if (c.batches) assert.equal(Number(f.highly_variable_nbatches), ref.highly_variable_nbatches![j]);
    else assert.ok(!("highly_variable_nbatches" in f));
    assert.equal(f.feature_id, `ENSG${row.gene.slice(4).padStart(5, "0")}`);
  }
}

const cases: Case[] = [
  { flavor: "seurat_v3", batches: false },
  { flavor: "seurat_v3_paper", batches: false },
  { flavor: "seurat_v3", batches: true },
  { flavor: "seurat_v3_paper", batches: true },
];

for (const c of cases) {
  test(`hvg_seurat_v3 ${c.flavor} ${c.batches ? "with" : "without"} batches equals scanpy's algorithm`, async () => {
    const dir = join(work, `${c.flavor}-${c.batches}`);
    const path = join(work, `${c.flavor}-${c.batches}.yaml`);
    await writeFile(path, config(dir, c));
    assert.equal(await main(["hvg_seurat_v3", "fit", "--config", path]), 0);
    const rows = await readCsv(join(dir, "hvg__top60.csv"));
    compare(rows, reference(c), c);
    // The rows come in the flavor's order, the selected genes first; the hvg_only file holds them.
    const selected = rows.filter((r) => r.fields.highly_variable === "True").map((r) => r.gene);
    assert.deepEqual(
      rows.slice(0, 60).map((r) => r.gene),
      selected,
    );
    const only = await readCsv(join(dir, "hvg__top60__hvg_only.csv"));
    assert.deepEqual(
      only.map((r) => r.gene),
      selected,
    );
  });
}

test("hvg_seurat_v3 on 2 replicas and as partial runs merged in two stages equals one process", async () => {
  const c: Case = { flavor: "seurat_v3", batches: true };
  const single = await readFile(join(work, "seurat_v3-true", "hvg__top60.csv"), "utf8");

  const devicesDir = join(work, "devices");
  const devicesPath = join(work, "devices.yaml");
  await writeFile(devicesPath, config(devicesDir, c).replace("devices: auto", "devices: 2"));
  // A child process: the replicas' worker threads start in a fraction of the time from the compiled CLI.
  cliStdout(["hvg_seurat_v3", "fit", "--config", devicesPath]);
  const devices = await readFile(join(devicesDir, "hvg__top60.csv"), "utf8");
  assertSameTable(devices, single);

  // Stage 1: each part makes the first pass over its cells; the merge fits the LOESS once.
  const partsDir = join(work, "parts");
  const partsPath = join(work, "parts.yaml");
  await writeFile(partsPath, config(partsDir, c));
  const part = (rank: number, extra: string[]) =>
    main([
      "hvg_seurat_v3",
      "fit",
      "--config",
      partsPath,
      "--replica_rank",
      String(rank),
      "--num_replicas",
      "2",
      ...extra,
    ]);
  for (const rank of [0, 1]) {
    assert.equal(
      await part(rank, [
        "--trainer.max_epochs",
        "1",
        "--partial_path",
        join(partsDir, `one-${rank}.safetensors`),
      ]),
      0,
    );
  }
  const first = join(partsDir, "first.safetensors");
  assert.equal(
    await main([
      "merge",
      "--out",
      first,
      join(partsDir, "one-0.safetensors"),
      join(partsDir, "one-1.safetensors"),
    ]),
    0,
  );
  // Stage 2: each part starts from the merged first pass; the second merge writes the CSVs.
  for (const rank of [0, 1]) {
    assert.equal(
      await part(rank, ["--ckpt_path", first, "--partial_path", join(partsDir, `two-${rank}.safetensors`)]),
      0,
    );
  }
  assert.equal(
    await main([
      "merge",
      "--out",
      join(partsDir, "merged.safetensors"),
      join(partsDir, "two-0.safetensors"),
      join(partsDir, "two-1.safetensors"),
    ]),
    0,
  );
  assertSameTable(await readFile(join(partsDir, "hvg__top60.csv"), "utf8"), single);

  // A partial run that tries both passes alone is refused with the two-stage recipe.
  assert.equal(await part(0, ["--partial_path", join(partsDir, "bad.safetensors")]), 2);
});

/** Equal tables up to float64 summation order (replicas add their sums in another order). */
function assertSameTable(actual: string, expected: string): void {
  const parse = (text: string) =>
    text
      .trim()
      .split("\n")
      .map((line) => line.split(","));
  const a = parse(actual);
  const e = parse(expected);
  assert.equal(a.length, e.length);
  for (let i = 0; i < a.length; i++) {
    for (let k = 0; k < e[i]!.length; k++) {
      const x = Number(a[i]![k]);
      const y = Number(e[i]![k]);
      if (a[i]![k] === e[i]![k]) continue;
      assert.ok(
        Number.isFinite(x) && Math.abs(x - y) <= 1e-9 * Math.abs(y),
        `row ${i} column ${e[0]![k]}: ${a[i]![k]} vs ${e[i]![k]}`,
      );
    }
  }
}

test("the selected genes feed Filter through !FileLoader on the CSV and !CheckpointLoader on the checkpoint", async () => {
  const dir = join(work, "seurat_v3-false");
  const selected = (await readCsv(join(dir, "hvg__top60__hvg_only.csv"))).map((r) => r.gene);
  const checkpoint = join(dir, "lightning_logs/version_0/checkpoints/epoch=0-step=9.safetensors");
  const loaders = {
    file: `!FileLoader
          file_path: ${dir}/hvg__top60__hvg_only.csv
          loader_fn: pandas.read_csv
          attr: gene
          convert_fn: pandas.Series.to_list`,
    checkpoint: `!CheckpointLoader
          file_path: ${checkpoint}
          attr: model.highly_variable_genes
          convert_fn: null`,
  };
  // inspect shows the checkpoint's hyperparameters with long lists (var_columns) cut short.
  const summary = cliStdout(["inspect", checkpoint]);
  assert.match(summary, /"feature_id":\{"dtype":"str","values":\["ENSG00000",.*"\.\.\. \(600\)"\]/);
  assert.ok(summary.length < 4000, `inspect printed ${summary.length} characters`);
  for (const [name, loader] of Object.entries(loaders)) {
    const out = join(work, `filtered-${name}.csv`);
    const path = join(work, `filtered-${name}.yaml`);
    await writeFile(
      path,
      `trainer: {enable_progress_bar: false, default_root_dir: ${join(work, `filtered-${name}`)}}
model:
  cpu_transforms:
    - class_path: cellarium.ml.transforms.Filter
      init_args:
        filter_list: ${loader}
  model:
    class_path: cellarium.ml.models.OnePassMeanVarStd
    init_args: {output_path: ${out}}
data:
  dadc: {class_path: cellarium.ml.data.DistributedAnnDataCollection, init_args: {filenames: ${h5ad}, shard_size: 900}}
  batch_keys: {x_ng: {attr: X, convert_fn: cellarium.ml.utilities.data.to_torch_sparse_csr}, var_names_g: {attr: var_names}}
  batch_size: 300
`,
    );
    assert.equal(await main(["onepass_mean_var_std", "fit", "--config", path]), 0);
    const genes = (await readFile(out, "utf8"))
      .trim()
      .split("\n")
      .slice(1)
      .map((line) => line.split(",")[0]);
    assert.deepEqual([...genes].sort(), [...selected].sort(), name);
  }
});

test("hvg_seurat_v3 with an .h5ad output_path: a genes-only AnnData whose var columns are scanpy's, read by anndata", async () => {
  const c: Case = { flavor: "seurat_v3", batches: true };
  const dir = join(work, "h5ad-output");
  const path = join(work, "h5ad-output.yaml");
  await writeFile(path, config(dir, c).replace(`${dir}/hvg.csv`, `${dir}/hvg.h5ad`));
  assert.equal(await main(["hvg_seurat_v3", "fit", "--config", path]), 0);
  // Read by Python's anndata, as a user joins it to adata.var.
  const read = runPython(
    `
import sys, json, anndata, numpy as np
a = anndata.read_h5ad(sys.argv[1])
v = a.var
col = lambda name: [None if isinstance(x, float) and np.isnan(x) else x for x in v[name].tolist()]
print(json.dumps({"shape": list(a.shape), "names": v.index.tolist(), "columns": v.columns.tolist(),
  **{name: col(name) for name in ["highly_variable", "highly_variable_rank", "means", "variances",
     "variances_norm", "highly_variable_nbatches", "feature_id"]}}))
`,
    null,
    [join(dir, "hvg__top60.h5ad")],
  ) as Record<string, unknown[]> & { shape: number[]; names: string[]; columns: string[] };
  const ref = reference(c);
  // Every gene in the data's order (scanpy's adata.var), no cells.
  assert.deepEqual(read.shape, [0, ref.var_names.length]);
  assert.deepEqual(read.names, ref.var_names);
  assert.deepEqual(read.columns.slice(0, 6), [
    "highly_variable",
    "highly_variable_rank",
    "means",
    "variances",
    "variances_norm",
    "highly_variable_nbatches",
  ]);
  ref.var_names.forEach((gene, j) => {
    // h5wasm writes booleans as uint8 (see formats/h5ad/writer.ts).
    assert.equal(Boolean(read.highly_variable![j]), ref.highly_variable![j], `${gene} selection`);
    assert.equal(read.highly_variable_rank![j], ref.highly_variable_rank![j], `${gene} rank`);
    close(read.means![j] as number, ref.means![j] as number, 1e-12, `${gene} means`);
    close(read.variances![j] as number, ref.variances![j] as number, 1e-9, `${gene} variances`);
    close(
      read.variances_norm![j] as number,
      ref.variances_norm![j] as number,
      1e-6,
      `${gene} variances_norm`,
    );
    assert.equal(read.highly_variable_nbatches![j], ref.highly_variable_nbatches![j], `${gene} batches`);
    assert.equal(read.feature_id![j], `ENSG${gene.slice(4).padStart(5, "0")}`);
  });
});
