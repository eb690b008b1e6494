// A linear layer in the maximal update parametrization (upstream's MuLinear): y = x W^T + b with W
// and b abcd-parameters whose exponents come from the seed's tables (c = 0 everywhere, so the
// optimizers run with lrScale 1; see abcd-parameter.ts for why that suffices for SGD and Adam):
//
//   SGD         input & biases   hidden   output        Adam/AdamW  input & biases   hidden   output
//   a               -0.5           0        0.5           a               0            1        1
//   b                0.5           0.5      0.5           b               0           -0.5      0
//   d                0             0        0             d               1            2        1
//   n          out_features   in_features  in_features    n          out_features   in_features  in_features
//
// The bias column applies to the bias of every layer type, and the width of an output layer's bias
// is the base width (its output dimension does not grow with the model). The resulting scales of W
// in n: input Theta(1), hidden Theta(1/sqrt(n)), output Theta(1/n).
//
// Parameters are registered as `weight_unscaled` and `bias_unscaled`, upstream's state-dict names.

import { ArgumentError } from "../../errors.js";
import { Module } from "../../nn/module.js";
import { zeros } from "../../tensor/ops/creation.js";
import { linear } from "../../tensor/ops/linear.js";
import type { Generator } from "../../tensor/random.js";
import type { FloatDType, Tensor } from "../../tensor/tensor.js";
import { AbcdParameter } from "./abcd-parameter.js";

export type MuLayer = "input" | "hidden" | "output";
export type MuOptimizer = "sgd" | "adam" | "adamw";

interface Exponents {
  readonly a: number;
  readonly b: number;
  readonly d: number;
}

type Column = MuLayer | "bias";

// The seed's two tables, column by column.
const TABLES: Record<"sgd" | "adam", Record<Column, Exponents>> = {
  sgd: {
    input: { a: -0.5, b: 0.5, d: 0 },
    hidden: { a: 0, b: 0.5, d: 0 },
    output: { a: 0.5, b: 0.5, d: 0 },
    bias: { a: -0.5, b: 0.5, d: 0 },
  },
  adam: {
    input: { a: 0, b: 0, d: 1 },
    hidden: { a: 1, b: -0.5, d: 2 },
    output: { a: 1, b: 0, d: 1 },
    bias: { a: 0, b: 0, d: 1 },
  },
};

export interface MuLinearOptions {
  /** Whether the layer learns an additive bias (required, as upstream). */
  bias: boolean;
  layer: MuLayer;
  optimizer: MuOptimizer;
  /** Draws the initial weight, then the bias. */
  generator: Generator;
  /** The weight's initialization std at the base width (default 1). */
  weightInitStd?: number;
  /** The bias's initialization std at the base width (default 0: zeros). */
  biasInitStd?: number;
  /** The learning-rate scale alpha of the weight and the bias (default 1). */
  lrScale?: number;
  /** The base width n0 (default 1). */
  baseWidth?: number;
  /** Default float32. */
  dtype?: FloatDType;
}

/**
 * A linear layer whose weight and bias are {@link AbcdParameter}s (upstream's `MuLinear`, muP): hyper-
 * parameters transfer across widths. See docs/mup.md.
 */
export class MuLinear extends Module {
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly layer: MuLayer;
  readonly optimizer: MuOptimizer;
  readonly weightParam: AbcdParameter;
  readonly biasParam: AbcdParameter | null;

  constructor(inFeatures: number, outFeatures: number, options: MuLinearOptions) {
    super();
    for (const [name, v] of [
      ["inFeatures", inFeatures],
      ["outFeatures", outFeatures],
    ] as const) {
      if (!Number.isInteger(v) || v < 1)
        throw new ArgumentError(`MuLinear: ${name} must be a positive integer, got ${v}`);
    }
    const { layer, optimizer } = options;
    if (layer !== "input" && layer !== "hidden" && layer !== "output")
      throw new ArgumentError(
        `MuLinear: layer must be "input", "hidden" or "output", got ${JSON.stringify(layer)}`,
      );
    if (optimizer !== "sgd" && optimizer !== "adam" && optimizer !== "adamw") {
      throw new ArgumentError(
        `MuLinear: optimizer must be "sgd", "adam" or "adamw", got ${JSON.stringify(optimizer)}`,
      );
    }
    this.inFeatures = inFeatures;
    this.outFeatures = outFeatures;
    this.layer = layer;
    this.optimizer = optimizer;
    const table = TABLES[optimizer === "sgd" ? "sgd" : "adam"];
    const dtype = options.dtype ?? "float32";
    const shared = {
      generator: options.generator,
      lrScale: options.lrScale ?? 1,
      baseWidth: options.baseWidth ?? 1,
    };
    this.weightParam = new AbcdParameter(zeros([outFeatures, inFeatures], { dtype }), {
      ...shared,
      ...table[layer],
      width: layer === "input" ? outFeatures : inFeatures,
      initStd: options.weightInitStd ?? 1,
    });
    this.registerParameter("weight_unscaled", this.weightParam.unscaled);
    if (options.bias) {
      this.biasParam = new AbcdParameter(zeros([outFeatures], { dtype }), {
        ...shared,
        ...table.bias,
        width: layer === "output" ? shared.baseWidth : outFeatures,
        initStd: options.biasInitStd ?? 0,
      });
      this.registerParameter("bias_unscaled", this.biasParam.unscaled);
    } else {
      this.biasParam = null;
    }
  }

  /** The effective weight W [out, in] = multiplier * weight_unscaled (a new graph node per access). */
  get weight(): Tensor {
    return this.weightParam.value();
  }

  /** The effective bias [out], or null without one. */
  get bias(): Tensor | null {
    return this.biasParam?.value() ?? null;
  }

  /** x [..., inFeatures] -> [..., outFeatures]. */
  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias);
  }
}
