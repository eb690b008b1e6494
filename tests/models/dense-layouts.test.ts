// Every model fit on densified batches (convert_fn densify, the Densify transform: deferred dense
// blocks, src/data/matrix.ts) against the same fit on explicit dense matrices (the dense code paths
// the densify configs ran before) and on the CSR batches themselves. A deferred block goes through
// the CSR path, so deferred equals CSR bit for bit; against the dense path the results are equal
// bit for bit where both paths add the same operands in the same order, and otherwise within the
// bound stated at each test.

import assert from "node:assert/strict";
import { test } from "node:test";
import type { Batch } from "../../src/data/batch.js";
import {
  type CsrMatrix,
  type DenseMatrix,
  deferredDense,
  densify,
  type Matrix,
} from "../../src/data/matrix.js";
import { Geneformer } from "../../src/models/geneformer.js";
import { IncrementalPCA } from "../../src/models/incremental-pca.js";
import { LogisticRegression } from "../../src/models/logistic-regression.js";
import { OnePassMeanVarStd } from "../../src/models/onepass-mean-var-std.js";
import { ProbabilisticPCA } from "../../src/models/probabilistic-pca.js";
import { TDigest } from "../../src/models/tdigest.js";
import { Generator } from "../../src/tensor/random.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import { composeTransforms } from "../../src/transforms/compose.js";
import { Log1p } from "../../src/transforms/log1p.js";
import { NormalizeTotal } from "../../src/transforms/normalize-total.js";
import { ZScore } from "../../src/transforms/z-score.js";
import { backend, backends, skipUnless } from "../helpers/matrices.js";

const G = 40;
const GENES = Array.from({ length: G }, (_, j) => `g${j}`);
const layouts = {
  dense: (x: CsrMatrix): Matrix => densify(x),
  deferred: (x: CsrMatrix): Matrix => deferredDense(x),
  csr: (x: CsrMatrix): Matrix => x,
};
type Layout = keyof typeof layouts;

/**
 * Four kinds of cells, each expressing its own block of 10 genes at its own level (distinct
 * principal directions), plus sparse background counts; some rows empty. Normalized and log1p'd.
 */
function batches(seed: number, count: number, rows: number): CsrMatrix[] {
  const rng = new Generator(seed);
  const normalize = composeTransforms([new NormalizeTotal(), new Log1p()]);
  return Array.from({ length: count }, () => {
    const indptr = new Int32Array(rows + 1);
    const indices: number[] = [];
    const data: number[] = [];
    for (let i = 0; i < rows; i++) {
      const kind = rng.randint(0, 4);
      if (rng.nextDouble() > 0.05) {
        for (let j = 0; j < G; j++) {
          const own = Math.floor(j / 10) === kind;
          if (rng.nextDouble() < (own ? 0.7 : 0.08)) {
            indices.push(j);
            data.push(own ? rng.randint(1, 10 * (kind + 1)) : rng.randint(1, 3));
          }
        }
      }
      indptr[i + 1] = indices.length;
    }
    const x: CsrMatrix = {
      format: "csr",
      nRows: rows,
      nCols: G,
      indptr,
      indices: Int32Array.from(indices),
      data: Float32Array.from(data),
    };
    return normalize({ x_ng: x, var_names_g: GENES }).x_ng as CsrMatrix;
  });
}

const data = batches(3, 5, 60);
const fed = (layout: Layout): Batch[] => data.map((x) => ({ x_ng: layouts[layout](x), var_names_g: GENES }));

const values = (t: Tensor | number): number[] => (typeof t === "number" ? [t] : [...t.data]);

/** |a - b| <= tolerance (scale + |b|) elementwise. */
function assertClose(a: number[], b: number[], tolerance: number, scale: number, what: string): void {
  assert.equal(a.length, b.length, what);
  a.forEach((v, i) => {
    assert.ok(Math.abs(v - b[i]!) <= tolerance * (scale + Math.abs(b[i]!)), `${what}[${i}]: ${v} vs ${b[i]}`);
  });
}

test("OnePassMeanVarStd: deferred = CSR bit for bit; against the dense path within float64 summation error", () => {
  for (const algorithm of ["naive", "shifted_data"] as const) {
    const fit = (layout: Layout) => {
      const model = new OnePassMeanVarStd({ var_names_g: GENES, algorithm, output_path: null });
      for (const batch of fed(layout)) model.forward(batch);
      return model;
    };
    const [dense, deferred, csr] = [fit("dense"), fit("deferred"), fit("csr")];
    for (const name of ["mean_g", "var_g", "std_g"] as const) {
      assert.deepEqual(values(deferred[name]), values(csr[name]), `${algorithm} ${name}`);
      // Both are float64 sums of the same n = 300 terms per gene (the dense loop adds each zero's
      // (0 - s), the CSR path adds the zeros' share as one product of their count): each sum is
      // within n 2^-53 sum|terms| of exact (recursive summation), far below 1e-12 relative.
      assertClose(values(deferred[name]), values(dense[name]), 1e-12, 1, `${algorithm} ${name}`);
    }
  }
});

