// scVI's reconstruction term as one op: from the decoder's logits to each cell's negative
// log-likelihood of its counts,
//   chi = softmax(logits_n), mu = exp(library_n) chi + additive_n + eps,
//   nll_n = -sum_g log NB(x_ng | mu_ng, theta_g + eps)   (or Poisson(x_ng | mu_ng)),
// with the NB in cellarium-ml's form (negativeBinomialLogProb, distributions.ts). Composed from
// elementwise ops this is ~20 passes over n x g values and as many allocations, forward and
// backward; here it is one pass forward and one backward, and the counts stay CSR: at a zero count
// the NB term is theta log1p(mu / theta) and no lgamma is needed, so lgamma and digamma run on the
// non-zeros only (~10% of a single-cell matrix) and on the g thetas once per batch.

import { ArgumentError } from "../../errors.js";
import { digamma, lgamma } from "../special.js";
import { record, Tensor } from "../tensor.js";
import type { CsrOperand } from "./sparse.js";

// cellarium-ml's NegativeBinomial switches to Stirling's approximation of the lgamma difference above this theta.
const STIRLING_THETA = 200;

export interface CountLikelihoodInput {
  /** The decoder's output before the softmax over genes, float32 [n, g]. */
  readonly logits_ng: Tensor;
  /** log library size per cell (a constant), n values. */
  readonly logLibrary_n: Float32Array;
  /** Added to the scaled mean (upstream's final additive bias), float32 [n, g], or null. */
  readonly additive_ng: Tensor | null;
  /** Inverse overdispersion, float32 [g] or [n, g]; null for Poisson. */
  readonly theta: Tensor | null;
  /** The counts: CSR or dense row-major float32 [n, g]. */
  readonly x: CsrOperand | Float32Array;
  /** Added to mu and theta (upstream's DecoderSCVI eps). */
  readonly eps?: number;
}

