// Hugging Face's BertForMaskedLM without the parts Geneformer never uses (pooler, cross-attention,
// caches, head masks), structured and named as Hugging Face's so that its state dict maps key for
// key: `bert.embeddings.*`, `bert.encoder.layer.N.*`, `cls.predictions.transform.{dense,LayerNorm}.*`,
// `cls.predictions.bias`. The decoder of the MLM head is tied to the word embeddings (Hugging
// Face's tie_word_embeddings): it multiplies by `bert.embeddings.word_embeddings.weight` and adds
// `cls.predictions.bias`, so neither `cls.predictions.decoder.weight` nor `.bias` is a parameter
// of its own (Hugging Face's files omit them too, as duplicates).

import { LayerNorm } from "../../nn/layer-norm.js";
import { Linear } from "../../nn/linear.js";
import { Module, ModuleList, type Parameter } from "../../nn/module.js";
import { zeros } from "../../tensor/ops/creation.js";
import { linear } from "../../tensor/ops/linear.js";
import type { Tensor } from "../../tensor/tensor.js";
import {
  type BertActivation,
  BertLayer,
  type BertLayerConfig,
  type BertLayerOptions,
  bertActivation,
  extendedAttentionMask,
} from "./bert.js";
import { BertEmbeddings, type BertEmbeddingsConfig } from "./bert-embeddings.js";

/** Hugging Face's BertConfig fields that BertForMaskedLM uses, camelCased. */
export interface BertConfig
  extends Omit<BertLayerConfig, "maxPositionEmbeddings" | "positionEmbeddingType">,
    BertEmbeddingsConfig {
  numHiddenLayers: number;
  hiddenAct: BertActivation;
}

export interface BertModelOptions {
  /** Keep every layer's input and the last output (Hugging Face's hidden_states: L + 1 tensors). */
  outputHiddenStates?: boolean;
  /** Keep every layer's attention probabilities [b, heads, s, s]. */
  outputAttentions?: boolean;
}

export interface BertModelOutput {
  last_bsh: Tensor;
  /** The embeddings' output, then each layer's output (empty unless outputHiddenStates). */
  hiddenStates: Tensor[];
  /** One [b, heads, s, s] per layer (empty unless outputAttentions). */
  attentions: Tensor[];
}

export class BertEncoder extends Module {
  readonly layer: ModuleList<BertLayer>;

  constructor(config: BertConfig, options: BertLayerOptions) {
    super();
    this.layer = this.registerModule(
      "layer",
      new ModuleList(Array.from({ length: config.numHiddenLayers }, () => new BertLayer(config, options))),
    );
  }
}

/** BertModel without the pooler (BertForMaskedLM builds it with add_pooling_layer=False). */
export class BertModel extends Module {
  readonly embeddings: BertEmbeddings;
  readonly encoder: BertEncoder;

  constructor(config: BertConfig, options: BertLayerOptions) {
    super();
    this.embeddings = this.registerModule("embeddings", new BertEmbeddings(config, options));
    this.encoder = this.registerModule("encoder", new BertEncoder(config, options));
  }

  /** int32 ids [b, s] and attention mask [b, s] (non-zero: attend) -> the encoder's outputs. */
  forward(inputIds_bs: Tensor, attentionMask_bs: Tensor, options: BertModelOptions = {}): BertModelOutput {
    const dtype = this.embeddings.word_embeddings.weight.dtype;
    const mask = extendedAttentionMask(attentionMask_bs, dtype as "float32" | "float64");
    let hidden = this.embeddings.forward(inputIds_bs);
    const hiddenStates: Tensor[] = [];
    const attentions: Tensor[] = [];
    for (const layer of this.encoder.layer.items) {
      if (options.outputHiddenStates) hiddenStates.push(hidden);
      const out = layer.forwardWithAttentions(hidden, mask);
      hidden = out.hidden_bsh;
      if (options.outputAttentions) attentions.push(out.probs);
    }
    if (options.outputHiddenStates) hiddenStates.push(hidden);
    return { last_bsh: hidden, hiddenStates, attentions };
  }
}

/** dense, activation, LayerNorm (BertPredictionHeadTransform). */
export class BertPredictionHeadTransform extends Module {
  readonly dense: Linear;
  readonly LayerNorm: LayerNorm;
  private readonly activation: (x: Tensor) => Tensor;

  constructor(config: BertConfig, options: BertLayerOptions) {
    super();
    this.dense = this.registerModule("dense", new Linear(config.hiddenSize, config.hiddenSize, options));
    this.activation = bertActivation(config.hiddenAct, "BertPredictionHeadTransform");
    this.LayerNorm = this.registerModule(
      "LayerNorm",
      new LayerNorm(config.hiddenSize, { eps: config.layerNormEps, dtype: options.dtype ?? "float32" }),
    );
  }

  forward(hidden: Tensor): Tensor {
    return this.LayerNorm.forward(this.activation(this.dense.forward(hidden)));
  }
}

/** The transform, then the tied decoder: logits = transform(h) E^T + bias over the vocabulary. */
export class BertLMPredictionHead extends Module {
  readonly bias: Parameter;
  readonly transform: BertPredictionHeadTransform;

  constructor(
    config: BertConfig,
    options: BertLayerOptions,
    private readonly decoderWeight: Parameter,
  ) {
    super();
    this.bias = this.registerParameter(
      "bias",
      zeros([config.vocabSize], { dtype: options.dtype ?? "float32" }),
    );
    this.transform = this.registerModule("transform", new BertPredictionHeadTransform(config, options));
  }

  /** hidden [..., h] -> logits [..., vocab]. */
  forward(hidden: Tensor): Tensor {
    return linear(this.transform.forward(hidden), this.decoderWeight, this.bias);
  }
}

/** BertOnlyMLMHead: Hugging Face's `cls` module. */
export class BertOnlyMLMHead extends Module {
  readonly predictions: BertLMPredictionHead;

  constructor(config: BertConfig, options: BertLayerOptions, decoderWeight: Parameter) {
    super();
    this.predictions = this.registerModule(
      "predictions",
      new BertLMPredictionHead(config, options, decoderWeight),
    );
  }
}

export class BertForMaskedLM extends Module {
  readonly bert: BertModel;
  readonly cls: BertOnlyMLMHead;

  constructor(config: BertConfig, options: BertLayerOptions) {
    super();
    this.bert = this.registerModule("bert", new BertModel(config, options));
    this.cls = this.registerModule(
      "cls",
      new BertOnlyMLMHead(config, options, this.bert.embeddings.word_embeddings.weight),
    );
  }
}
