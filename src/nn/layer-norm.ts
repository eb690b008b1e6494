// torch.nn.LayerNorm over the trailing axes normalizedShape, with weight 1 and bias 0 at the start.

import { ones, zeros } from "../tensor/ops/creation.js";
import { layerNorm } from "../tensor/ops/nn.js";
import type { FloatDType, Tensor } from "../tensor/tensor.js";
import { Module, type Parameter } from "./module.js";

export interface LayerNormModuleOptions {
  /** Added to the variance (torch's default 1e-5; BERT configs use 1e-12). */
  eps?: number;
  /** Whether there are a weight and a bias (default true). */
  elementwiseAffine?: boolean;
  /** Default float32. */
  dtype?: FloatDType;
}

/** torch.nn.LayerNorm over the last dimension, with learnable scale and shift. */
export class LayerNorm extends Module {
  readonly normalizedShape: readonly number[];
  readonly eps: number;
  readonly weight: Parameter | null;
  readonly bias: Parameter | null;

  constructor(normalizedShape: number | readonly number[], options: LayerNormModuleOptions = {}) {
    super();
    this.normalizedShape = typeof normalizedShape === "number" ? [normalizedShape] : [...normalizedShape];
    this.eps = options.eps ?? 1e-5;
    const dtype = options.dtype ?? "float32";
    if (options.elementwiseAffine ?? true) {
      this.weight = this.registerParameter("weight", ones(this.normalizedShape, { dtype }));
      this.bias = this.registerParameter("bias", zeros(this.normalizedShape, { dtype }));
    } else {
      this.weight = null;
      this.bias = null;
    }
  }

  /** `x` normalized over its last dimension, then scaled and shifted. */
  forward(x: Tensor): Tensor {
    return layerNorm(x, this.normalizedShape, { weight: this.weight, bias: this.bias, eps: this.eps });
  }
}
