// The TypeScript countNllForward / countNllBackward: the same loops as src/native/count_nll.h (see
// there and src/tensor/ops/count-likelihood.ts for the formulas), in double arithmetic with float
// intermediates, so the two backends agree to rounding.

import { ArgumentError } from "../../errors.js";
import { digamma, lgamma } from "../special.js";
import type { CountNllBackwardArgs, CountNllData, CountNllForwardArgs } from "./types.js";

// cellarium-ml's NegativeBinomial switches to Stirling's approximation of the lgamma difference above this theta.
const STIRLING_THETA = 200;

// Counts up to this use the sums below instead of lgamma / digamma differences.
const SMALL_COUNT = 16;

/**
 * delta = lgamma(x + t) - lgamma(t) - x log t: for a whole count x <= SMALL_COUNT the sum of
 * log1p(k / t) for k < x (exact where the lgamma difference cancels); else the lgamma difference.
 */
function nbDelta(x: number, t: number, lgammaT: number, logT: number): number {
  if (x <= SMALL_COUNT && Number.isInteger(x)) {
    let sum = 0;
    for (let k = 1; k < x; k++) sum += Math.log1p(k / t);
    return sum;
  }
  return lgamma(x + t) - lgammaT - x * logT;
}

/** d delta / d t: the sum of 1 / (t + k) - 1 / t for k < x (whole x <= SMALL_COUNT), else digamma(x + t) - digamma(t) - x / t. */
function nbDeltaDt(x: number, t: number, digammaT: number): number {
  if (x <= SMALL_COUNT && Number.isInteger(x)) {
    let sum = 0;
    for (let k = 1; k < x; k++) sum += 1 / (t + k) - 1 / t;
    return sum;
  }
  return digamma(x + t) - digammaT - x / t;
}

/**
 * Throws unless every row's column indices increase strictly inside [0, genes) (canonical CSR),
 * as count_nll.h's count_nll_canonical requires of the native kernels' input.
 */
function requireCanonical(kernel: string, a: CountNllData): void {
  for (let i = 0; i < a.rows; i++) {
    let previous = -1;
    for (let p = a.indptr[i]!; p < a.indptr[i + 1]!; p++) {
      const j = a.indices[p]!;
      if (!(j > previous && j < a.genes)) {
        throw new ArgumentError(
          `${kernel}: row ${i}'s column indices must increase strictly inside [0, ${a.genes}), got ${j} after ${previous}`,
        );
      }
      previous = j;
    }
  }
}

/** Adds row i of the CSR counts into a zeroed dense row; clearRow zeroes its columns again. */
function scatterRow(a: CountNllData, i: number, row: Float64Array): void {
  for (let p = a.indptr[i]!; p < a.indptr[i + 1]!; p++) row[a.indices[p]!]! += a.values[p]!;
}

function clearRow(a: CountNllData, i: number, row: Float64Array): void {
  for (let p = a.indptr[i]!; p < a.indptr[i + 1]!; p++) row[a.indices[p]!] = 0;
}

/**
 * theta + eps per gene, or null when theta is per cell or absent. With one row the two layouts
 * have the same length; the value at [0, j] is then the gene's either way.
 */
function geneThetas(a: CountNllData): Float64Array | null {
  if (a.theta === null || a.theta.length !== a.genes) return null;
  return Float64Array.from(a.theta, (v) => v + a.eps);
}