test("TDigest: every layout feeds each gene's digest the same non-zeros in the same order: equal bit for bit", () => {
  const fit = (layout: Layout) => {
    const model = new TDigest({ var_names_g: GENES });
    for (const batch of fed(layout)) model.forward(batch);
    return model;
  };
  const [dense, deferred, csr] = [fit("dense"), fit("deferred"), fit("csr")];
  assert.deepEqual(values(deferred.median_g), values(dense.median_g));
  assert.deepEqual(values(deferred.median_g), values(csr.median_g));
  assert.deepEqual(values(deferred.count_g), values(dense.count_g));
});

for (const which of backends) {
  test(`${which}: IncrementalPCA scatter: deferred = CSR = dense bit for bit`, skipUnless(which), () => {
    backend(which);
    const fit = (layout: Layout) => {
      const model = new IncrementalPCA({ var_names_g: GENES, n_components: 3, algorithm: "scatter" });
      for (const batch of fed(layout)) model.forward(batch);
      return model;
    };
    const [dense, deferred, csr] = [fit("dense"), fit("deferred"), fit("csr")];
    for (const name of ["explained_variance_k", "components_kg", "x_mean_g"] as const) {
      assert.deepEqual(values(deferred[name]), values(csr[name]), name);
      assert.deepEqual(values(deferred[name]), values(dense[name]), name);
    }
  });

  test(
    `${which}: IncrementalPCA lowrank: deferred = CSR bit for bit; against dense GEMM within float32 rounding`,
    skipUnless(which),
    () => {
      backend(which);
      const fit = (layout: Layout) => {
        const model = new IncrementalPCA({
          var_names_g: GENES,
          n_components: 3,
          algorithm: "lowrank",
          seed: 5,
        });
        for (const batch of fed(layout)) model.forward(batch);
        return model;
      };
      const [dense, deferred, csr] = [fit("dense"), fit("deferred"), fit("csr")];
      for (const name of ["explained_variance_k", "components_kg", "x_mean_g"] as const) {
        assert.deepEqual(values(deferred[name]), values(csr[name]), name);
      }
      // The dense path forms X R and X^T Y by float32 GEMM (float32 sums of g = 40 or n = 60
      // products), the CSR path sums the same products in float64 and rounds once: each product
      // entry differs by at most ~60 2^-24 = 4e-6 of sum|x r|. The SVDs after it are stable, so the
      // variances move by that relative order and the components (well separated here) by it over
      // the relative gap; 1e-4 leaves a margin.
      assertClose(
        values(deferred.explained_variance_k),
        values(dense.explained_variance_k),
        1e-4,
        0,
        "variances",
      );
      assert.deepEqual(values(deferred.x_mean_g), values(dense.x_mean_g));
      const [a, b] = [values(deferred.components_kg), values(dense.components_kg)];
      for (let k = 0; k < 3; k++) {
        let dot = 0;
        for (let j = 0; j < G; j++) dot += a[k * G + j]! * b[k * G + j]!;
        assert.ok(Math.abs(dot) > 1 - 1e-4, `component ${k}: |cos| = ${Math.abs(dot)}`);
      }
    },
  );
}

/** Loss and gradients of one forward/backward per batch, without optimizer steps. */
function lossesAndGrads(
  create: () => { forward(b: Batch): { loss?: Tensor }; parameters(): Tensor[] },
  layout: Layout,
  y?: Int32Array[],
) {
  const model = create();
  return fed(layout).map((batch, b) => {
    const loss = model.forward(y ? { ...batch, y_n: y[b]!, y_categories: ["a", "b", "c"] } : batch).loss!;
    loss.backward();
    const grads = model.parameters().map((p) => values(p.grad!));
    for (const p of model.parameters()) p.grad = null;
    return { loss: loss.item(), grads };
  });
}

test("LogisticRegression and ProbabilisticPCA: deferred = CSR bit for bit; against the dense GEMM within float32 rounding", () => {
  const rng = new Generator(9);
  const y = data.map((x) => Int32Array.from({ length: x.nRows }, () => rng.randint(0, 3)));
  const lr = () =>
    new LogisticRegression({ n_obs: 300, var_names_g: GENES, y_categories: ["a", "b", "c"], seed: 1 });
  const ppca = () =>
    new ProbabilisticPCA({
      n_obs: 300,
      var_names_g: GENES,
      n_components: 3,
      ppca_flavor: "marginalized",
      seed: 1,
    });
  for (const [name, create, labels] of [
    ["LogisticRegression", lr, y],
    ["ProbabilisticPCA", ppca, undefined],
  ] as const) {
    const deferred = lossesAndGrads(create, "deferred", labels);
    assert.deepEqual(deferred, lossesAndGrads(create, "csr", labels), name);
    // x W is a float32 product of g = 40 terms per entry: the dense GEMM and the CSR kernel sum
    // them in different orders (and precisions), ~40 2^-24 = 2.4e-6 of sum|x w| apart.
    const dense = lossesAndGrads(create, "dense", labels);
    deferred.forEach((step, b) => {
      assertClose([step.loss], [dense[b]!.loss], 1e-5, 0, `${name} loss ${b}`);
      step.grads.forEach((grad, p) => {
        const scale = Math.max(...dense[b]!.grads[p]!.map(Math.abs));
        assertClose(grad, dense[b]!.grads[p]!, 1e-4, scale, `${name} grad ${p} of batch ${b}`);
      });
    });
  }
});

