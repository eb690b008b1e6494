// Losses.

import { ArgumentError } from "../../errors.js";
import { allocate, formatShape, record, Tensor } from "../tensor.js";

export type Reduction = "mean" | "sum" | "none";

export interface CrossEntropyOptions {
  /** Targets equal to this contribute nothing (torch's default -100). */
  ignoreIndex?: number;
  reduction?: Reduction;
}

/**
 * Cross entropy between logits_nc and int32 class targets target_n: per row logsumexp(x) - x[t],
 * as torch.nn.functional.cross_entropy. "mean" divides by the number of non-ignored targets (NaN
 * when all are ignored, as torch); "none" gives 0 at ignored rows. One fused pass per row, and the
 * gradient (softmax - onehot) is formed directly from the saved logsumexp.
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
  const x = logits_nc.data;
  const t = target_n.data;
  const lse = new Float64Array(n);
  const loss = allocate(logits_nc.dtype, n);
  let count = 0;
  let total = 0;
  for (let r = 0; r < n; r++) {
    const target = t[r]!;
    if (target === ignoreIndex) continue;
    if (target < 0 || target >= c) {
      throw new ArgumentError(`crossEntropy: target ${target} at row ${r} is out of range for ${c} classes`);
    }
    const base = r * c;
    let m = -Infinity;
    for (let j = 0; j < c; j++) if (x[base + j]! > m) m = x[base + j]!;
    let s = 0;
    for (let j = 0; j < c; j++) s += Math.exp(x[base + j]! - m);
    lse[r] = m + Math.log(s);
    const l = lse[r]! - x[base + target]!;
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
    const gx = allocate(logits_nc.dtype, logits_nc.size);
    for (let r = 0; r < n; r++) {
      const target = t[r]!;
      if (target === ignoreIndex) continue;
      const scale = reduction === "none" ? gd[r]! : reduction === "sum" ? gd[0]! : gd[0]! / count;
      const base = r * c;
      const shift = lse[r]!;
      for (let j = 0; j < c; j++) gx[base + j] = Math.exp(x[base + j]! - shift) * scale;
      gx[base + target]! -= scale;
    }
    return [new Tensor(gx, logits_nc.shape)];
  });
}
