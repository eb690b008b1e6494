import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import type { Batch } from "../../src/data/batch.js";
import { type CsrMatrix, densify } from "../../src/data/matrix.js";
import { SchemaMismatchError } from "../../src/errors.js";
import { LogisticRegression, logisticRegressionLoss } from "../../src/models/logistic-regression.js";
import { randn } from "../../src/tensor/ops/creation.js";
import { Generator } from "../../src/tensor/random.js";
import { CellariumModule } from "../../src/train/cellarium-module.js";
import { type BatchSource, Trainer } from "../../src/train/trainer.js";
import { runPython } from "../helpers/python.js";
import { tempDir } from "../helpers/temp.js";
import { assertGradients } from "../tensor/helpers.js";

const categories = ["a", "b", "c"];

/** A random sparse n x g block (about 40% non-zeros) and labels in [0, 3). */
function randomBatch(seed: number, n: number, g: number): { x: CsrMatrix; y: Int32Array } {
  const rng = new Generator(seed);
  const indptr = new Int32Array(n + 1);
  const indices: number[] = [];
  const data: number[] = [];
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < g; j++) {
      if (rng.nextDouble() < 0.4) {
        indices.push(j);
        data.push(rng.nextDouble() * 3);
      }
    }
    indptr[i + 1] = indices.length;
  }
  const y = Int32Array.from({ length: n }, () => rng.randint(0, 3));
  const x: CsrMatrix = {
    format: "csr",
    nRows: n,
    nCols: g,
    indptr,
    indices: Int32Array.from(indices),
    data: Float32Array.from(data),
  };
  return { x, y };
}

test("the loss gradient in W and b matches finite differences, for sparse and dense x", () => {
  const { x, y } = randomBatch(1, 6, 4);
  const W = randn([4, 3], new Generator(2), { dtype: "float64", requiresGrad: true });
  const b = randn([3], new Generator(3), { dtype: "float64", requiresGrad: true });
  for (const x_ng of [x, densify(x)]) {
    assertGradients((w, bias) => logisticRegressionLoss(x_ng, y, w, bias, 0.7, 50), [W, b]);
  }
});

test("forward's loss is -sum log Laplace(W) - (n_obs / n) sum log softmax(x W + b)[y]", () => {
  const g = 4;
  const { x, y } = randomBatch(4, 5, g);
  const genes = ["g0", "g1", "g2", "g3"];
  const model = new LogisticRegression({
    n_obs: 40,
    var_names_g: genes,
    y_categories: categories,
    W_prior_scale: 0.5,
    W_init_scale: 0.3,
    seed: 9,
  });
  model.b_c.data.set([0.1, -0.2, 0.3]);
  const loss = model.forward({ x_ng: x, var_names_g: genes, y_n: y, y_categories: categories }).loss!;
  // The direct computation, in float64 from the same float32 weights.
  const W = model.W_gc.data;
  const dense = densify(x).data;
  let logLikelihood = 0;
  for (let i = 0; i < 5; i++) {
    const logits = [0, 1, 2].map((c) => {
      let s = model.b_c.data[c]!;
      for (let j = 0; j < g; j++) s += dense[i * g + j]! * W[j * 3 + c]!;
      return s;
    });
    const lse = Math.log(logits.reduce((s, v) => s + Math.exp(v), 0));
    logLikelihood += logits[y[i]!]! - lse;
  }
  let logPrior = 0;
  for (const w of W) logPrior += -Math.abs(w) / 0.5 - Math.log(2 * 0.5);
  const expected = -logPrior - (40 / 5) * logLikelihood;
  assert.ok(Math.abs(loss.item() - expected) < 1e-5 * Math.abs(expected), `${loss.item()} vs ${expected}`);
  // The initial weights: N(0, W_init_scale) from the seed, and resetParameters draws them again.
  const first = [...model.W_gc.data];
  model.W_gc.data.fill(0);
  model.resetParameters();
  assert.deepEqual([...model.W_gc.data], first);
  assert.deepEqual([...model.b_c.data], [0, 0, 0]);
});

