// TypeScript fallbacks of the row kernels (see KERNELS.softmaxRows, softmaxBackwardRows,
// maskedScale and dropoutKeep): the attention softmax with its additive mask, its backward with
// dropout folded in, dropout's masked scaling and its keep mask. Sums in double, as the C versions in src/native/rows_template.h.

import type { FloatArray, KernelArgs } from "./types.js";

export function softmaxRowsTs<T extends FloatArray>(args: KernelArgs<"softmaxRows", T>): void {
  const { rows, len, x, bias } = args;
  for (let r = 0; r < rows; r++) {
    const o = r * len;
    let m = -Infinity;
    if (bias !== null) {
      for (let j = 0; j < len; j++) {
        x[o + j]! += bias[j]!;
        if (x[o + j]! > m) m = x[o + j]!;
      }
    } else {
      for (let j = 0; j < len; j++) if (x[o + j]! > m) m = x[o + j]!;
    }
    if (m === -Infinity) m = 0; // an all -inf row gives NaN, as in torch
    let total = 0;
    for (let j = 0; j < len; j++) {
      const e = Math.exp(x[o + j]! - m);
      x[o + j] = e;
      total += e;
    }
    const inv = 1 / total;
    for (let j = 0; j < len; j++) x[o + j]! *= inv;
  }
}

export function softmaxBackwardRowsTs<T extends FloatArray>(
  args: KernelArgs<"softmaxBackwardRows", T>,
): void {
  const { rows, len, p, g, keep, keepScale } = args;
  for (let r = 0; r < rows; r++) {
    const o = r * len;
    let dot = 0;
    if (keep !== null) {
      for (let j = 0; j < len; j++) {
        g[o + j] = keep[o + j] !== 0 ? g[o + j]! * keepScale : 0;
        dot += g[o + j]! * p[o + j]!;
      }
    } else {
      for (let j = 0; j < len; j++) dot += g[o + j]! * p[o + j]!;
    }
    for (let j = 0; j < len; j++) g[o + j] = p[o + j]! * (g[o + j]! - dot);
  }
}

export function maskedScaleTs<T extends FloatArray>(args: KernelArgs<"maskedScale", T>): void {
  const { n, src, keep, scale, dst } = args;
  for (let i = 0; i < n; i++) dst[i] = keep[i] !== 0 ? src[i]! * scale : 0;
}

export function dropoutKeepTs(args: KernelArgs<"dropoutKeep">): void {
  const { n, words, threshold, keep } = args;
  for (let i = 0; i < n; i++) {
    const word = words[i >> 1]!;
    keep[i] = (i & 1 ? word >>> 16 : word & 0xffff) >= threshold ? 1 : 0;
  }
}

// Tiles of TILE x TILE elements: the reads and the writes of a tile each stay within a few cache
// lines per row, where a row-by-row transpose strides through memory on one side.
const TILE = 32;

export function transposeTs<T extends FloatArray>(args: KernelArgs<"transpose", T>): void {
  const { rows, cols, src, dst } = args;
  for (let r0 = 0; r0 < rows; r0 += TILE) {
    const r1 = Math.min(rows, r0 + TILE);
    for (let c0 = 0; c0 < cols; c0 += TILE) {
      const c1 = Math.min(cols, c0 + TILE);
      for (let r = r0; r < r1; r++) {
        const row = r * cols;
        for (let c = c0; c < c1; c++) dst[c * rows + r] = src[row + c]!;
      }
    }
  }
}
