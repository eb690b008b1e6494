// The numerical core of IncrementalPCA: a partial SVD (S, V and the mean and size of the data it
// summarizes), computed for one batch by a randomized SVD and merged with another by the SVD of
// the stacked matrix of Iwen & Ong ("A distributed and incremental SVD algorithm for agglomerative
// data analysis on large networks", 2016) with the mean-correction row of Ross et al.
// ("Incremental learning for robust visual tracking", 2008):
//   [S1 V1; S2 V2; sqrt(n1 n2 / (n1 + n2)) (mean1 - mean2)],
// whose Gram matrix is the scatter matrix of the union of the two data sets (as far as each is
// summarized by its S and V). Everything is float64: the state is summed over millions of cells.

import type { Matrix } from "../../data/matrix.js";
import { svd } from "../../tensor/linalg/svd.js";
import { svdLowrank } from "../../tensor/linalg/svd-lowrank.js";
import type { Generator } from "../../tensor/random.js";
import { centeredOperator, columnMeans } from "./centered-operator.js";

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
 * The partial SVD of one batch: `rank` directions of x_ng (centered by its own mean when
 * meanCorrection) by svdLowrank with `niter` power iterations, never densifying a CSR batch. A
 * batch with fewer cells than `rank` yields as many directions as it has cells.
 */
export function batchPartialSvd(
  x_ng: Matrix,
  rank: number,
  niter: number,
  meanCorrection: boolean,
  generator: Generator,
): PartialSvd {
  const { nRows, nCols } = x_ng;
  const x_mean_g = meanCorrection ? columnMeans(x_ng) : new Float64Array(nCols);
  const q = Math.min(rank, nRows, nCols);
  const { s, v } = svdLowrank(
    centeredOperator(x_ng, meanCorrection ? x_mean_g : null),
    q,
    niter,
    0,
    generator,
  );
  // v is g x q; the state keeps the directions as rows.
  const V_kg = new Float64Array(q * nCols);
  for (let g = 0; g < nCols; g++) {
    for (let j = 0; j < q; j++) V_kg[j * nCols + g] = v.data[g * q + j]!;
  }
  return { S_k: s, V_kg, x_mean_g, x_size: nRows };
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