/** The NB (theta given) or Poisson (theta null) negative log-likelihood per cell, [n], differentiable in logits, additive and theta. */
export function countNegativeLogLikelihood(input: CountLikelihoodInput): Tensor {
  const { logits_ng, additive_ng, theta, x } = input;
  const eps = input.eps ?? 1e-10;
  const [n, g] = logits_ng.shape as [number, number];
  const check = (ok: boolean, what: string) => {
    if (!ok) throw new ArgumentError(`countNegativeLogLikelihood: ${what}`);
  };
  check(logits_ng.dtype === "float32" && logits_ng.ndim === 2, "logits must be float32 [n, g]");
  check(input.logLibrary_n.length === n, `logLibrary_n must have ${n} values`);
  check(
    additive_ng === null || (additive_ng.dtype === "float32" && additive_ng.size === n * g),
    "additive must be float32 [n, g]",
  );
  const perCellTheta = theta !== null && theta.size === n * g && theta.ndim === 2;
  check(
    theta === null || (theta.dtype === "float32" && (perCellTheta || (theta.ndim === 1 && theta.size === g))),
    "theta must be float32 [g] or [n, g]",
  );
  const csr = x instanceof Float32Array ? null : x;
  check(
    csr === null ? (x as Float32Array).length === n * g : csr.nRows === n && csr.nCols === g,
    `x must be ${n} x ${g}`,
  );

  const u = logits_ng.data as Float32Array;
  const a = additive_ng ? (additive_ng.data as Float32Array) : null;
  const th = theta ? (theta.data as Float32Array) : null;
  // chi and mu are kept for the backward pass
  const chi = new Float32Array(n * g);
  const mu = new Float64Array(n * g);
  const nll = new Float32Array(n);
  const xRow = new Float64Array(g);
  // per-gene constants of a [g] theta: t, lgamma(t), log t
  const gt = th && !perCellTheta ? Float64Array.from(th, (v) => v + eps) : null;
  const geneLgamma = gt ? Float64Array.from(gt, lgamma) : null;
  const geneLog = gt ? Float64Array.from(gt, Math.log) : null;
  const forRow = (i: number, f: (j: number, v: number) => void) => {
    if (csr === null) {
      for (let j = 0; j < g; j++) {
        const v = (x as Float32Array)[i * g + j]!;
        if (v !== 0) f(j, v);
      }
    } else {
      for (let p = csr.indptr[i]!; p < csr.indptr[i + 1]!; p++) f(csr.indices[p]!, csr.data[p]!);
    }
  };
  for (let i = 0; i < n; i++) {
    const row = i * g;
    let max = Number.NEGATIVE_INFINITY;
    for (let j = 0; j < g; j++) max = Math.max(max, u[row + j]!);
    let total = 0;
    for (let j = 0; j < g; j++) {
      const e = Math.exp(u[row + j]! - max);
      chi[row + j] = e;
      total += e;
    }
    const scale = Math.exp(input.logLibrary_n[i]!);
    forRow(i, (j, v) => {
      xRow[j]! += v;
    });
    let sum = 0;
    for (let j = 0; j < g; j++) {
      const c = Math.fround(chi[row + j]! / total);
      chi[row + j] = c;
      const m = scale * c + (a ? a[row + j]! : 0) + eps;
      mu[row + j] = m;
      const xv = xRow[j]!;
      if (th === null) {
        sum += m - (xv === 0 ? 0 : xv * Math.log(m) - lgamma(xv + 1));
        continue;
      }
      const t = gt ? gt[j]! : th[row + j]! + eps;
      const core = t * Math.log1p(m / t);
      if (xv === 0) {
        sum += core;
        continue;
      }
      let delta: number;
      if (t > STIRLING_THETA) delta = (xv + t - 0.5) * Math.log1p(xv / t) - xv;
      else
        delta =
          lgamma(xv + t) -
          (geneLgamma ? geneLgamma[j]! : lgamma(t)) -
          xv * (geneLog ? geneLog[j]! : Math.log(t));
      sum += -(delta - (xv + t) * Math.log1p(m / t) - lgamma(xv + 1) + xv * Math.log(m));
    }
    forRow(i, (j) => {
      xRow[j] = 0;
    });
    nll[i] = sum;
  }
  const inputs = [logits_ng, additive_ng, theta].filter((t): t is Tensor => t !== null);
  return record("countNegativeLogLikelihood", new Tensor(nll, [n]), inputs, (grad) => {
    const gn = grad.data as Float32Array;
    const gu = logits_ng.requiresGrad ? new Float32Array(n * g) : null;
    const ga = additive_ng?.requiresGrad ? new Float32Array(n * g) : null;
    const gth = theta?.requiresGrad ? new Float64Array(theta.size) : null;
    const geneDigamma = gt && gth ? Float64Array.from(gt, digamma) : null;
    const dm = new Float64Array(g);
    for (let i = 0; i < n; i++) {
      const row = i * g;
      const gi = gn[i]!;
      forRow(i, (j, v) => {
        xRow[j]! += v;
      });
      for (let j = 0; j < g; j++) {
        const m = mu[row + j]!;
        const xv = xRow[j]!;
        if (th === null) {
          dm[j] = gi * (1 - xv / m);
          continue;
        }
        const t = gt ? gt[j]! : th[row + j]! + eps;
        // d nll / d mu = (x + t) / (t + m) - x / m
        dm[j] = gi * ((xv + t) / (t + m) - (xv === 0 ? 0 : xv / m));
        if (gth) {
          // d nll / d t = log1p(m / t) - (x + t) m / (t (t + m)) - d delta / d t
          let dDelta = 0;
          if (xv !== 0) {
            dDelta =
              t > STIRLING_THETA
                ? Math.log1p(xv / t) - ((xv + t - 0.5) * xv) / (t * (t + xv))
                : digamma(xv + t) - (geneDigamma ? geneDigamma[j]! : digamma(t)) - xv / t;
          }
          gth[perCellTheta ? row + j : j]! +=
            gi * (Math.log1p(m / t) - ((xv + t) * m) / (t * (t + m)) - dDelta);
        }
      }
      forRow(i, (j) => {
        xRow[j] = 0;
      });
      if (ga) for (let j = 0; j < g; j++) ga[row + j] = dm[j]!;
      if (gu) {
        // softmax: du = chi (dchi - sum_k chi_k dchi_k), dchi = dm exp(library)
        const scale = Math.exp(input.logLibrary_n[i]!);
        let dot = 0;
        for (let j = 0; j < g; j++) dot += chi[row + j]! * dm[j]!;
        for (let j = 0; j < g; j++) gu[row + j] = chi[row + j]! * scale * (dm[j]! - dot);
      }
    }
    const grads: Array<Tensor | null> = [gu ? new Tensor(gu, logits_ng.shape) : null];
    if (additive_ng) grads.push(ga ? new Tensor(ga, additive_ng.shape) : null);
    if (theta) grads.push(gth ? new Tensor(Float32Array.from(gth), theta.shape) : null);
    return grads;
  });
}
