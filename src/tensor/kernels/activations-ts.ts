// TypeScript fallbacks of the activation kernels (see KERNELS.gelu and geluBackward).

import { erf } from "../special.js";
import type { FloatArray, KernelArgs } from "./types.js";

const SQRT1_2 = Math.SQRT1_2;
const INV_SQRT_2PI = 0.3989422804014327;

export function geluTs<T extends FloatArray>(args: KernelArgs<"gelu", T>): void {
  const { n, x, y } = args;
  for (let i = 0; i < n; i++) y[i] = 0.5 * x[i]! * (1 + erf(x[i]! * SQRT1_2));
}

export function geluBackwardTs<T extends FloatArray>(args: KernelArgs<"geluBackward", T>): void {
  const { n, g, x, y, dx } = args;
  for (let i = 0; i < n; i++) {
    const v = x[i]!;
    const cdf = Math.abs(v) < 1e-30 ? 0.5 : y[i]! / v;
    dx[i] = g[i]! * (cdf + v * INV_SQRT_2PI * Math.exp(-0.5 * v * v));
  }
}
