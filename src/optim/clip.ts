// Gradient clipping with torch.nn.utils' semantics (what Lightning's gradient_clip_val calls).

import { ArgumentError } from "../errors.js";
import { kernels } from "../tensor/kernels/index.js";
import type { OptimParam } from "./types.js";

/**
 * torch.nn.utils.clip_grad_norm_: the p-norm of all gradients together (as if concatenated;
 * Infinity = largest absolute value); when maxNorm / (norm + 1e-6) < 1, every gradient is scaled by
 * that factor in place. Parameters without a gradient are ignored. Returns the norm before clipping
 * (0 when no parameter has a gradient). Like torch (error_if_nonfinite=False), a non-finite norm
 * is returned and the gradients are scaled anyway, so they become NaN.
 */
export function clipGradNorm(params: Iterable<OptimParam>, maxNorm: number, normType = 2): number {
  if (!(maxNorm >= 0)) throw new ArgumentError(`clipGradNorm: maxNorm must be >= 0, got ${maxNorm}`);
  if (!(normType > 0))
    throw new ArgumentError(`clipGradNorm: normType must be > 0 or Infinity, got ${normType}`);
  const grads = [];
  for (const param of params) if (param.grad !== null) grads.push(param.grad.data);
  let total = 0;
  if (normType === Number.POSITIVE_INFINITY) {
    for (const g of grads) for (let i = 0; i < g.length; i++) total = Math.max(total, Math.abs(g[i]!));
  } else {
    // Sum of |g|^p in doubles; the p = 2 and p = 1 loops avoid Math.pow per element.
    for (const g of grads) {
      if (normType === 2) total += kernels().sumSquares({ n: g.length, x: g });
      else if (normType === 1) for (let i = 0; i < g.length; i++) total += Math.abs(g[i]!);
      else for (let i = 0; i < g.length; i++) total += Math.abs(g[i]!) ** normType;
    }
    total **= 1 / normType;
  }
  // A NaN element makes Math.max or the sum NaN too; torch then scales by NaN as well.
  const scale = maxNorm / (total + 1e-6);
  if (!(scale >= 1)) for (const g of grads) for (let i = 0; i < g.length; i++) g[i]! *= scale;
  return total;
}

/** torch.nn.utils.clip_grad_value_: clamps every gradient element to [-clipValue, clipValue] in place. */
export function clipGradValue(params: Iterable<OptimParam>, clipValue: number): void {
  if (!(clipValue >= 0)) throw new ArgumentError(`clipGradValue: clipValue must be >= 0, got ${clipValue}`);
  for (const param of params) {
    if (param.grad === null) continue;
    const g = param.grad.data;
    for (let i = 0; i < g.length; i++) {
      const v = g[i]!;
      if (v > clipValue) g[i] = clipValue;
      else if (v < -clipValue) g[i] = -clipValue;
    }
  }
}
