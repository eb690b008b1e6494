// One BERT encoder layer with post-LayerNorm residual blocks, structured and named as Hugging Face's
// BertLayer so that state dicts map key for key (`attention.self.query.weight`,
// `attention.output.LayerNorm.bias`, `intermediate.dense.weight`, `output.dense.weight`, ...):
//
//   a = LayerNorm(dropout(dense(selfAttention(x, mask))) + x)          attention.{self, output}
//   y = LayerNorm(dropout(dense(act(dense(a)))) + a)                    intermediate, output
//
// Self-attention runs as one fused op (multiHeadAttention) on the query/key/value projections in
// their [b, s, h] layout. Absolute position embeddings live in the embeddings (bert-embeddings.ts);
// the relative variants ("relative_key", "relative_key_query") give each layer's self-attention a
// table of distance embeddings (`attention.self.distance_embedding.weight`, [2 M - 1, head size])
// whose products with the queries (and keys) add to the attention scores.
//
// Weights start as torch's nn.Linear / nn.LayerNorm defaults; a model applies its own
// initialization (BERT: N(0, initializer_range), biases 0) over the whole tree.

import { ArgumentError } from "../../errors.js";
import { Dropout } from "../../nn/dropout.js";
import { Embedding } from "../../nn/embedding.js";
import { LayerNorm } from "../../nn/layer-norm.js";
import { Linear } from "../../nn/linear.js";
import { Module } from "../../nn/module.js";
import { multiHeadAttentionWithProbs } from "../../tensor/ops/attention.js";
import { add } from "../../tensor/ops/elementwise.js";
import { gelu, geluNew, relu, silu } from "../../tensor/ops/nn.js";
import type { Generator } from "../../tensor/random.js";
import { type FloatDType, Tensor } from "../../tensor/tensor.js";
import { POSITION_EMBEDDING_TYPES, type PositionEmbeddingType } from "./position-embedding.js";

/** Hugging Face's hidden_act names for the activations we have. */
export type BertActivation = "gelu" | "gelu_new" | "relu" | "silu";

const ACTIVATIONS: Record<BertActivation, (x: Tensor) => Tensor> = {
  gelu,
  gelu_new: geluNew,
  relu,
  silu,
};

/** Hugging Face's hidden_act names that bertActivation knows. */
export const BERT_ACTIVATIONS = Object.keys(ACTIVATIONS) as readonly BertActivation[];

/** The activation of Hugging Face's hidden_act name, or an ArgumentError naming `where`. */
export function bertActivation(name: string, where: string): (x: Tensor) => Tensor {
  const activation = Object.hasOwn(ACTIVATIONS, name) ? ACTIVATIONS[name as BertActivation] : undefined;
  if (activation === undefined) {
    throw new ArgumentError(
      `${where}: hiddenAct "${name}" is not one of ${Object.keys(ACTIVATIONS).join(", ")}`,
    );
  }
  return activation;
}

/** The BertConfig fields one layer uses (camelCase of Hugging Face's names). */
export interface BertLayerConfig {
  hiddenSize: number;
  numAttentionHeads: number;
  intermediateSize: number;
  hiddenAct: BertActivation;
  hiddenDropoutProb: number;
  attentionProbsDropoutProb: number;
  layerNormEps: number;
  /** Default "absolute" (its embeddings are outside the layer). */
  positionEmbeddingType?: PositionEmbeddingType;
  /** M, the longest sequence: the relative types hold 2 M - 1 distance embeddings. */
  maxPositionEmbeddings?: number;
}

/** A layer's output and its self-attention probabilities [b, heads, s, s] (no gradient). */
export interface BertLayerOutput {
  hidden_bsh: Tensor;
  probs: Tensor;
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
  /** Present for the relative position types. */
  readonly distance_embedding: Embedding | null;
  readonly positionEmbeddingType: PositionEmbeddingType;
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
    const type = config.positionEmbeddingType ?? "absolute";
    if (!POSITION_EMBEDDING_TYPES.includes(type)) {
      throw new ArgumentError(
        `BertSelfAttention: positionEmbeddingType "${type}" is not one of ${POSITION_EMBEDDING_TYPES.join(", ")}`,
      );
    }
    this.positionEmbeddingType = type;
    this.numHeads = config.numAttentionHeads;
    this.query = this.registerModule("query", new Linear(h, h, options));
    this.key = this.registerModule("key", new Linear(h, h, options));
    this.value = this.registerModule("value", new Linear(h, h, options));
    if (type === "absolute") this.distance_embedding = null;
    else {
      const m = config.maxPositionEmbeddings;
      if (m === undefined || !Number.isInteger(m) || m < 1) {
        throw new ArgumentError(
          `BertSelfAttention: positionEmbeddingType "${type}" needs maxPositionEmbeddings, got ${m}`,
        );
      }
      this.distance_embedding = this.registerModule(
        "distance_embedding",
        new Embedding(2 * m - 1, h / config.numAttentionHeads, options),
      );
    }
    this.dropoutP = config.attentionProbsDropoutProb;
    this.generator = options.generator;
  }

  /** hidden [b, s, h], additive mask [b, s] or null -> context [b, s, h] and probabilities. */
  forward(hidden_bsh: Tensor, mask_bs: Tensor | null): BertLayerOutput {
    const { context, probs } = multiHeadAttentionWithProbs(
      this.query.forward(hidden_bsh),
      this.key.forward(hidden_bsh),
      this.value.forward(hidden_bsh),
      this.numHeads,
      {
        mask: mask_bs,
        dropoutP: this.dropoutP,
        training: this.training,
        generator: this.generator,
        relative: this.distance_embedding && {
          embedding: this.distance_embedding.weight,
          keyQuery: this.positionEmbeddingType === "relative_key_query",
        },
      },
    );
    return { hidden_bsh: context, probs };
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

  forward(hidden_bsh: Tensor, mask_bs: Tensor | null): BertLayerOutput {
    const { hidden_bsh: context, probs } = this.self.forward(hidden_bsh, mask_bs);
    return { hidden_bsh: this.output.forward(context, hidden_bsh), probs };
  }
}

export class BertIntermediate extends Module {
  readonly dense: Linear;
  private readonly activation: (x: Tensor) => Tensor;

  constructor(config: BertLayerConfig, options: BertLayerOptions) {
    super();
    this.activation = bertActivation(config.hiddenAct, "BertIntermediate");
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
    return this.forwardWithAttentions(hidden_bsh, mask_bs).hidden_bsh;
  }

  /** forward, also returning the self-attention probabilities (Hugging Face's output_attentions). */
  forwardWithAttentions(hidden_bsh: Tensor, mask_bs: Tensor | null = null): BertLayerOutput {
    const { hidden_bsh: attended, probs } = this.attention.forward(hidden_bsh, mask_bs);
    return { hidden_bsh: this.output.forward(this.intermediate.forward(attended), attended), probs };
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
