// Stochastic gradient descent with momentum, exactly torch.optim.SGD's update (torch 1.13 and 2.x):
//   d = g + weightDecay * p
//   b = d when the parameter has no momentum buffer yet, else momentum * b + (1 - dampening) * d
//   d = d + momentum * b with nesterov, else d = b        (only when momentum != 0)
//   p = p - lr * d

import { ArgumentError } from "../errors.js";
import { checkNonNegative, zerosLike } from "./common.js";
import { Optimizer, type ParamGroupSpec } from "./optimizer.js";
import type { OptimizerRule, OptimParam } from "./types.js";

/**
 * SGD's hyper-parameters (torch.optim.SGD's `lr`, `momentum`, `dampening`, `weight_decay`, `nesterov`,
 * camelCased).
 */
export interface SgdOptions {
  /** torch 1.13 makes lr required; torch >= 2.2 defaults to 1e-3, which we follow. */
  lr: number;
  momentum: number;
  dampening: number;
  nesterov: boolean;
  /** L2 penalty added to the gradient (coupled weight decay). */
  weightDecay: number;
}

export const sgdRule: OptimizerRule<SgdOptions> = {
  name: "sgd",
  defaults: { lr: 1e-3, momentum: 0, dampening: 0, nesterov: false, weightDecay: 0 },

  validate(options, where) {
    checkNonNegative(options.lr, "lr", where);
    checkNonNegative(options.momentum, "momentum", where);
    checkNonNegative(options.dampening, "dampening", where);
    checkNonNegative(options.weightDecay, "weightDecay", where);
    // torch: "Nesterov momentum requires a momentum and zero dampening"
    if (options.nesterov && (options.momentum <= 0 || options.dampening !== 0)) {
      throw new ArgumentError(
        `${where}: nesterov needs momentum > 0 and dampening 0, got momentum ${options.momentum}, dampening ${options.dampening}`,
      );
    }
  },

  // The momentum buffer is created by the first step that uses momentum, as in torch (where a
  // missing buffer means "copy the gradient"), so momentum may also be switched on mid-run.
  init() {
    return {};
  },

  update(param, grad, state, _step, lr, options) {
    const { momentum, dampening, nesterov, weightDecay } = options;
    const n = param.length;
    if (momentum === 0) {
      for (let i = 0; i < n; i++) {
        const p = param[i]!;
        param[i] = p - lr * (weightDecay === 0 ? grad[i]! : grad[i]! + weightDecay * p);
      }
      return;
    }
    const first = state["momentum_buffer"] === undefined;
    const buf = first ? zerosLike(param) : state["momentum_buffer"]!;
    state["momentum_buffer"] = buf;
    const keep = 1 - dampening;
    for (let i = 0; i < n; i++) {
      const p = param[i]!;
      // torch skips the decay term when weightDecay is 0 (so an infinite p does not make NaN).
      const d = weightDecay === 0 ? grad[i]! : grad[i]! + weightDecay * p;
      // Round the buffer to its storage type before using it, as torch does with a float32 buffer.
      buf[i] = first ? d : momentum * buf[i]! + keep * d;
      param[i] = p - lr * (nesterov ? d + momentum * buf[i]! : buf[i]!);
    }
  },
};

/** torch.optim.SGD(params, lr, momentum, dampening, weight_decay, nesterov). */
export function sgd(
  params: readonly OptimParam[] | readonly ParamGroupSpec<SgdOptions>[],
  options: Partial<SgdOptions> = {},
): Optimizer<SgdOptions> {
  return new Optimizer(sgdRule, params, options);
}
