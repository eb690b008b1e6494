// TypeScript fallbacks of the LayerNorm row kernels (see KERNELS.layerNormRows and
// layerNormBackwardRows); the C versions are in src/native/rows_template.h.

import type { FloatArray, KernelArgs } from "./types.js";

export function layerNormRowsTs<T extends FloatArray>(args: KernelArgs<"layerNormRows", T>): void {
  const { rows, len, x, w, b, eps, y, mean, rstd } = args;
  for (let r = 0; r < rows; r++) {
    const base = r * len;
    let total = 0;
    for (let j = 0; j < len; j++) total += x[base + j]!;
    const mu = total / len;
    // Two passes: the variance of centered values does not cancel catastrophically.
    let sq = 0;
    for (let j = 0; j < len; j++) {
      const c = x[base + j]! - mu;
      sq += c * c;
    }
    const rs = 1 / Math.sqrt(sq / len + eps);
    mean[r] = mu;
    rstd[r] = rs;
    for (let j = 0; j < len; j++) {
      const h = (x[base + j]! - mu) * rs;
      y[base + j] = (w ? h * w[j]! : h) + (b ? b[j]! : 0);
    }
  }
}

export function layerNormBackwardRowsTs<T extends FloatArray>(
  args: KernelArgs<"layerNormBackwardRows", T>,
): void {
  const { rows, len, g, x, w, mean, rstd, dx, dw, db } = args;
  for (let r = 0; r < rows; r++) {
    const base = r * len;
    const mu = mean[r]!;
    const rs = rstd[r]!;
    let meanGh = 0;
    let meanGhXhat = 0;
    for (let j = 0; j < len; j++) {
      const gh = w ? g[base + j]! * w[j]! : g[base + j]!;
      const h = (x[base + j]! - mu) * rs;
      meanGh += gh;
      meanGhXhat += gh * h;
      if (dw) dw[j]! += g[base + j]! * h;
      if (db) db[j]! += g[base + j]!;
    }
    if (!dx) continue;
    meanGh /= len;
    meanGhXhat /= len;
    for (let j = 0; j < len; j++) {
      const gh = w ? g[base + j]! * w[j]! : g[base + j]!;
      const h = (x[base + j]! - mu) * rs;
      dx[base + j] = rs * (gh - meanGh - h * meanGhXhat);
    }
  }
}
