// torch.nn.Dropout: inverted dropout while training, the identity in evaluation mode.

import { checkDropoutP, dropout } from "../tensor/ops/dropout.js";
import type { Generator } from "../tensor/random.js";
import type { Tensor } from "../tensor/tensor.js";
import { Module } from "./module.js";

/**
 * torch.nn.Dropout: zeroes each value with probability `p` in training and scales the rest by 1/(1-p);
 * identity in eval. Draws from the generator it is given.
 */
export class Dropout extends Module {
  readonly p: number;
  /** Draws the masks; share one generator across a model to make a run reproducible from one seed. */
  readonly generator: Generator;

  constructor(p: number, generator: Generator) {
    super();
    checkDropoutP(p, "Dropout");
    this.p = p;
    this.generator = generator;
  }

  /**
   * `x` with each value zeroed with probability p and the rest scaled by 1/(1-p) in training; `x` itself in
   * eval.
   */
  forward(x: Tensor): Tensor {
    return dropout(x, this.p, this.training, this.generator);
  }
}
