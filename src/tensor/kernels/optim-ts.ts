// The TypeScript optimizer kernels (the native ones are src/native/optim_template.h): per element
// in double, each state value rounded once when stored, so both backends step to the same bits.

import type { FloatArray, KernelArgs } from "./types.js";

export function adamUpdateTs<T extends FloatArray>(a: KernelArgs<"adamUpdate", T>): void {
  const { param, grad, expAvg, expAvgSq, maxExpAvgSq, stepSize, biasCorrection2Sqrt, beta1, beta2, eps } = a;
  const { decay, l2 } = a;
  const n = param.length;
  for (let i = 0; i < n; i++) {
    const p = param[i]! * decay;
    const g = l2 === 0 ? grad[i]! : grad[i]! + l2 * p;
    // Store the moments before using them, so float32 state rounds as torch's float32 tensors do.
    expAvg[i] = beta1 * expAvg[i]! + (1 - beta1) * g;
    expAvgSq[i] = beta2 * expAvgSq[i]! + (1 - beta2) * g * g;
    let v = expAvgSq[i]!;
    if (maxExpAvgSq !== null) {
      if (v > maxExpAvgSq[i]!) maxExpAvgSq[i] = v;
      v = maxExpAvgSq[i]!;
    }
    param[i] = p - (stepSize * expAvg[i]!) / (Math.sqrt(v) / biasCorrection2Sqrt + eps);
  }
}

export function sumSquaresTs(args: KernelArgs<"sumSquares">): number {
  const { n, x } = args;
  let total = 0;
  for (let i = 0; i < n; i++) total += x[i]! * x[i]!;
  return total;
}
