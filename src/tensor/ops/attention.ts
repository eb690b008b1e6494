// Multi-head scaled dot-product attention as one op, on queries, keys and values in their [b, s, h]
// layout (h = heads * d, head j owning columns j*d .. (j+1)*d). Each (batch item, head) product is
// a strided gemm that reads its head's columns in place (leading dimension h), so the usual
// reshape-and-permute copies to [b, heads, s, d] and back never happen, forward or backward. The
// additive mask, scale, softmax and dropout are fused loops over the [b, heads, sq, sk] scores.
//
// Forward (per batch item and head): S = scale Q K^T + mask, P = softmax(S), Pd = dropout(P),
// C = Pd V. Backward: dPd = dC V^T, dV = Pd^T dC, dP = dropout's mask and scale applied to dPd,
// dS = P (dP - rowsum(dP P)), dQ = scale dS K, dK = scale dS^T Q.

import { ArgumentError } from "../../errors.js";
import { kernels } from "../kernels/index.js";
import type { Generator } from "../random.js";
import { allocate, type FloatArray, formatShape, record, Tensor } from "../tensor.js";
import { checkDropoutP, dropoutMask } from "./dropout.js";

export interface AttentionOptions {
  /**
   * Added to every query's scores over the keys: [b, sk], e.g. 0 for tokens and a large negative
   * number for padding (Hugging Face's extended attention mask [b, 1, 1, sk] without its unit
   * axes). No gradient flows to it.
   */
  mask?: Tensor | null;
  /** Multiplies Q K^T; default 1 / sqrt(d). */
  scale?: number;
  /** Dropout on the attention probabilities (default 0); active only when training. */
  dropoutP?: number;
  training?: boolean;
  /** Draws the dropout mask; needed when dropout is active. */
  generator?: Generator | null;
}

/**
 * softmax(scale Q K^T + mask) V per head, for q [b, sq, h] and k, v [b, sk, h] split into `heads`
 * heads along h. Returns the heads' contexts concatenated back along h: [b, sq, h].
 */
