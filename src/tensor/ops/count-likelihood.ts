// scVI's reconstruction term as one op: from the decoder's logits to each cell's negative
// log-likelihood of its counts,
//   chi = softmax(logits_n), mu = exp(library_n) chi + relu(additive_n) + eps,
//   nll_n = -sum_g log NB(x_ng | mu_ng, theta_g + eps)   (or Poisson(x_ng | mu_ng)),
// with the NB in cellarium-ml's form (negativeBinomialLogProb, distributions.ts):
//   log NB = delta - (x + t) log1p(mu / t) - lgamma(x + 1) + x log(mu),
//   delta = lgamma(x + t) - lgamma(t) - x log(t), or (x + t - 1/2) log1p(x / t) - x above t = 200.
// Its gradients: d nll / d mu = (x + t) / (t + mu) - x / mu, d nll / d t = log1p(mu / t)
// - (x + t) mu / (t (t + mu)) - d delta / d t, then through the softmax and the ReLU.
// Composed from elementwise ops this is ~20 passes over n x g values and as many allocations,
// forward and backward; as a kernel (countNllForward / countNllBackward) it is one pass each way,
// and the counts stay CSR: at a zero count the NB term is t log1p(mu / t) and no lgamma is needed,
// so lgamma and digamma run on the non-zeros only (~10% of a single-cell matrix).

import { ArgumentError } from "../../errors.js";
import { kernels } from "../kernels/index.js";
import { record, Tensor } from "../tensor.js";
import { type CsrOperand, denseToCsr } from "./sparse.js";

export interface CountLikelihoodInput {
  /** The decoder's output before the softmax over genes, float32 [n, g]. */
  readonly logits_ng: Tensor;
  /** log library size per cell (a constant), n values. */
  readonly logLibrary_n: Float32Array;
  /** The additive bias before its ReLU (upstream's final additive bias), float32 [n, g], or null. */
  readonly additive_ng: Tensor | null;
  /** Inverse overdispersion, float32 [g] or [n, g]; null for Poisson. */
  readonly theta: Tensor | null;
  /** The counts: CSR (float32 values; each row's columns increasing, as the data layer's) or dense row-major float32 [n, g]. */
  readonly x: CsrOperand | Float32Array;
  /** Added to mu and theta (upstream's DecoderSCVI eps). */
  readonly eps?: number;
}

/** The NB (theta given) or Poisson (theta null) negative log-likelihood per cell, [n], differentiable in logits, additive and theta. */
export function countNegativeLogLikelihood(input: CountLikelihoodInput): Tensor {
  const { logits_ng, additive_ng, theta, x } = input;
  const [n, g] = logits_ng.shape as [number, number];
  const fail = (what: string): never => {
    throw new ArgumentError(`countNegativeLogLikelihood: ${what}`);
  };
  if (logits_ng.dtype !== "float32" || logits_ng.ndim !== 2) fail("logits must be float32 [n, g]");
  for (const [name, t] of [
    ["additive", additive_ng],
    ["theta", theta],
  ] as const) {
    if (t !== null && t.dtype !== "float32") fail(`${name} must be float32`);
  }
  let csr: { indptr: Int32Array; indices: Int32Array; values: Float32Array };
  if (x instanceof Float32Array) {
    if (x.length !== n * g) fail(`dense x must have ${n} x ${g} values`);
    const dense = denseToCsr(x, n, g);
    csr = { indptr: dense.indptr, indices: dense.indices, values: dense.data };
  } else {
    if (x.nRows !== n || x.nCols !== g || !(x.data instanceof Float32Array))
      fail(`x must be a float32 ${n} x ${g} CSR`);
    csr = { indptr: x.indptr, indices: x.indices, values: x.data as Float32Array };
  }
  const data = {
    rows: n,
    genes: g,
    logLibrary: input.logLibrary_n,
    additive: additive_ng ? (additive_ng.data as Float32Array) : null,
    theta: theta ? (theta.data as Float32Array) : null,
    ...csr,
    eps: input.eps ?? 1e-10,
  };
  const chi = new Float32Array(n * g);
  const mu = new Float32Array(n * g);
  const ratio = theta ? new Float32Array(n * g) : null;
  const nll = new Float32Array(n);
  kernels().countNllForward({ ...data, logits: logits_ng.data as Float32Array, chi, mu, ratio, nll });
  const inputs = [logits_ng, additive_ng, theta].filter((t): t is Tensor => t !== null);
  return record("countNegativeLogLikelihood", new Tensor(nll, [n]), inputs, (grad) => {
    const gLogits = logits_ng.requiresGrad ? new Float32Array(n * g) : null;
    const gAdditive = additive_ng?.requiresGrad ? new Float32Array(n * g) : null;
    const gTheta = theta?.requiresGrad ? new Float64Array(theta.size) : null;
    kernels().countNllBackward({
      ...data,
      grad: grad.data as Float32Array,
      chi,
      mu,
      ratio,
      gLogits,
      gAdditive,
      gTheta,
    });
    const grads: Array<Tensor | null> = [gLogits ? new Tensor(gLogits, logits_ng.shape) : null];
    if (additive_ng) grads.push(gAdditive ? new Tensor(gAdditive, additive_ng.shape) : null);
    if (theta) grads.push(gTheta ? new Tensor(Float32Array.from(gTheta), theta.shape) : null);
    return grads;
  });
}
