// The numerical core of IncrementalPCA: a partial SVD (S, V and the mean and size of the data it
// summarizes), computed for one batch by a randomized SVD and merged with another by the SVD of
// the stacked matrix of Iwen & Ong ("A distributed and incremental SVD algorithm for agglomerative
// data analysis on large networks", 2016) with the mean-correction row of Ross et al.
// ("Incremental learning for robust visual tracking", 2008):
//   [S1 V1; S2 V2; sqrt(n1 n2 / (n1 + n2)) (mean1 - mean2)],
// whose Gram matrix is the scatter matrix of the union of the two data sets (as far as each is
// summarized by its S and V). Everything is float64: the state is summed over millions of cells.

import { affineForm, type Matrix, storedForm } from "../../data/matrix.js";
import { kernels } from "../../tensor/kernels/index.js";
import { gramSvd } from "../../tensor/linalg/gram-svd.js";
import { type Mat, matmul } from "../../tensor/linalg/mat.js";
import type { LinearOperator } from "../../tensor/linalg/operator.js";
import { svd } from "../../tensor/linalg/svd.js";
import { svdLowrank } from "../../tensor/linalg/svd-lowrank.js";
import type { Generator } from "../../tensor/random.js";
import { columnMeans, matrixTimes } from "./centered-operator.js";

export interface PartialSvd {
  /** Singular values, descending (trailing zeros where fewer directions are known). */
  readonly S_k: Float64Array;
  /** Right singular vectors as rows: S_k.length x g, row-major. */
  readonly V_kg: Float64Array;
  /** Mean of the data (zeros when the data are taken as centered). */
  readonly x_mean_g: Float64Array;
  readonly x_size: number;
}

/** An empty summary of k directions over g genes (upstream's zero-initialised buffers). */
export function emptyPartialSvd(k: number, g: number): PartialSvd {
  return {
    S_k: new Float64Array(k),
    V_kg: new Float64Array(k * g),
    x_mean_g: new Float64Array(g),
    x_size: 0,
  };
}

/**
 * `current` updated with the batch x_ng: the top k directions of the stacked matrix
 * [S_k V_kg; A; sqrt(n1 n2 / (n1 + n2)) (mean1 - mean2)] with A the batch centered by its own mean
 * (no mean row and no centering without meanCorrection), by svdLowrank with `oversample` extra
 * directions and `niter` power iterations on that matrix as a linear operator (a CSR batch is not
 * densified); or, when the stacked matrix is small enough that its exact SVD costs fewer flops
 * (batches of up to a few hundred cells, exactIsCheaper), exactly, written out.
 *
 * Upstream first truncates the batch to its own top-k SVD and then merges. On single-cell data a
 * batch of 1,000 cells over 20,000 genes is noise-dominated (a random-matrix bulk above many real
 * components), so the batch's own top directions are poor estimates of the weaker components and
 * the part of the batch outside them is discarded at every step: their explained variances end up
 * 10-30% low (bench/ipca-accuracy.ts). Putting the batch itself into the stacked matrix costs the
 * same products and leaves the final rank-k truncation as the only approximation.
 */
