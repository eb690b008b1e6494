// Losses.

import { ArgumentError } from "../../errors.js";
import { kernels } from "../kernels/index.js";
import { allocate, type FloatArray, formatShape, record, Tensor } from "../tensor.js";

export type Reduction = "mean" | "sum" | "none";

export interface CrossEntropyOptions {
  /** Targets equal to this contribute nothing (torch's default -100). */
  ignoreIndex?: number;
  reduction?: Reduction;
}

/**
 * Cross entropy between logits_nc and int32 class targets target_n: per row logsumexp(x) - x[t],
 * as torch.nn.functional.cross_entropy. "mean" divides by the number of non-ignored targets (NaN
 * when all are ignored, as torch); "none" gives 0 at ignored rows. The rows' softmax is computed
 * once (the row kernel) and kept: the loss is -log p[t] and the gradient (p - onehot) scaled.
 */
export function crossEntropy(logits_nc: Tensor, target_n: Tensor, options: CrossEntropyOptions = {}): Tensor {
  const ignoreIndex = options.ignoreIndex ?? -100;
  const reduction = options.reduction ?? "mean";
  if (logits_nc.dtype === "int32" || logits_nc.ndim !== 2) {
    throw new ArgumentError(
      `crossEntropy: logits must be a float (n, c) tensor, got ${logits_nc.dtype}${formatShape(logits_nc.shape)}`,
    );
  }
  const [n, c] = logits_nc.shape as [number, number];
  if (target_n.dtype !== "int32" || target_n.ndim !== 1 || target_n.shape[0] !== n) {
    throw new ArgumentError(
      `crossEntropy: target must be int32 of shape [${n}], got ${target_n.dtype}${formatShape(target_n.shape)}`,
    );
  }
  const x = logits_nc.data as FloatArray;
  const t = target_n.data;
  // The softmax of every row, once, by the row kernel (vectorised natively): the loss is -log of the
  // target's probability and the gradient is the probabilities minus the one-hot target.
  const probs = x.slice();
  kernels().softmaxRows({ rows: n, len: c, x: probs, bias: null });
  const loss = allocate(logits_nc.dtype, n);
  let count = 0;
  let total = 0;
  for (let r = 0; r < n; r++) {
    const target = t[r]!;
    if (target === ignoreIndex) continue;
    if (target < 0 || target >= c) {
      throw new ArgumentError(`crossEntropy: target ${target} at row ${r} is out of range for ${c} classes`);
    }
    const p = probs[r * c + target]!;
    // A probability this small has lost its digits (or underflowed): logsumexp(x) - x[t] in double.
    const l = p > 1e-30 ? -Math.log(p) : logSumExp(x, r * c, c) - x[r * c + target]!;
    loss[r] = l;
    total += l;
    count++;
  }
  let out: Tensor;
  if (reduction === "none") out = new Tensor(loss, [n]);
  else {
    const value = allocate(logits_nc.dtype, 1);
    value[0] = reduction === "sum" ? total : total / count;
    out = new Tensor(value, []);
  }
  return record("crossEntropy", out, [logits_nc], (g) => {
    const gd = g.data;
    const gx = allocate(logits_nc.dtype, logits_nc.size) as FloatArray;
    for (let r = 0; r < n; r++) {
      const target = t[r]!;
      if (target === ignoreIndex) continue;
      const scale = reduction === "none" ? gd[r]! : reduction === "sum" ? gd[0]! : gd[0]! / count;
      const base = r * c;
      for (let j = 0; j < c; j++) gx[base + j] = probs[base + j]! * scale;
      gx[base + target]! -= scale;
    }
    return [new Tensor(gx, logits_nc.shape)];
  });
}

/** log(sum(exp(x[from .. from + len)))) in double, shifted by the maximum. */
function logSumExp(x: FloatArray, from: number, len: number): number {
  let m = -Infinity;
  for (let j = from; j < from + len; j++) if (x[j]! > m) m = x[j]!;
  let s = 0;
  for (let j = from; j < from + len; j++) s += Math.exp(x[j]! - m);
  return m + Math.log(s);
}
