// Checks reverse-mode gradients against central finite differences in float64.
//
// A non-scalar output y is projected onto fixed pseudo-random weights w (loss = sum(w * y)), so one
// backward pass gives the vector-Jacobian product w^T J that each input's finite differences are
// compared with; random weights make a wrong Jacobian entry show up unless it cancels by chance.

import { ArgumentError } from "../errors.js";
import { Generator } from "./random.js";
import { formatShape, noGrad, Tensor } from "./tensor.js";

export interface GradcheckOptions {
  /** Finite-difference step (default 1e-6). */
  eps?: number;
  /** Absolute tolerance (default 1e-6). */
  atol?: number;
  /** Relative tolerance, to the numeric gradient (default 1e-4). */
  rtol?: number;
  /** Seed of the projection weights (default 0). */
  seed?: number;
}

export interface GradcheckResult {
  ok: boolean;
  /** Largest |analytic - numeric| / (atol + rtol |numeric|) over all checked elements (<= 1 passes). */
  worstRatio: number;
  /** One line naming the worst element (passing or not), its two gradients and the tolerance. */
  report: string;
}

function projection(output: Tensor, weights: Float64Array): number {
  const data = output.data;
  let total = 0;
  for (let i = 0; i < data.length; i++) total += data[i]! * weights[i]!;
  return total;
}

function unravel(flat: number, shape: readonly number[]): number[] {
  const index = new Array<number>(shape.length);
  for (let i = shape.length - 1; i >= 0; i--) {
    index[i] = flat % shape[i]!;
    flat = Math.floor(flat / shape[i]!);
  }
  return index;
}

/**
 * Compares the gradients that backward() gives every input requiring grad with central finite
 * differences of fn. Inputs requiring grad must be float64; their data are perturbed in place and
 * restored, and their `grad` is left as it was.
 */
export function gradcheck(
  fn: (...inputs: Tensor[]) => Tensor,
  inputs: readonly Tensor[],
  options: GradcheckOptions = {},
): GradcheckResult {
  const eps = options.eps ?? 1e-6;
  const atol = options.atol ?? 1e-6;
  const rtol = options.rtol ?? 1e-4;
  const checked = inputs.filter((t) => t.requiresGrad);
  if (checked.length === 0) throw new ArgumentError("gradcheck: no input requires grad");
  for (const t of checked) {
    if (t.dtype !== "float64") throw new ArgumentError(`gradcheck: inputs must be float64, got ${t.dtype}`);
  }
  const saved = checked.map((t) => t.grad);
  for (const t of checked) t.grad = null;
  const output = fn(...inputs);
  if (output.dtype !== "float64")
    throw new ArgumentError(`gradcheck: fn must return float64, got ${output.dtype}`);
  const weights = new Float64Array(output.size);
  new Generator(options.seed ?? 0).fillUniform(weights, -1, 1);
  if (output.requiresGrad) output.backward(new Tensor(weights, output.shape));
  const analytic = checked.map((t) => t.grad?.data ?? new Float64Array(t.size));
  checked.forEach((t, k) => {
    t.grad = saved[k]!;
  });

  let worstRatio = -1;
  let report = "";
  noGrad(() => {
    checked.forEach((t, k) => {
      const data = t.data;
      for (let i = 0; i < data.length; i++) {
        const original = data[i]!;
        data[i] = original + eps;
        const plus = projection(fn(...inputs), weights);
        data[i] = original - eps;
        const minus = projection(fn(...inputs), weights);
        data[i] = original;
        const numeric = (plus - minus) / (2 * eps);
        const exact = analytic[k]![i]!;
        const tolerance = atol + rtol * Math.abs(numeric);
        const ratio = Number.isNaN(exact - numeric) ? Infinity : Math.abs(exact - numeric) / tolerance;
        if (ratio > worstRatio) {
          worstRatio = ratio;
          report =
            `gradcheck: input ${inputs.indexOf(t)} ${formatShape(t.shape)} at [${unravel(i, t.shape).join(", ")}]: ` +
            `analytic ${exact}, numeric ${numeric}, |difference| ${Math.abs(exact - numeric)} vs tolerance ${tolerance}`;
        }
      }
    });
  });
  return { ok: worstRatio <= 1, worstRatio, report };
}
