// Adam (Kingma & Ba 2015) and AdamW (Loshchilov & Hutter 2019), exactly torch.optim.Adam / AdamW's
// single-tensor update (torch 1.13 and 2.x), per element:
//   AdamW only: p = p * (1 - lr * weightDecay)             (decoupled decay)
//   Adam only:  g = g + weightDecay * p                    (L2 penalty in the gradient)
//   m = beta1 * m + (1 - beta1) * g
//   v = beta2 * v + (1 - beta2) * g * g
//   vMax = max(vMax, v)                                    (amsgrad; then vMax replaces v below)
//   p = p - (lr / (1 - beta1^t)) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
// eps is added after dividing sqrt(v) by the bias correction, as torch does (not to v itself).
// The element loop is the adamUpdate kernel (native, or src/tensor/kernels/optim-ts.ts).

import { ArgumentError } from "../errors.js";
import { kernels } from "../tensor/kernels/index.js";
import { checkNonNegative, zerosLike } from "./common.js";
import { Optimizer, type ParamGroupSpec } from "./optimizer.js";
import type { FloatArray, OptimizerRule, OptimParam } from "./types.js";

/**
 * Adam's and AdamW's hyper-parameters (torch's `lr`, `betas`, `eps`, `weight_decay`, `amsgrad`, camelCased).
 */
export interface AdamOptions {
  lr: number;
  betas: readonly [number, number];
  eps: number;
  /** Adam: L2 penalty added to the gradient; AdamW: decoupled decay of the parameter. */
  weightDecay: number;
  amsgrad: boolean;
}

function validateAdam(options: Readonly<AdamOptions>, where: string): void {
  checkNonNegative(options.lr, "lr", where);
  checkNonNegative(options.eps, "eps", where);
  checkNonNegative(options.weightDecay, "weightDecay", where);
  const betas = options.betas;
  if (!Array.isArray(betas) || betas.length !== 2 || !betas.every((b) => b >= 0 && b < 1)) {
    throw new ArgumentError(`${where}: betas must be two numbers in [0, 1), got ${JSON.stringify(betas)}`);
  }
}

function initAdam(param: FloatArray, options: Readonly<AdamOptions>): Record<string, FloatArray> {
  const state: Record<string, FloatArray> = { exp_avg: zerosLike(param), exp_avg_sq: zerosLike(param) };
  if (options.amsgrad) state["max_exp_avg_sq"] = zerosLike(param);
  return state;
}

function adamUpdate(
  param: FloatArray,
  grad: FloatArray,
  state: Record<string, FloatArray>,
  step: number,
  lr: number,
  options: Readonly<AdamOptions>,
  decoupled: boolean,
): void {
  const [beta1, beta2] = options.betas;
  const { eps, weightDecay, amsgrad } = options;
  const expAvg = state["exp_avg"]!;
  const expAvgSq = state["exp_avg_sq"]!;
  // amsgrad switched on after the first step starts its maximum from zeros, like a fresh state.
  if (amsgrad) state["max_exp_avg_sq"] ??= zerosLike(param);
  const maxExpAvgSq = amsgrad ? state["max_exp_avg_sq"]! : null;
  const stepSize = lr / (1 - beta1 ** step);
  const biasCorrection2Sqrt = Math.sqrt(1 - beta2 ** step);
  kernels().adamUpdate({
    param,
    grad,
    expAvg,
    expAvgSq,
    maxExpAvgSq,
    stepSize,
    biasCorrection2Sqrt,
    beta1,
    beta2,
    eps,
    decay: decoupled ? 1 - lr * weightDecay : 1,
    l2: decoupled ? 0 : weightDecay,
  });
}

export const adamRule: OptimizerRule<AdamOptions> = {
  name: "adam",
  defaults: { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, amsgrad: false },
  validate: validateAdam,
  init: initAdam,
  update: (param, grad, state, step, lr, options) => adamUpdate(param, grad, state, step, lr, options, false),
};

/** torch.optim.AdamW: the same moments, weight decay applied to the parameter (default 1e-2). */
export const adamWRule: OptimizerRule<AdamOptions> = {
  name: "adamw",
  defaults: { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 1e-2, amsgrad: false },
  validate: validateAdam,
  init: initAdam,
  update: (param, grad, state, step, lr, options) => adamUpdate(param, grad, state, step, lr, options, true),
};

/**
 * torch.optim.Adam(params, lr, betas, eps, weight_decay, amsgrad): an optimizer over a list of
 * parameters (one group) or of groups with their own options. Defaults as torch's (lr 1e-3).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { adam, square, sub, sum, tensor } from "cellarium-ts";
 *
 * const w = tensor([0, 0]).requireGrad();
 * const optimizer = adam([w], { lr: 0.1 });
 * for (let step = 0; step < 200; step++) {
 *   optimizer.zeroGrad();
 *   sum(square(sub(w, tensor([3, -1])))).backward(); // minimum at (3, -1)
 *   optimizer.step();
 * }
 * assert.ok(Math.abs(w.data[0]! - 3) < 1e-2 && Math.abs(w.data[1]! + 1) < 1e-2);
 * ```
 */
export function adam(
  params: readonly OptimParam[] | readonly ParamGroupSpec<AdamOptions>[],
  options: Partial<AdamOptions> = {},
): Optimizer<AdamOptions> {
  return new Optimizer(adamRule, params, options);
}

/** torch.optim.AdamW(params, lr, betas, eps, weight_decay, amsgrad). */
export function adamW(
  params: readonly OptimParam[] | readonly ParamGroupSpec<AdamOptions>[],
  options: Partial<AdamOptions> = {},
): Optimizer<AdamOptions> {
  return new Optimizer(adamWRule, params, options);
}