test("forward names a mismatched y_categories, a label out of range and a gene mismatch", () => {
  const genes = ["g0", "g1", "g2"];
  const model = new LogisticRegression({ n_obs: 10, var_names_g: genes, y_categories: categories });
  const { x } = randomBatch(5, 2, 3);
  const batch = (over: Partial<Batch>): Batch => ({
    x_ng: x,
    var_names_g: genes,
    y_n: Int32Array.of(0, 2),
    y_categories: categories,
    ...over,
  });
  assert.throws(
    () => model.forward(batch({ y_categories: ["a", "c", "b"] })),
    (e: Error) => e instanceof SchemaMismatchError && /y_categories \["a","c","b"\] differ/.test(e.message),
  );
  assert.throws(
    () => model.forward(batch({ y_n: Int32Array.of(0, 3) })),
    (e: Error) =>
      e instanceof SchemaMismatchError && /y_n\[1\] is 3, outside the 3 categories/.test(e.message),
  );
  assert.throws(
    () => model.forward(batch({ y_n: Int32Array.of(-1, 0) })),
    (e: Error) => e instanceof SchemaMismatchError && /y_n\[0\] is -1/.test(e.message),
  );
  assert.throws(
    () => model.forward(batch({ var_names_g: ["g0", "gX", "g2"] })),
    (e: Error) => e instanceof SchemaMismatchError && /var_names_g\[1\] is "gX"/.test(e.message),
  );
  assert.deepEqual(model.predict(batch({})).y_logits_nc!.constructor.name, "Tensor");
});

// The demo data's cell types from log1p(normalize_total(x)) features (sparse, 20% non-zero), a
// seeded 1,500 / 500 split. Reference: scikit-learn's multinomial LogisticRegression with an L1
// penalty (saga). Mapping: our loss over an epoch is, up to a constant,
//   sum_train CE(x_n W + b, y_n) + (1 / W_prior_scale) sum |W|
// (the n_obs / batch factor makes the batch sums add up to the training-set sum), and sklearn
// minimizes C sum_train CE + ||W||_1, i.e. the same objective divided by C: C = W_prior_scale, the
// intercept unpenalized in both. W_prior_scale 0.02 gives a sparse, well-defined optimum (about
// 75 non-zero weights) that saga reaches in about a second here; at 1 saga needs 40 s.
const PRIOR_SCALE = 0.02;
// Adam at the example config's lr 0.1, annealed to 0 (cosine) so the weights settle at the optimum.
const EPOCHS = 60;
const LR = 0.1;

interface Reference {
  indptr: number[];
  indices: number[];
  data: number[];
  y: number[];
  train: number[];
  test: number[];
  genes: string[];
  categories: string[];
  accuracy: number;
  objective: number;
}

function demoReference(): Reference {
  const root = new URL("../..", import.meta.url).pathname;
  return runPython(
    `
import json, sys, numpy as np, anndata, scipy.sparse as sp
from sklearn.linear_model import LogisticRegression
inp = json.load(sys.stdin)
a = anndata.concat([anndata.read_h5ad(f) for f in inp["files"]])
x = sp.csr_matrix(a.X, dtype=np.float32); t = a.obs.total_mrna_umis.values.astype(np.float32)
y = (sp.diags(1e4 / (t + 1e-6)) @ x).astype(np.float32).tocsr(); y.data = np.log1p(y.data)
lab = a.obs.cell_type.cat.codes.values
perm = np.random.default_rng(0).permutation(y.shape[0]); tr, te = perm[:1500], perm[1500:]
C = inp["C"]
m = LogisticRegression(penalty="l1", C=C, solver="saga", max_iter=2000, tol=1e-4).fit(y[tr], lab[tr])
p = m.predict_proba(y[tr])
objective = -np.log(p[np.arange(len(tr)), lab[tr]]).sum() + np.abs(m.coef_).sum() / C
print(json.dumps({"indptr": y.indptr.tolist(), "indices": y.indices.tolist(), "data": y.data.tolist(),
  "y": lab.tolist(), "train": tr.tolist(), "test": te.tolist(), "genes": a.var_names.tolist(),
  "categories": a.obs.cell_type.cat.categories.tolist(),
  "accuracy": float((m.predict(y[te]) == lab[te]).mean()), "objective": float(objective)}))
`,
    { files: [0, 1].map((i) => join(root, `examples/data/demo_${i}.h5ad`)), C: PRIOR_SCALE },
  ) as Reference;
}

