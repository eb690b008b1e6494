// Bad values and bad CSR structure in files written by h5py / anndata at test time, run through the
// command line as a user would: each must be one line naming the file, the cell and the gene (exit
// code 2, no output written), or be handled as scipy/anndata handle it.

import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { assertOneLine, cli } from "../helpers/cli-capture.js";
import { runPython } from "../helpers/python.js";
import { tempDir } from "../helpers/temp.js";

const N_CELLS = 40;
const N_GENES = 8;

interface Damage {
  readonly name: string;
  /** Python on the h5py file `f`. */
  readonly edit: string;
  readonly dense?: boolean;
}

/**
 * Writes <name>.h5ad for each damage with anndata (one Python process for all): counts X[i, j] =
 * (i + 2 j) % 5 as CSR (or dense), obs_names c<i>, var_names g<j>, obs total_mrna_umis = row sums;
 * then its `edit` damages it as a user's file might be damaged. Returns the paths in order.
 */
function writeCounts(dir: string, damages: readonly Damage[]): string[] {
  const paths = damages.map(({ name }) => join(dir, `${name}.h5ad`));
  runPython(
    `
import json, sys
import anndata as ad, h5py, numpy as np, pandas as pd, scipy.sparse as sp
n, g = ${N_CELLS}, ${N_GENES}
x = np.fromfunction(lambda i, j: (i + 2 * j) % 5, (n, g)).astype(np.float32)
obs = pd.DataFrame({"total_mrna_umis": x.sum(1)}, index=[f"c{i}" for i in range(n)])
var = pd.DataFrame(index=[f"g{j}" for j in range(g)])
${damages
  .map(
    ({ edit }, k) => `def damage_${k}(f):
${edit
  .split("\n")
  .map((line) => `    ${line}`)
  .join("\n")}`,
  )
  .join("\n")}
for k, (path, dense) in enumerate(json.load(sys.stdin)):
    ad.AnnData(X=x if dense else sp.csr_matrix(x), obs=obs, var=var).write_h5ad(path)
    with h5py.File(path, "r+") as f:
        globals()[f"damage_{k}"](f)
print(json.dumps(None))
`,
    damages.map(({ dense }, k) => [paths[k], dense === true]),
  );
  return paths;
}

/** Stored position of (row, col) in the CSR written above (the entries of row `row` before `col`). */
function csrPosition(row: number, col: number): number {
  let p = 0;
  for (let i = 0; i < N_CELLS; i++) {
    for (let j = 0; j < N_GENES; j++) {
      if ((i + 2 * j) % 5 === 0) continue;
      if (i === row && j === col) return p;
      p++;
    }
  }
  throw new Error(`(${row}, ${col}) is zero`);
}

function onepassConfig(dir: string, file: string, transforms: string, totals = false): string {
  return `
trainer:
  max_epochs: 1
  enable_progress_bar: false
  default_root_dir: ${dir}
model:
  transforms:${transforms === "" ? " []" : `\n${transforms}`}
  model:
    class_path: cellarium.ml.models.OnePassMeanVarStd
    init_args: {output_path: ${join(dir, "stats.csv")}}
data:
  dadc:
    class_path: cellarium.ml.data.DistributedAnnDataCollection
    init_args: {filenames: ${file}}
  batch_keys:
    x_ng: {attr: X, convert_fn: cellarium.ml.utilities.data.to_torch_sparse_csr}
    var_names_g: {attr: var_names}${totals ? "\n    total_mrna_umis_n: {attr: obs, key: total_mrna_umis}" : ""}
  batch_size: 16
  num_workers: 0
`;
}

const COUNTS_TRANSFORMS = `    - class_path: cellarium.ml.transforms.NormalizeTotal
      init_args: {target_count: 10_000}
    - cellarium.ml.transforms.Log1p`;

async function fitOnepass(
  dir: string,
  file: string,
  transforms: string,
  totals = false,
): Promise<{ code: number; stderr: string }> {
  const cfg = join(dir, "cfg.yaml");
  await writeFile(cfg, onepassConfig(dir, file, transforms, totals));
  return cli(["onepass_mean_var_std", "fit", "--config", cfg]);
}

