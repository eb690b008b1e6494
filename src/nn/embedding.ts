// torch.nn.Embedding: a [numEmbeddings, embeddingDim] table looked up by int32 ids.

import { ArgumentError } from "../errors.js";
import { zeros } from "../tensor/ops/creation.js";
import { embedding } from "../tensor/ops/embedding.js";
import type { Generator } from "../tensor/random.js";
import type { FloatDType, Tensor } from "../tensor/tensor.js";
import { normalInit } from "./init.js";
import { Module, type Parameter } from "./module.js";

export interface EmbeddingOptions {
  /** Draws the initial table. */
  generator: Generator;
  /** A row that starts at zero and never receives gradient (torch's padding_idx); negative counts from the end. */
  paddingIdx?: number | null;
  /** Default float32. */
  dtype?: FloatDType;
}

/** torch.nn.Embedding: a learnable table of `numEmbeddings` vectors looked up by int32 ids. */
export class Embedding extends Module {
  readonly numEmbeddings: number;
  readonly embeddingDim: number;
  readonly paddingIdx: number | null;
  readonly weight: Parameter;

  /** Initialized as torch: N(0, 1), with the padding row set to zero. */
  constructor(numEmbeddings: number, embeddingDim: number, options: EmbeddingOptions) {
    super();
    for (const [name, v] of [
      ["numEmbeddings", numEmbeddings],
      ["embeddingDim", embeddingDim],
    ] as const) {
      if (!Number.isInteger(v) || v < 1) {
        throw new ArgumentError(`Embedding: ${name} must be a positive integer, got ${v}`);
      }
    }
    const padding = options.paddingIdx ?? null;
    if (
      padding !== null &&
      (!Number.isInteger(padding) || padding < -numEmbeddings || padding >= numEmbeddings)
    ) {
      throw new ArgumentError(
        `Embedding: paddingIdx ${padding} is outside [-${numEmbeddings}, ${numEmbeddings})`,
      );
    }
    this.numEmbeddings = numEmbeddings;
    this.embeddingDim = embeddingDim;
    this.paddingIdx = padding === null || padding >= 0 ? padding : padding + numEmbeddings;
    const weight = normalInit(
      zeros([numEmbeddings, embeddingDim], { dtype: options.dtype ?? "float32" }),
      options.generator,
    );
    if (this.paddingIdx !== null)
      weight.data.fill(0, this.paddingIdx * embeddingDim, (this.paddingIdx + 1) * embeddingDim);
    this.weight = this.registerParameter("weight", weight);
  }

  /** int32 ids of any shape -> [...ids.shape, embeddingDim]. */
  forward(ids: Tensor): Tensor {
    return embedding(this.weight, ids, this.paddingIdx);
  }
}