export function multiHeadAttention(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  heads: number,
  options: AttentionOptions = {},
): Tensor {
  const [b, sq, h] = q.shape as [number, number, number];
  const sk = k.shape[1]!;
  const describe = () =>
    `multiHeadAttention: q ${q.dtype}${formatShape(q.shape)}, k ${k.dtype}${formatShape(k.shape)}, v ${v.dtype}${formatShape(v.shape)}, ${heads} heads`;
  if (
    q.ndim !== 3 ||
    q.dtype === "int32" ||
    [k, v].some(
      (t) => t.ndim !== 3 || t.dtype !== q.dtype || t.shape[0] !== b || t.shape[1] !== sk || t.shape[2] !== h,
    ) ||
    !Number.isInteger(heads) ||
    heads < 1 ||
    h % heads !== 0
  ) {
    throw new ArgumentError(`${describe()} do not fit ([b, s, h] each, h divisible by heads)`);
  }
  const mask = options.mask ?? null;
  if (
    mask !== null &&
    (mask.ndim !== 2 || mask.shape[0] !== b || mask.shape[1] !== sk || mask.dtype !== q.dtype)
  ) {
    throw new ArgumentError(
      `multiHeadAttention: mask ${mask.dtype}${formatShape(mask.shape)} must be ${q.dtype}[${b}, ${sk}]`,
    );
  }
  const p = options.dropoutP ?? 0;
  checkDropoutP(p, "multiHeadAttention");
  const dropping = p > 0 && (options.training ?? false);
  if (dropping && !options.generator) {
    throw new ArgumentError("multiHeadAttention: dropout needs a generator");
  }
  const d = h / heads;
  const scale = options.scale ?? 1 / Math.sqrt(d);
  const qd = q.data as FloatArray;
  const kd = k.data as FloatArray;
  const vd = v.data as FloatArray;
  const md = mask?.data as FloatArray | undefined;
  const plane = sq * sk;
  const perItem = heads * plane;
  const gemmBatched = kernels().gemmBatched;

  const probs = allocate(q.dtype, b * perItem) as FloatArray;
  for (let i = 0; i < b; i++) {
    gemmBatched(
      false,
      true,
      sq,
      sk,
      d,
      scale,
      qd.subarray(i * sq * h),
      h,
      d,
      kd.subarray(i * sk * h),
      h,
      d,
      0,
      probs.subarray(i * perItem),
      sk,
      plane,
      heads,
    );
    const maskRow = md ? md.subarray(i * sk, (i + 1) * sk) : null;
    kernels().softmaxRows(heads * sq, sk, probs.subarray(i * perItem), maskRow);
  }
  // Pd is never stored whole: one batch item's plane at a time goes through `scratch` (forward,
  // and again for dV in backward), which saves a [b, heads, sq, sk] buffer per layer.
  const keep = dropping ? dropoutMask(options.generator!, probs.length, p) : null;
  const dropScale = p === 1 ? 0 : 1 / (1 - p);
  const scratch = keep ? (allocate(q.dtype, perItem) as FloatArray) : null;
  const droppedItem = (i: number): FloatArray => {
    const base = i * perItem;
    if (!keep || !scratch) return probs.subarray(base, base + perItem);
    kernels().maskedScale(perItem, probs.subarray(base), keep.subarray(base), dropScale, scratch);
    return scratch;
  };
  const context = allocate(q.dtype, b * sq * h) as FloatArray;
  for (let i = 0; i < b; i++) {
    gemmBatched(
      false,
      false,
      sq,
      d,
      sk,
      1,
      droppedItem(i),
      sk,
      plane,
      vd.subarray(i * sk * h),
      h,
      d,
      0,
      context.subarray(i * sq * h),
      h,
      d,
      heads,
    );
  }

  return record("multiHeadAttention", new Tensor(context, q.shape), [q, k, v], (g) => {
    const gd = g.data as FloatArray;
    const gemm = kernels().gemmBatched;
    const gq = q.requiresGrad ? (allocate(q.dtype, q.size) as FloatArray) : null;
    const gk = k.requiresGrad ? (allocate(q.dtype, k.size) as FloatArray) : null;
    const gv = v.requiresGrad ? (allocate(q.dtype, v.size) as FloatArray) : null;
    // One batch item's plane of score gradients at a time: the buffer stays small and hot.
    const gs = allocate(q.dtype, perItem) as FloatArray;
    for (let i = 0; i < b; i++) {
      const gi = gd.subarray(i * sq * h);
      const vi = vd.subarray(i * sk * h);
      if (gv)
        gemm(
          true,
          false,
          sk,
          d,
          sq,
          1,
          droppedItem(i),
          sk,
          plane,
          gi,
          h,
          d,
          0,
          gv.subarray(i * sk * h),
          h,
          d,
          heads,
        );
      if (!gq && !gk) continue;
      gemm(false, true, sq, sk, d, 1, gi, h, d, vi, h, d, 0, gs, sk, plane, heads);
      const keepItem = keep ? keep.subarray(i * perItem) : null;
      kernels().softmaxBackwardRows(heads * sq, sk, probs.subarray(i * perItem), gs, keepItem, dropScale);
      if (gq)
        gemm(
          false,
          false,
          sq,
          d,
          sk,
          scale,
          gs,
          sk,
          plane,
          kd.subarray(i * sk * h),
          h,
          d,
          0,
          gq.subarray(i * sq * h),
          h,
          d,
          heads,
        );
      if (gk)
        gemm(
          true,
          false,
          sk,
          d,
          sq,
          scale,
          gs,
          sk,
          plane,
          qd.subarray(i * sq * h),
          h,
          d,
          0,
          gk.subarray(i * sk * h),
          h,
          d,
          heads,
        );
    }
    return [gq && new Tensor(gq, q.shape), gk && new Tensor(gk, k.shape), gv && new Tensor(gv, v.shape)];
  });
}