test("NaN, inf and -inf in X (CSR and dense) stop fit with one line naming the file, the cell and the gene; no output", async () => {
  const cases = [
    { value: "np.nan", dense: false },
    { value: "-np.inf", dense: false },
    { value: "np.inf", dense: true },
    { value: "np.nan", dense: true },
  ] as const;
  const dir = tempDir("bad-values-");
  const files = writeCounts(
    dir,
    cases.map(({ value, dense }, k) => ({
      name: `nan${k}`,
      dense,
      edit: dense
        ? `f["X"][33, 5] = ${value}`
        : `d = f["X/data"][:]; d[${csrPosition(33, 5)}] = ${value}; f["X/data"][:] = d`,
    })),
  );
  const shown = { "np.nan": "NaN", "np.inf": "inf", "-np.inf": "-inf" };
  for (const [k, { value }] of cases.entries()) {
    const result = await fitOnepass(dir, files[k]!, COUNTS_TRANSFORMS);
    assertOneLine(
      result,
      new RegExp(`^cellarium: .*nan${k}\\.h5ad: X has ${shown[value]} at cell c33 \\(row 33\\), gene g5$`),
    );
    assert.equal(existsSync(join(dir, "stats.csv")), false, "no output written");
  }
});

test("a negative count is refused by NormalizeTotal and Log1p, naming the file, cell and gene; z-scored data with no count transform trains", async () => {
  const dir = tempDir("bad-values-");
  const [file] = writeCounts(dir, [
    { name: "negative", edit: `d = f["X/data"][:]; d[${csrPosition(21, 3)}] = -2; f["X/data"][:] = d` },
  ]);
  for (const [transforms, step] of [
    [COUNTS_TRANSFORMS, "NormalizeTotal"],
    ["    - cellarium.ml.transforms.Log1p", "Log1p"],
  ] as const) {
    const result = await fitOnepass(dir, file!, transforms);
    assertOneLine(
      result,
      new RegExp(
        `^cellarium: .*negative\\.h5ad: cell c21 \\(row 21\\): ${step}: x_ng has the negative value -2 at row 5 of the batch, gene g3; ${step} needs counts`,
      ),
    );
    assert.equal(existsSync(join(dir, "stats.csv")), false);
  }

  // Legitimately negative input (centered values) to a model that takes any finite value.
  const zdir = tempDir("bad-values-");
  const zfile = join(zdir, "centered.h5ad");
  const reference = runPython(
    `
import json, sys
import anndata as ad, numpy as np, pandas as pd
x = np.fromfunction(lambda i, j: (i * 7 + 3 * j) % 11, (30, 6)).astype(np.float32)
x = x - x.mean(0)
ad.AnnData(X=x, obs=pd.DataFrame(index=[f"c{i}" for i in range(30)]),
           var=pd.DataFrame(index=[f"g{j}" for j in range(6)])).write_h5ad(sys.argv[1])
print(json.dumps({"mean": x.astype(np.float64).mean(0).tolist(), "var": x.astype(np.float64).var(0).tolist()}))
`,
    null,
    [zfile],
  ) as { mean: number[]; var: number[] };
  const result = await fitOnepass(zdir, zfile, "");
  assert.equal(result.code, 0, result.stderr);
  const rows = (await readFile(join(zdir, "stats.csv"), "utf8")).trim().split("\n").slice(1);
  rows.forEach((row, j) => {
    const [, mean, variance] = row.split(",").map(Number);
    assert.ok(Math.abs(mean! - reference.mean[j]!) < 1e-5, `mean ${j}`);
    assert.ok(Math.abs(variance! - reference.var[j]!) < 1e-4, `var ${j}`);
  });
});

test("a NaN or negative total_mrna_umis used by NormalizeTotal is one line naming the cell", async () => {
  const cases = [
    ["np.nan", "NaN"],
    ["-1.0", "-1"],
  ] as const;
  const dir = tempDir("bad-values-");
  const files = writeCounts(
    dir,
    cases.map(([value], k) => ({
      name: `totals${k}`,
      edit: `t = f["obs/total_mrna_umis"][:]; t[18] = ${value}; f["obs/total_mrna_umis"][:] = t`,
    })),
  );
  for (const [k, [, shown]] of cases.entries()) {
    const result = await fitOnepass(dir, files[k]!, COUNTS_TRANSFORMS, true);
    assertOneLine(
      result,
      new RegExp(
        `^cellarium: .*totals${k}\\.h5ad: cell c18 \\(row 18\\): NormalizeTotal: total_mrna_umis_n is ${shown} at row 2 of the batch`,
      ),
    );
  }
});