export function updatePartialSvd(
  current: PartialSvd,
  x: Matrix,
  k: number,
  niter: number,
  oversample: number,
  meanCorrection: boolean,
  generator: Generator,
): PartialSvd {
  // A deferred dense block (matrix.ts) through its CSR form. A z-scored CSR block through its
  // affine form x' + offset_g: with mean correction the batch is centered, which removes the
  // offset (A = Z - 1 mean(Z)^T = X' - 1 mean(X')^T), and only the batch mean carries it.
  const affine = meanCorrection ? affineForm(x) : null;
  const x_ng = affine?.x_ng ?? storedForm(x);
  const { nRows, nCols: g } = x_ng;
  const centering_g = meanCorrection ? columnMeans(x_ng) : null;
  const batchMean_g =
    affine && centering_g ? centering_g.map((mean, c) => mean + affine.offset_g[c]!) : centering_g;
  const n = current.x_size + nRows;
  const kState = current.x_size > 0 ? current.S_k.length : 0;
  const V_kg: Mat<Float64Array> = { rows: kState, cols: g, data: current.V_kg.subarray(0, kState * g) };
  // The mean-correction row, absent for the first batch (its weight would be 0).
  const hasMeanRow = meanCorrection && kState > 0;
  let x_mean_g = current.x_mean_g;
  if (hasMeanRow) {
    x_mean_g = new Float64Array(g);
    for (let c = 0; c < g; c++) {
      x_mean_g[c] = (current.x_mean_g[c]! * current.x_size + batchMean_g![c]! * nRows) / n;
    }
  } else if (batchMean_g) {
    x_mean_g = batchMean_g;
  }
  // Every dense row of the stacked matrix, plus the batch mean that centers the batch, in one
  // (kState + 2) x g block D = [S_k V_kg; mean row; batch mean], so that each product of the
  // operator is one GEMM with D and one with the batch X (A = X - 1 batchMean^T):
  //   [S V; X - 1 m^T; w] R = [(D R) rows 0..kState; X R - 1 (D R)[m]; (D R)[w]]
  //   [S V; X - 1 m^T; w]^T Y = X^T Y_batch + D^T [Y_state; Y_w; -1^T Y_batch].
  const meanRowAt = kState;
  const batchMeanAt = kState + 1;
  const dense = new Float64Array((kState + 2) * g);
  for (let j = 0; j < kState; j++) {
    const s = current.S_k[j]!;
    for (let c = 0; c < g; c++) dense[j * g + c] = s * V_kg.data[j * g + c]!;
  }
  if (hasMeanRow) {
    const weight = Math.sqrt((current.x_size * nRows) / n);
    for (let c = 0; c < g; c++) dense[meanRowAt * g + c] = weight * (current.x_mean_g[c]! - batchMean_g![c]!);
  }
  if (centering_g) dense.set(centering_g, batchMeanAt * g);
  const D: Mat<Float64Array> = { rows: kState + 2, cols: g, data: dense };
  const rows = kState + nRows + (hasMeanRow ? 1 : 0);
  const stacked: LinearOperator<Float64Array> = {
    rows,
    cols: g,
    dtype: "float64",
    mul(r) {
      const l = r.cols;
      const dr = matmul(D, r).data;
      const out = new Float64Array(rows * l);
      out.set(dr.subarray(0, kState * l));
      const xr = matrixTimes(x_ng, r, false);
      const shift = dr.subarray(batchMeanAt * l, (batchMeanAt + 1) * l);
      for (let i = 0; i < nRows; i++) {
        for (let j = 0; j < l; j++) out[(kState + i) * l + j] = xr[i * l + j]! - shift[j]!;
      }
      if (hasMeanRow) out.set(dr.subarray(meanRowAt * l, (meanRowAt + 1) * l), (rows - 1) * l);
      return { rows, cols: l, data: out };
    },
    mulT(y) {
      const l = y.cols;
      const yBatch = { rows: nRows, cols: l, data: y.data.subarray(kState * l, (kState + nRows) * l) };
      const out = matrixTimes(x_ng, yBatch, true);
      const coefficients = new Float64Array((kState + 2) * l);
      coefficients.set(y.data.subarray(0, kState * l));
      if (hasMeanRow) coefficients.set(y.data.subarray((rows - 1) * l, rows * l), meanRowAt * l);
      for (let i = 0; i < nRows; i++) {
        for (let j = 0; j < l; j++) coefficients[batchMeanAt * l + j]! -= yBatch.data[i * l + j]!;
      }
      kernels().gemm({
        transA: true,
        transB: false,
        m: g,
        n: l,
        k: kState + 2,
        alpha: 1,
        a: dense,
        lda: g,
        b: coefficients,
        ldb: l,
        beta: 1,
        c: out,
        ldc: l,
      });
      return { rows: g, cols: l, data: out };
    },
  };
  const q = Math.min(k, rows, g);
  const l = Math.min(q + oversample, rows, g);
  const batchValues = x_ng.format === "csr" ? x_ng.indptr[nRows]! - x_ng.indptr[0]! : nRows * g;
  // The state keeps the directions as rows, zero-padded to k.
  const next_S_k = new Float64Array(k);
  const next_V_kg = new Float64Array(k * g);
  if (exactIsCheaper(rows, g, batchValues + (kState + 2) * g, l, niter)) {
    const stack = new Float64Array(rows * g);
    stack.set(dense.subarray(0, kState * g));
    const batch = stack.subarray(kState * g, (kState + nRows) * g);
    addRows(batch, x_ng);
    const shift = dense.subarray(batchMeanAt * g, (batchMeanAt + 1) * g);
    for (let i = 0; i < nRows; i++) for (let c = 0; c < g; c++) batch[i * g + c]! -= shift[c]!;
    if (hasMeanRow) stack.set(dense.subarray(meanRowAt * g, (meanRowAt + 1) * g), (rows - 1) * g);
    const { s, vt } = gramSvd({ rows, cols: g, data: stack }, q);
    next_S_k.set(s);
    next_V_kg.set(vt.data);
    return { S_k: next_S_k, V_kg: next_V_kg, x_mean_g, x_size: n };
  }
  // Warm start from the current components (g x kState): the new top subspace is mostly theirs.
  let start: Mat<Float64Array> | undefined;
  if (kState > 0) {
    const used = Math.min(kState, l);
    const data = new Float64Array(g * used);
    kernels().transpose({ rows: used, cols: g, src: V_kg.data.subarray(0, used * g), dst: data });
    start = { rows: g, cols: used, data };
  }
  const { s, v } = svdLowrank(stacked, q, niter, oversample, generator, start);
  next_S_k.set(s);
  // v is g x q.
  kernels().transpose({ rows: g, cols: q, src: v.data, dst: next_V_kg.subarray(0, q * g) });
  return { S_k: next_S_k, V_kg: next_V_kg, x_mean_g, x_size: n };
}

