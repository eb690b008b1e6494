// torch.nn.Linear: weight [out, in] and bias [out] (torch's layout, so state dicts map directly),
// y = x W^T + b over the last axis of x.

import { ArgumentError } from "../errors.js";
import { zeros } from "../tensor/ops/creation.js";
import { linear } from "../tensor/ops/linear.js";
import type { Generator } from "../tensor/random.js";
import type { FloatDType, Tensor } from "../tensor/tensor.js";
import { kaimingUniformInit, uniformInit } from "./init.js";
import { Module, type Parameter } from "./module.js";

export interface LinearOptions {
  /** Draws the initial weight and bias. */
  generator: Generator;
  /** Whether there is a bias (default true). */
  bias?: boolean;
  /** Default float32. */
  dtype?: FloatDType;
}

/** torch.nn.Linear: y = x W^T + b, W `[out, in]` initialised as torch does (Kaiming-uniform). */
export class Linear extends Module {
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly weight: Parameter;
  readonly bias: Parameter | null;

  /**
   * Initialized as torch's Linear.reset_parameters: weight by kaiming-uniform with a = sqrt(5),
   * i.e. U(-1/sqrt(in), 1/sqrt(in)), then bias U(-1/sqrt(in), 1/sqrt(in)), drawn in that order.
   */
  constructor(inFeatures: number, outFeatures: number, options: LinearOptions) {
    super();
    for (const [name, v] of [
      ["inFeatures", inFeatures],
      ["outFeatures", outFeatures],
    ] as const) {
      if (!Number.isInteger(v) || v < 1)
        throw new ArgumentError(`Linear: ${name} must be a positive integer, got ${v}`);
    }
    this.inFeatures = inFeatures;
    this.outFeatures = outFeatures;
    const dtype = options.dtype ?? "float32";
    const weight = kaimingUniformInit(
      zeros([outFeatures, inFeatures], { dtype }),
      Math.sqrt(5),
      options.generator,
    );
    this.weight = this.registerParameter("weight", weight);
    if (options.bias ?? true) {
      const bias = uniformInit(zeros([outFeatures], { dtype }), 1 / Math.sqrt(inFeatures), options.generator);
      this.bias = this.registerParameter("bias", bias);
    } else {
      this.bias = null;
    }
  }

  /** x [..., inFeatures] -> [..., outFeatures]. */
  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias);
  }
}
