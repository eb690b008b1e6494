// torch.nn.BatchNorm1d over the columns of [n, channels]: weight 1 and bias 0 at the start, and the
// running statistics (mean 0, variance 1, and the count of training batches) as buffers under
// torch's names, so state dicts map one to one.

import { ones, zeros } from "../tensor/ops/creation.js";
import { batchNorm } from "../tensor/ops/nn.js";
import type { FloatArray, FloatDType, Tensor } from "../tensor/tensor.js";
import { Module, type Parameter } from "./module.js";

export interface BatchNorm1dOptions {
  /** Added to the variance (torch's default 1e-5; scVI's layers use 1e-3). */
  eps?: number;
  /** Weight of each training batch in the running statistics (torch's default 0.1; scVI 0.01). */
  momentum?: number;
  /** Default float32. */
  dtype?: FloatDType;
}

/**
 * torch.nn.BatchNorm1d over `[n, features]`: batch statistics in training (updating running ones), running
 * statistics in eval.
 */
export class BatchNorm1d extends Module {
  readonly numFeatures: number;
  readonly eps: number;
  readonly momentum: number;
  readonly weight: Parameter;
  readonly bias: Parameter;
  readonly running_mean: Tensor;
  readonly running_var: Tensor;
  /** Training batches seen (torch's int64 counter; only its value is kept). */
  readonly num_batches_tracked: Tensor;

  constructor(numFeatures: number, options: BatchNorm1dOptions = {}) {
    super();
    const dtype = options.dtype ?? "float32";
    this.numFeatures = numFeatures;
    this.eps = options.eps ?? 1e-5;
    this.momentum = options.momentum ?? 0.1;
    this.weight = this.registerParameter("weight", ones([numFeatures], { dtype }));
    this.bias = this.registerParameter("bias", zeros([numFeatures], { dtype }));
    this.running_mean = this.registerBuffer("running_mean", zeros([numFeatures], { dtype }));
    this.running_var = this.registerBuffer("running_var", ones([numFeatures], { dtype }));
    this.num_batches_tracked = this.registerBuffer("num_batches_tracked", zeros([], { dtype: "int32" }));
  }

  /**
   * Normalizes `x` `[n, features]`: by the batch's statistics in training (updating the running ones), by
   * the running ones in eval.
   */
  forward(x: Tensor): Tensor {
    if (this.training) (this.num_batches_tracked.data as Int32Array)[0]! += 1;
    return batchNorm(x, {
      weight: this.weight,
      bias: this.bias,
      training: this.training,
      runningMean: this.running_mean.data as FloatArray,
      runningVar: this.running_var.data as FloatArray,
      momentum: this.momentum,
      eps: this.eps,
    });
  }
}