test("a column index outside the genes is one line naming the file and the cell, in every reader path", async () => {
  const dir = tempDir("bad-values-");
  const [file, negative] = writeCounts(dir, [
    {
      name: "index",
      edit: `i = f["X/indices"][:]; i[${csrPosition(9, 4)}] = ${N_GENES + 3}; f["X/indices"][:] = i`,
    },
    {
      name: "negative-index",
      edit: `i = f["X/indices"][:]; i[${csrPosition(30, 1)}] = -4; f["X/indices"][:] = i`,
    },
  ]);
  const result = await fitOnepass(dir, file!, COUNTS_TRANSFORMS);
  assertOneLine(
    result,
    new RegExp(
      `^cellarium: .*index\\.h5ad: X/indices holds column ${N_GENES + 3} at cell c9 \\(row 9\\), column ${N_GENES + 3}, outside \\[0, ${N_GENES}\\)$`,
    ),
  );
  // Negative index, and shuffled reads (the shard loaded whole in blocks).
  const cfg = join(dir, "cfg.yaml");
  await writeFile(cfg, onepassConfig(dir, negative!, COUNTS_TRANSFORMS));
  const shuffled = await cli(["onepass_mean_var_std", "fit", "--config", cfg, "--data.shuffle", "true"]);
  assertOneLine(shuffled, /negative-index\.h5ad: X\/indices holds column -4 at cell c30 \(row 30\)/);
});

test("repeated and unsorted column indices are summed and sorted as scipy does: the statistics equal scipy's", async () => {
  const dir = tempDir("bad-values-");
  // Row 12 stores gene 6's value a second time under gene 1 relabelled as 6 (a duplicate), and
  // row 20's entries are reversed (unsorted, valid CSR).
  const file = join(dir, "dups.h5ad");
  const reference = runPython(
    `
import json, sys
import anndata as ad, h5py, numpy as np, pandas as pd, scipy.sparse as sp
path = sys.argv[1]
x = np.fromfunction(lambda i, j: 1 + (i + 2 * j) % 5, (30, 8)).astype(np.float32)
m = sp.csr_matrix(x)
ad.AnnData(X=m, obs=pd.DataFrame(index=[f"c{i}" for i in range(30)]),
           var=pd.DataFrame(index=[f"g{j}" for j in range(8)])).write_h5ad(path)
with h5py.File(path, "r+") as f:
    ind = f["X/indices"][:]; ptr = f["X/indptr"][:]
    ind[ptr[12] + 1] = 6
    ind[ptr[20]:ptr[21]] = ind[ptr[20]:ptr[21]][::-1].copy()
    dat = f["X/data"][:]
    dat[ptr[20]:ptr[21]] = dat[ptr[20]:ptr[21]][::-1].copy()
    f["X/indices"][:] = ind; f["X/data"][:] = dat
back = ad.read_h5ad(path).X
back.sum_duplicates()
d = np.asarray(back.todense(), dtype=np.float64)
print(json.dumps({"mean": d.mean(0).tolist(), "var": d.var(0).tolist()}))
`,
    null,
    [file],
  ) as { mean: number[]; var: number[] };
  const result = await fitOnepass(dir, file, "");
  assert.equal(result.code, 0, result.stderr);
  const rows = (await readFile(join(dir, "stats.csv"), "utf8")).trim().split("\n").slice(1);
  rows.forEach((row, j) => {
    const [, mean, variance] = row.split(",").map(Number);
    assert.ok(Math.abs(mean! - reference.mean[j]!) < 1e-5, `mean ${j}: ${mean} vs ${reference.mean[j]}`);
    assert.ok(Math.abs(variance! - reference.var[j]!) < 1e-4, `var ${j}`);
  });
});