/** The exact path writes the stacked matrix out: at most this many float64 values (256 MiB). */
const EXACT_MAX_VALUES = 1 << 25;

/**
 * Whether the exact SVD of the stacked matrix, written out (rows x g) and decomposed by gramSvd,
 * costs fewer flops than svdLowrank on the operator: 2 niter + 2 products that each read
 * `storedValues` (the batch's and the dense rows') once per direction, plus niter + 2 CholeskyQR2s
 * of g x l. The exact SVD then wins twice: it is the answer svdLowrank approximates (on a flat
 * spectrum, 10 degrees off at niter 2: bench/ipca_limits.py). It does with batches of up to a few
 * hundred cells; the benchmark's 1,000-cell batches stay randomized.
 */
function exactIsCheaper(rows: number, g: number, storedValues: number, l: number, niter: number): boolean {
  if (rows * g > EXACT_MAX_VALUES) return false;
  const small = Math.min(rows, g);
  const exact = small * small * Math.max(rows, g) + 2 * l * rows * g;
  const randomized = (2 * niter + 2) * 2 * storedValues * l + (niter + 2) * 4 * g * l * l;
  return exact <= randomized;
}

/** Adds x_ng's rows into `out` (x_ng.nRows x x_ng.nCols, row-major). */
function addRows(out: Float64Array, x_ng: Matrix): void {
  if (x_ng.format === "dense") {
    for (let p = 0; p < x_ng.data.length; p++) out[p]! += x_ng.data[p]!;
    return;
  }
  const { indptr, indices, data, nCols } = x_ng;
  for (let i = 0; i < x_ng.nRows; i++) {
    for (let p = indptr[i]!; p < indptr[i + 1]!; p++) out[i * nCols + indices[p]!]! += data[p]!;
  }
}

/**
 * The top k directions of the union of the data that `a` and `b` summarize. The stacked matrix has
 * only a.S_k.length + b.S_k.length + 1 rows, so its SVD is computed exactly (LAPACK): a randomized
 * SVD of it, as upstream does with torch.svd_lowrank(q = k), costs as much and only approximates
 * the same answer. Without meanCorrection the data are taken as centered: no mean row, and the
 * mean stays zero, as upstream's.
 */
export function mergePartialSvds(
  a: PartialSvd,
  b: PartialSvd,
  k: number,
  meanCorrection: boolean,
): PartialSvd {
  const g = a.x_mean_g.length;
  if (b.x_size === 0) return truncate(a, k, g);
  if (a.x_size === 0) return truncate(b, k, g);
  const n = a.x_size + b.x_size;
  const ka = a.S_k.length;
  const kb = b.S_k.length;
  const rows = ka + kb + (meanCorrection ? 1 : 0);
  const stacked = new Float64Array(rows * g);
  const scaleRows = (S: Float64Array, V: Float64Array, first: number) => {
    for (let j = 0; j < S.length; j++) {
      const s = S[j]!;
      const from = j * g;
      const to = (first + j) * g;
      for (let c = 0; c < g; c++) stacked[to + c] = s * V[from + c]!;
    }
  };
  scaleRows(a.S_k, a.V_kg, 0);
  scaleRows(b.S_k, b.V_kg, ka);
  let x_mean_g = a.x_mean_g;
  if (meanCorrection) {
    const weight = Math.sqrt((a.x_size * b.x_size) / n);
    const to = (ka + kb) * g;
    x_mean_g = new Float64Array(g);
    for (let c = 0; c < g; c++) {
      stacked[to + c] = weight * (a.x_mean_g[c]! - b.x_mean_g[c]!);
      x_mean_g[c] = (a.x_mean_g[c]! * a.x_size + b.x_mean_g[c]! * b.x_size) / n;
    }
  }
  const { s, vt } = svd({ rows, cols: g, data: stacked });
  return truncate({ S_k: s, V_kg: vt.data, x_mean_g, x_size: n }, k, g);
}

/** The first k directions of `p`, zero-padded when it has fewer. */
function truncate(p: PartialSvd, k: number, g: number): PartialSvd {
  if (p.S_k.length === k) return p;
  const kept = Math.min(k, p.S_k.length);
  const S_k = new Float64Array(k);
  S_k.set(p.S_k.subarray(0, kept));
  const V_kg = new Float64Array(k * g);
  V_kg.set(p.V_kg.subarray(0, kept * g));
  return { S_k, V_kg, x_mean_g: p.x_mean_g, x_size: p.x_size };
}