/** Rows of the reference's CSR matrix as a CSR block. */
function rowsOf(ref: Reference, rows: readonly number[]): CsrMatrix {
  const indptr = new Int32Array(rows.length + 1);
  const indices: number[] = [];
  const data: number[] = [];
  rows.forEach((r, i) => {
    for (let p = ref.indptr[r]!; p < ref.indptr[r + 1]!; p++) {
      indices.push(ref.indices[p]!);
      data.push(ref.data[p]!);
    }
    indptr[i + 1] = indices.length;
  });
  return {
    format: "csr",
    nRows: rows.length,
    nCols: ref.genes.length,
    indptr,
    indices: Int32Array.from(indices),
    data: Float32Array.from(data),
  };
}

test("on the demo data's cell types, held-out accuracy is within 1 point of scikit-learn's", async () => {
  const ref = demoReference();
  const batchSize = 100;
  const batches: Batch[] = [];
  for (let start = 0; start < ref.train.length; start += batchSize) {
    const rows = ref.train.slice(start, start + batchSize);
    batches.push({
      x_ng: rowsOf(ref, rows),
      var_names_g: ref.genes,
      y_n: Int32Array.from(rows, (r) => ref.y[r]!),
      y_categories: ref.categories,
    });
  }
  const source: BatchSource = {
    batchesPerEpoch: batches.length,
    async *epochBatches({ batchesConsumed }) {
      yield* batches.slice(batchesConsumed);
    },
  };
  const model = new LogisticRegression({
    n_obs: ref.train.length,
    var_names_g: ref.genes,
    y_categories: ref.categories,
    W_prior_scale: PRIOR_SCALE,
  });
  const dir = tempDir("lr-");
  const result = await new Trainer({
    maxEpochs: EPOCHS,
    enableProgressBar: false,
    checkpointing: false,
    defaultRootDir: dir,
    logEveryNSteps: 50,
  }).fit(
    new CellariumModule({
      model,
      optimizer: { name: "torch.optim.Adam", kwargs: { lr: LR } },
      scheduler: {
        name: "torch.optim.lr_scheduler.CosineAnnealingLR",
        kwargs: { T_max: EPOCHS * batches.length },
      },
    }),
    source,
  );
  const x_test = rowsOf(ref, ref.test);
  const logits = model.predict({ x_ng: x_test, var_names_g: ref.genes }).y_logits_nc as {
    data: Float32Array;
  };
  const nCategories = ref.categories.length;
  let correct = 0;
  ref.test.forEach((r, i) => {
    let best = 0;
    for (let c = 1; c < nCategories; c++)
      if (logits.data[i * nCategories + c]! > logits.data[i * nCategories + best]!) best = c;
    if (best === ref.y[r]) correct++;
  });
  const accuracy = correct / ref.test.length;
  // The objective at our weights over the whole training set, comparable with sklearn's.
  const full = model
    .forward({
      x_ng: rowsOf(ref, ref.train),
      var_names_g: ref.genes,
      y_n: Int32Array.from(ref.train, (r) => ref.y[r]!),
      y_categories: ref.categories,
    })
    .loss!.item();
  const constant = ref.genes.length * ref.categories.length * Math.log(2 * PRIOR_SCALE);
  assert.ok(
    Math.abs(accuracy - ref.accuracy) <= 0.01,
    `accuracy ${accuracy} vs scikit-learn's ${ref.accuracy}`,
  );
  // The same optimum: the objectives agree within 1% (saga stops at its tolerance, slightly above).
  const objective = full - constant;
  assert.ok(
    Math.abs(objective - ref.objective) <= 0.01 * ref.objective,
    `objective ${objective} vs scikit-learn's ${ref.objective}`,
  );
  // W_gc histograms were logged (log_metrics defaults to true).
  const histograms = (await readFile(join(result.runDir, "histograms.jsonl"), "utf8")).trim().split("\n");
  assert.ok(histograms.length > 0 && JSON.parse(histograms[0]!).name === "W_gc");
});
