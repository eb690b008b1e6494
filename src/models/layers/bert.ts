// One BERT encoder layer with post-LayerNorm residual blocks, structured and named as Hugging Face's
// BertLayer so that state dicts map key for key (`attention.self.query.weight`,
// `attention.output.LayerNorm.bias`, `intermediate.dense.weight`, `output.dense.weight`, ...):
//
//   a = LayerNorm(dropout(dense(selfAttention(x, mask))) + x)          attention.{self, output}
//   y = LayerNorm(dropout(dense(act(dense(a)))) + a)                    intermediate, output
//
// Self-attention runs as one fused op (multiHeadAttention) on the query/key/value projections in
// their [b, s, h] layout. Only absolute position embeddings exist so far, and they live in the
// embeddings, not in the layer; the relative variants ("relative_key", "relative_key_query") add a
// term to the attention scores, which belongs in BertSelfAttention.forward next to the mask.
//
// Weights start as torch's nn.Linear / nn.LayerNorm defaults; a model applies its own
// initialization (BERT: N(0, initializer_range), biases 0) over the whole tree.

import { ArgumentError } from "../../errors.js";
import { Dropout } from "../../nn/dropout.js";
import { LayerNorm } from "../../nn/layer-norm.js";
import { Linear } from "../../nn/linear.js";
import { Module } from "../../nn/module.js";
import { multiHeadAttention } from "../../tensor/ops/attention.js";
import { add } from "../../tensor/ops/elementwise.js";
import { gelu, geluNew, relu, silu } from "../../tensor/ops/nn.js";
import type { Generator } from "../../tensor/random.js";
import { type FloatDType, Tensor } from "../../tensor/tensor.js";

/** Hugging Face's hidden_act names for the activations we have. */
export type BertActivation = "gelu" | "gelu_new" | "relu" | "silu";

const ACTIVATIONS: Record<BertActivation, (x: Tensor) => Tensor> = {
  gelu,
  gelu_new: geluNew,
  relu,
  silu,
};

/** The BertConfig fields one layer uses (camelCase of Hugging Face's names). */
export interface BertLayerConfig {
  hiddenSize: number;
  numAttentionHeads: number;
  intermediateSize: number;
  hiddenAct: BertActivation;
  hiddenDropoutProb: number;
  attentionProbsDropoutProb: number;
  layerNormEps: number;
  /** Only "absolute" for now (its embeddings are outside the layer). */
  positionEmbeddingType?: "absolute";
}

/** Draws initial weights and dropout masks; the dtype defaults to float32. */
export interface BertLayerOptions {
  generator: Generator;
  dtype?: FloatDType;
}

export class BertSelfAttention extends Module {
  readonly numHeads: number;
  readonly query: Linear;
  readonly key: Linear;
  readonly value: Linear;
  readonly dropoutP: number;
  private readonly generator: Generator;

  constructor(config: BertLayerConfig, options: BertLayerOptions) {
    super();
    const h = config.hiddenSize;
    if (h % config.numAttentionHeads !== 0) {
      throw new ArgumentError(
        `BertSelfAttention: hiddenSize ${h} is not a multiple of numAttentionHeads ${config.numAttentionHeads}`,
      );
    }
    if ((config.positionEmbeddingType ?? "absolute") !== "absolute") {
      throw new ArgumentError(
        `BertSelfAttention: positionEmbeddingType "${config.positionEmbeddingType}" is not supported (only "absolute")`,
      );
    }
    this.numHeads = config.numAttentionHeads;
    this.query = this.registerModule("query", new Linear(h, h, options));
    this.key = this.registerModule("key", new Linear(h, h, options));
    this.value = this.registerModule("value", new Linear(h, h, options));
    this.dropoutP = config.attentionProbsDropoutProb;
    this.generator = options.generator;
  }

  /** hidden [b, s, h], additive mask [b, s] or null -> context [b, s, h]. */
  forward(hidden_bsh: Tensor, mask_bs: Tensor | null): Tensor {
    return multiHeadAttention(
      this.query.forward(hidden_bsh),
      this.key.forward(hidden_bsh),
      this.value.forward(hidden_bsh),
      this.numHeads,
      { mask: mask_bs, dropoutP: this.dropoutP, training: this.training, generator: this.generator },
    );
  }
}