test("Geneformer: the tokens of a densified batch equal the dense path's", () => {
  const model = new Geneformer({
    var_names_g: GENES,
    hidden_size: 8,
    num_hidden_layers: 1,
    num_attention_heads: 2,
    intermediate_size: 16,
    max_position_embeddings: 16,
  });
  for (const [b, x] of data.entries()) {
    const dense = model.tokenize({ x_ng: densify(x), var_names_g: GENES });
    const deferred = model.tokenize({ x_ng: deferredDense(x), var_names_g: GENES });
    assert.deepEqual(deferred, dense, `batch ${b}`);
    assert.deepEqual(deferred, model.tokenize({ x_ng: x, var_names_g: GENES }));
  }
});

test("ZScore of CSR batches: dense values as before bit for bit; IncrementalPCA through the affine form equals it on the dense values", () => {
  // mean_g and std_g of the data (as onepass gives them), so the z-scores are O(1).
  const all = data.map((x) => densify(x).data);
  const n = all.reduce((s, d) => s + d.length / G, 0);
  const mean_g = new Float32Array(G);
  const std_g = new Float32Array(G);
  for (let j = 0; j < G; j++) {
    let sum = 0;
    let squares = 0;
    for (const d of all)
      for (let i = j; i < d.length; i += G) {
        sum += d[i]!;
        squares += d[i]! ** 2;
      }
    mean_g[j] = sum / n;
    std_g[j] = Math.sqrt(Math.max(squares / n - (sum / n) ** 2, 0));
  }
  const zscore = new ZScore({ mean_g, std_g, var_names_g: GENES });
  const zScored = data.map((x) => zscore.forward({ x_ng: x, var_names_g: GENES }).x_ng as DenseMatrix);
  // The dense values: upstream's float32 rule, fl(fl(x - mean) / fl(std + eps)), for every entry.
  zScored.forEach((z, b) => {
    const x = densify(data[b]!).data;
    const expected = x.map(
      (v, i) => Math.fround(v - mean_g[i % G]!) / Math.fround(std_g[i % G]! + Math.fround(1e-6)),
    );
    assert.deepEqual(z.data, expected, `batch ${b}`);
  });
  const fit = (batches: Matrix[]) => {
    const model = new IncrementalPCA({ var_names_g: GENES, n_components: 3, algorithm: "lowrank", seed: 5 });
    for (const x_ng of batches) model.forward({ x_ng, var_names_g: GENES });
    return model;
  };
  const fresh = data.map((x) => zscore.forward({ x_ng: x, var_names_g: GENES }).x_ng as Matrix);
  const affine = fit(fresh);
  const dense = fit(
    zScored.map((z) => ({ format: "dense", nRows: z.nRows, nCols: G, data: z.data }) as Matrix),
  );
  // The affine form rounds x / (std + eps) once in float32 (z values here are O(1): an error of
  // ~1e-7 relative each), and its products are the CSR path's (float64 sums rounded once) against
  // dense float32 GEMM: the same 1e-4 bound as the lowrank test above.
  assertClose(values(affine.explained_variance_k), values(dense.explained_variance_k), 1e-4, 0, "variances");
  assertClose(values(affine.x_mean_g), values(dense.x_mean_g), 1e-6, 1, "x_mean_g");
  const [a, b] = [values(affine.components_kg), values(dense.components_kg)];
  for (let k = 0; k < 3; k++) {
    let dot = 0;
    for (let j = 0; j < G; j++) dot += a[k * G + j]! * b[k * G + j]!;
    assert.ok(Math.abs(dot) > 1 - 1e-4, `component ${k}: |cos| = ${Math.abs(dot)}`);
  }
  // predict through the affine form equals predict on the dense values (the same model).
  const x_ng = zscore.forward({ x_ng: data[0]!, var_names_g: GENES }).x_ng as Matrix;
  const throughAffine = dense.predict({ x_ng, var_names_g: GENES }).x_ng;
  const onDense = dense.predict({ x_ng: zScored[0]!, var_names_g: GENES }).x_ng;
  assertClose(values(throughAffine), values(onDense), 1e-4, 1, "z_nk");
});