export function countNllForwardTs(a: CountNllForwardArgs): void {
  requireCanonical("countNllForward", a);
  const { rows, genes, logits, additive, theta, eps, chi, mu, ratio, nll } = a;
  const x = new Float64Array(genes);
  const geneT = geneThetas(a);
  const geneLgamma = geneT ? Float64Array.from(geneT, lgamma) : null;
  const geneLog = geneT ? Float64Array.from(geneT, Math.log) : null;
  for (let i = 0; i < rows; i++) {
    const row = i * genes;
    let max = Number.NEGATIVE_INFINITY;
    for (let j = 0; j < genes; j++) max = Math.max(max, logits[row + j]!);
    let total = 0;
    for (let j = 0; j < genes; j++) {
      const e = Math.exp(logits[row + j]! - max);
      chi[row + j] = e;
      total += e;
    }
    const inv = 1 / total;
    const scale = Math.exp(a.logLibrary[i]!);
    scatterRow(a, i, x);
    let sum = 0;
    for (let j = 0; j < genes; j++) {
      const c = Math.fround(chi[row + j]! * inv);
      chi[row + j] = c;
      const m = scale * c + (additive ? Math.max(additive[row + j]!, 0) : 0) + eps;
      mu[row + j] = m;
      const xv = x[j]!;
      if (theta === null) {
        sum += m - (xv === 0 ? 0 : xv * Math.log(m) - lgamma(xv + 1));
        continue;
      }
      const t = geneT ? geneT[j]! : theta[row + j]! + eps;
      const r = Math.log1p(m / t);
      ratio![row + j] = r;
      if (xv === 0) {
        sum += t * r;
        continue;
      }
      const delta =
        t > STIRLING_THETA
          ? (xv + t - 0.5) * Math.log1p(xv / t) - xv
          : nbDelta(xv, t, geneLgamma ? geneLgamma[j]! : lgamma(t), geneLog ? geneLog[j]! : Math.log(t));
      sum -= delta - (xv + t) * r - lgamma(xv + 1) + xv * Math.log(m);
    }
    clearRow(a, i, x);
    nll[i] = sum;
  }
}

export function countNllBackwardTs(a: CountNllBackwardArgs): void {
  requireCanonical("countNllBackward", a);
  const { rows, genes, grad, chi, mu, ratio, additive, theta, eps, gLogits, gAdditive, gTheta } = a;
  const x = new Float64Array(genes);
  const dm = new Float64Array(genes);
  const geneT = geneThetas(a);
  const geneDigamma = geneT && gTheta ? Float64Array.from(geneT, digamma) : null;
  for (let i = 0; i < rows; i++) {
    const row = i * genes;
    const gi = grad[i]!;
    scatterRow(a, i, x);
    for (let j = 0; j < genes; j++) {
      const m = mu[row + j]!;
      const xv = x[j]!;
      if (theta === null) {
        dm[j] = gi * (1 - xv / m);
        continue;
      }
      const t = geneT ? geneT[j]! : theta[row + j]! + eps;
      // d nll / d mu = (x + t) / (t + m) - x / m
      dm[j] = gi * ((xv + t) / (t + m) - (xv === 0 ? 0 : xv / m));
      if (gTheta) {
        // d nll / d t = log1p(m / t) - (x + t) m / (t (t + m)) - d delta / d t
        let dDelta = 0;
        if (xv !== 0) {
          dDelta =
            t > STIRLING_THETA
              ? Math.log1p(xv / t) - ((xv + t - 0.5) * xv) / (t * (t + xv))
              : nbDeltaDt(xv, t, geneDigamma ? geneDigamma[j]! : digamma(t));
        }
        gTheta[geneT ? j : row + j]! += gi * (ratio![row + j]! - ((xv + t) * m) / (t * (t + m)) - dDelta);
      }
    }
    clearRow(a, i, x);
    if (gAdditive) for (let j = 0; j < genes; j++) gAdditive[row + j] = additive![row + j]! > 0 ? dm[j]! : 0;
    if (gLogits) {
      // softmax: du = chi exp(library) (dm - sum_k chi_k dm_k)
      const scale = Math.exp(a.logLibrary[i]!);
      let dot = 0;
      for (let j = 0; j < genes; j++) dot += chi[row + j]! * dm[j]!;
      for (let j = 0; j < genes; j++) gLogits[row + j] = chi[row + j]! * scale * (dm[j]! - dot);
    }
  }
}