/** dense, dropout, then LayerNorm of the sum with the block's input (BertSelfOutput / BertOutput). */
export class BertResidualOutput extends Module {
  readonly dense: Linear;
  readonly LayerNorm: LayerNorm;
  readonly dropout: Dropout;

  constructor(inFeatures: number, config: BertLayerConfig, options: BertLayerOptions) {
    super();
    this.dense = this.registerModule("dense", new Linear(inFeatures, config.hiddenSize, options));
    this.LayerNorm = this.registerModule(
      "LayerNorm",
      new LayerNorm(config.hiddenSize, { eps: config.layerNormEps, dtype: options.dtype ?? "float32" }),
    );
    this.dropout = this.registerModule("dropout", new Dropout(config.hiddenDropoutProb, options.generator));
  }

  forward(hidden: Tensor, input_bsh: Tensor): Tensor {
    return this.LayerNorm.forward(add(this.dropout.forward(this.dense.forward(hidden)), input_bsh));
  }
}

export class BertAttention extends Module {
  readonly self: BertSelfAttention;
  readonly output: BertResidualOutput;

  constructor(config: BertLayerConfig, options: BertLayerOptions) {
    super();
    this.self = this.registerModule("self", new BertSelfAttention(config, options));
    this.output = this.registerModule("output", new BertResidualOutput(config.hiddenSize, config, options));
  }

  forward(hidden_bsh: Tensor, mask_bs: Tensor | null): Tensor {
    return this.output.forward(this.self.forward(hidden_bsh, mask_bs), hidden_bsh);
  }
}

export class BertIntermediate extends Module {
  readonly dense: Linear;
  private readonly activation: (x: Tensor) => Tensor;

  constructor(config: BertLayerConfig, options: BertLayerOptions) {
    super();
    const activation = ACTIVATIONS[config.hiddenAct];
    if (activation === undefined) {
      throw new ArgumentError(
        `BertIntermediate: hiddenAct "${config.hiddenAct}" is not one of ${Object.keys(ACTIVATIONS).join(", ")}`,
      );
    }
    this.activation = activation;
    this.dense = this.registerModule(
      "dense",
      new Linear(config.hiddenSize, config.intermediateSize, options),
    );
  }

  forward(hidden_bsh: Tensor): Tensor {
    return this.activation(this.dense.forward(hidden_bsh));
  }
}

export class BertLayer extends Module {
  readonly attention: BertAttention;
  readonly intermediate: BertIntermediate;
  readonly output: BertResidualOutput;

  constructor(config: BertLayerConfig, options: BertLayerOptions) {
    super();
    this.attention = this.registerModule("attention", new BertAttention(config, options));
    this.intermediate = this.registerModule("intermediate", new BertIntermediate(config, options));
    this.output = this.registerModule(
      "output",
      new BertResidualOutput(config.intermediateSize, config, options),
    );
  }

  /** hidden [b, s, h] and an additive mask [b, s] (see extendedAttentionMask) or null -> [b, s, h]. */
  forward(hidden_bsh: Tensor, mask_bs: Tensor | null = null): Tensor {
    const attended = this.attention.forward(hidden_bsh, mask_bs);
    return this.output.forward(this.intermediate.forward(attended), attended);
  }
}

// torch.finfo(dtype).min, what Hugging Face adds to the scores of masked-out keys.
const FLOAT32_MIN = -3.4028234663852886e38;

/**
 * Hugging Face's get_extended_attention_mask for an encoder, without the unit axes: 0 where
 * attentionMask_bs is non-zero (attend) and the dtype's most negative finite value where it is 0.
 */
export function extendedAttentionMask(attentionMask_bs: Tensor, dtype: FloatDType = "float32"): Tensor {
  if (attentionMask_bs.ndim !== 2) {
    throw new ArgumentError(
      `extendedAttentionMask: needs [b, s], got [${attentionMask_bs.shape.join(", ")}]`,
    );
  }
  const masked = dtype === "float32" ? FLOAT32_MIN : -Number.MAX_VALUE;
  const out =
    dtype === "float32" ? new Float32Array(attentionMask_bs.size) : new Float64Array(attentionMask_bs.size);
  const src = attentionMask_bs.data;
  for (let i = 0; i < out.length; i++) out[i] = src[i] === 0 ? masked : 0;
  return new Tensor(out, attentionMask_bs.shape);
}
