// Geneformer (seed API; Theodoris et al., "Transfer learning enables predictions in network
// biology"): a BERT masked-language model over cells written as their genes in rank order
// (geneformer-tokens.ts). Upstream wraps transformers.BertForMaskedLM; here it is our own
// BertForMaskedLM (layers/bert-masked-lm.ts) with the same parameter names, so the state dict keys
// are upstream's (`bert.bert.embeddings.word_embeddings.weight`, `bert.cls.predictions.bias`, ...).
//
// Differences from upstream, each deliberate:
// - The random replacement token of MLM masking is a real gene token, uniform on [2, genes + 2).
//   Upstream draws torch.randint(genes), i.e. token ids [0, genes): PAD and MASK can come up and
//   the last two genes never do.
// - Vocabulary logits are computed only at the chosen positions (upstream computes them at every
//   position and ignores the others in the loss): the same loss and gradients, a fraction of the
//   work of the largest matrix product.
// - Training sequences stop after the batch's last attended position (see tokenize's `full`): the
//   loss is the same. predict keeps upstream's min(genes, max_position_embeddings) positions
//   whenever a per-position output is requested.
// - A batch where no position is chosen (possible for tiny batches) returns no loss, and the step
//   does nothing; upstream's mean over zero positions would be NaN.
// - predict adds cell_embedding_nh (the mean of the last hidden layer over attended positions) and
//   returns logits only when asked (output_logits); stacked tensors stand for upstream's tuples.

import type { Batch } from "../data/batch.js";
import { requireCounts } from "../data/check-block.js";
import { ArgumentError } from "../errors.js";
import type { JsonValue } from "../json.js";
import { Embedding } from "../nn/embedding.js";
import { normalInit } from "../nn/init.js";
import { LayerNorm } from "../nn/layer-norm.js";
import { Linear } from "../nn/linear.js";
import { Module } from "../nn/module.js";
import { indexSelect } from "../tensor/ops/indexing.js";
import { crossEntropy } from "../tensor/ops/loss.js";
import { argmax } from "../tensor/ops/reduce.js";
import { reshape, stack } from "../tensor/ops/shape.js";
import { Generator, type GeneratorState } from "../tensor/random.js";
import { noGrad, Tensor } from "../tensor/tensor.js";
import { checkVarNames } from "./check-var-names.js";
import { FIRST_GENE_TOKEN, type GeneformerTokens, MASK_TOKEN, tokenize } from "./geneformer-tokens.js";
import type { BertActivation } from "./layers/bert.js";
import { type BertConfig, BertForMaskedLM, type BertModelOutput } from "./layers/bert-masked-lm.js";
import { POSITION_EMBEDDING_TYPES, type PositionEmbeddingType } from "./layers/position-embedding.js";
import type { CellariumModel, ModelOutput, PredictOutput } from "./model.js";

/** The sizes a Geneformer takes when its options leave them out (upstream's defaults). */
export const GENEFORMER_DEFAULTS = {
  hidden_size: 256,
  num_hidden_layers: 6,
  num_attention_heads: 4,
  intermediate_size: 512,
  max_position_embeddings: 2048,
  type_vocab_size: 2,
} as const;

export interface GeneformerOptions {
  readonly var_names_g: readonly string[];
  readonly hidden_size?: number;
  readonly num_hidden_layers?: number;
  readonly num_attention_heads?: number;
  readonly intermediate_size?: number;
  readonly hidden_act?: BertActivation;
  readonly hidden_dropout_prob?: number;
  readonly attention_probs_dropout_prob?: number;
  readonly max_position_embeddings?: number;
  readonly type_vocab_size?: number;
  readonly initializer_range?: number;
  readonly position_embedding_type?: PositionEmbeddingType;
  readonly layer_norm_eps?: number;
  readonly mlm_probability?: number;
  /**
   * Seeds the model's generator: initial weights, dropout masks and MLM masking (upstream draws
   * from torch's global generator, seeded by seed_everything). Default 0.
   */
  readonly seed?: number;
}

/** predict's arguments by the seed's names (all outputs default to true, as the seed says). */
export interface GeneformerPredictOptions {
  readonly output_hidden_states?: boolean;
  readonly output_attentions?: boolean;
  readonly output_input_ids?: boolean;
  readonly output_attention_mask?: boolean;
  /** Vocabulary logits at every position [n, s, vocab] (upstream always returns them); default false. */
  readonly output_logits?: boolean;
  /** Genes set above the batch's maximum before ranking, the first listed ranking first. */
  readonly feature_activation?: readonly string[] | null;
  /** Genes set to zero before ranking (another gene takes the place). */
  readonly feature_deletion?: readonly string[] | null;
  /** Gene -> token id, applied to the tokens after ranking (e.g. 1 = MASK, 0 = PAD). */
  readonly feature_map?: Readonly<Record<string, number>> | null;
}

/** One MLM draw: the corrupted inputs, and the chosen positions (flat b * s + p) with their labels. */
export interface MaskedTokens {
  readonly input_ids: Int32Array;
  readonly positions: Int32Array;
  readonly labels: Int32Array;
}

/**
 * Geneformer (upstream's `cellarium.ml.models.Geneformer`; Theodoris et al. 2023): a BERT
 * encoder over each cell's genes ranked by expression, trained by masked-gene prediction. Build it
 * from scratch with BERT's hyper-parameters, or load a published model with
 * `loadPretrainedGeneformer` from `cellarium-ts/node`. Its input is a batch of counts that have
 * been normalized and divided by the gene medians (NormalizeTotal, then {@link DivideByScale}
 * with the model's `scale_g`); `predict` returns the cell embeddings `cell_embedding_nh` and,
 * optionally, hidden states, attentions and in-silico perturbations.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Geneformer, Tensor } from "cellarium-ts";
 *
 * const var_names_g = ["g0", "g1", "g2", "g3", "g4"];
 * const model = new Geneformer({
 *   var_names_g,
 *   hidden_size: 8,
 *   num_hidden_layers: 1,
 *   num_attention_heads: 2,
 *   intermediate_size: 16,
 *   max_position_embeddings: 8,
 * });
 * model.train(false);
 * const x_ng = { format: "dense" as const, nRows: 2, nCols: 5, data: new Float32Array([3, 0, 1, 7, 2, 0, 2, 5, 1, 0]) };
 * const out = model.predict({ x_ng, var_names_g }, { output_attentions: false, output_hidden_states: false });
 * assert.deepEqual((out.cell_embedding_nh as Tensor).shape, [2, 8]);
 * ```
 */
export class Geneformer extends Module implements CellariumModel {
  readonly className = "Geneformer";
  /** validate's MLM accuracy, a metrics.csv column the report plots against step. */
  readonly validationMetrics = ["val_mlm_accuracy"] as const;
  readonly var_names_g: readonly string[];
  readonly config: BertConfig;
  readonly initializerRange: number;
  readonly mlmProbability: number;
  readonly seed: number;
  readonly bert: BertForMaskedLM;
  private readonly generator: Generator;
  private readonly validationGenerator: Generator;
  private readonly geneIndex: Map<string, number>;

  /**
   * @param options - `var_names_g` (the vocabulary's genes, token ids 2.. in this order; 0 is PAD, 1
   *   MASK) and Hugging Face's `BertConfig` fields by their names (`hidden_size`,
   *   `num_hidden_layers`, ...), plus `mlm_probability` (the masked fraction in training) and `seed`.
   */
  constructor(options: GeneformerOptions) {
    super();
    const genes = options.var_names_g.length;
    if (genes < 1) throw new ArgumentError("Geneformer: var_names_g is empty");
    const type = options.position_embedding_type ?? "absolute";
    if (!POSITION_EMBEDDING_TYPES.includes(type)) {
      throw new ArgumentError(
        `Geneformer: position_embedding_type "${type}" is not one of ${POSITION_EMBEDDING_TYPES.join(", ")}`,
      );
    }
    const positive = (name: keyof GeneformerOptions, value: number) => {
      if (!Number.isInteger(value) || value < 1)
        throw new ArgumentError(`Geneformer: ${name} must be a positive integer, got ${value}`);
      return value;
    };
    const probability = (name: keyof GeneformerOptions, value: number) => {
      if (!(value >= 0 && value <= 1))
        throw new ArgumentError(`Geneformer: ${name} must be in [0, 1], got ${value}`);
      return value;
    };
    const size = (name: keyof typeof GENEFORMER_DEFAULTS) =>
      positive(name, options[name] ?? GENEFORMER_DEFAULTS[name]);
    this.var_names_g = options.var_names_g;
    this.config = {
      vocabSize: genes + FIRST_GENE_TOKEN,
      hiddenSize: size("hidden_size"),
      numHiddenLayers: size("num_hidden_layers"),
      numAttentionHeads: size("num_attention_heads"),
      intermediateSize: size("intermediate_size"),
      hiddenAct: options.hidden_act ?? "relu",
      hiddenDropoutProb: probability("hidden_dropout_prob", options.hidden_dropout_prob ?? 0.02),
      attentionProbsDropoutProb: probability(
        "attention_probs_dropout_prob",
        options.attention_probs_dropout_prob ?? 0.02,
      ),
      maxPositionEmbeddings: size("max_position_embeddings"),
      typeVocabSize: size("type_vocab_size"),
      layerNormEps: options.layer_norm_eps ?? 1e-12,
      padTokenId: 0,
      positionEmbeddingType: type,
    };
    this.initializerRange = options.initializer_range ?? 0.02;
    this.mlmProbability = probability("mlm_probability", options.mlm_probability ?? 0.15);
    this.seed = options.seed ?? 0;
    this.generator = new Generator(this.seed);
    // Checkpointed beside the training generator (randomState), so a resumed run validates on the
    // same masks as an uninterrupted one.
    this.validationGenerator = new Generator(this.seed + 1);
    this.bert = this.registerModule("bert", new BertForMaskedLM(this.config, { generator: this.generator }));
    this.geneIndex = new Map(this.var_names_g.map((name, g) => [name, g]));
    this.resetParameters();
  }

  initArgs(): Record<string, JsonValue> {
    const c = this.config;
    return {
      var_names_g: [...this.var_names_g],
      hidden_size: c.hiddenSize,
      num_hidden_layers: c.numHiddenLayers,
      num_attention_heads: c.numAttentionHeads,
      intermediate_size: c.intermediateSize,
      hidden_act: c.hiddenAct,
      hidden_dropout_prob: c.hiddenDropoutProb,
      attention_probs_dropout_prob: c.attentionProbsDropoutProb,
      max_position_embeddings: c.maxPositionEmbeddings,
      type_vocab_size: c.typeVocabSize,
      initializer_range: this.initializerRange,
      position_embedding_type: c.positionEmbeddingType,
      layer_norm_eps: c.layerNormEps,
      mlm_probability: this.mlmProbability,
      seed: this.seed,
    };
  }

  /**
   * Hugging Face's BertPreTrainedModel._init_weights over the whole tree: Linear weights and
   * embedding tables N(0, initializer_range), biases 0 (the MLM head's too), LayerNorm 1 and 0, and
   * the PAD row of the word embeddings 0.
   */
  resetParameters(): void {
    const std = this.initializerRange;
    for (const [, m] of this.bert.namedModules()) {
      if (m instanceof Linear) {
        normalInit(m.weight, this.generator, 0, std);
        m.bias?.data.fill(0);
      } else if (m instanceof Embedding) {
        normalInit(m.weight, this.generator, 0, std);
        if (m.paddingIdx !== null) {
          m.weight.data.fill(0, m.paddingIdx * m.embeddingDim, (m.paddingIdx + 1) * m.embeddingDim);
        }
      } else if (m instanceof LayerNorm) {
        m.weight?.data.fill(1);
        m.bias?.data.fill(0);
      }
    }
    this.bert.cls.predictions.bias.data.fill(0);
  }

  randomState(): JsonValue {
    return {
      ...this.generator.getState(),
      validation: this.validationGenerator.getState(),
    } as unknown as JsonValue;
  }

  /** A state of randomState; one without `validation` (older checkpoints) keeps the validation draws as they are. */
  setRandomState(state: JsonValue): void {
    const { validation, ...training } = state as unknown as GeneratorState & { validation?: GeneratorState };
    this.generator.setState(training);
    if (validation !== undefined) this.validationGenerator.setState(validation);
  }

  /** The genes' ranks as tokens (upstream's tokenize). */
  tokenize(batch: Batch, full = true): GeneformerTokens {
    checkVarNames(this.className, this.var_names_g, batch.var_names_g);
    // Ranks of expression: counts (or counts over medians), never negative or NaN.
    requireCounts(this.className, batch.x_ng, batch.var_names_g);
    return tokenize(batch.x_ng, { maxLength: this.config.maxPositionEmbeddings, full });
  }

  /**
   * Chooses MLM positions among attended ones with probability mlm_probability; of those, 80%
   * become MASK, half of the rest a random gene token, the rest stay (BERT's 80/10/10).
   */
  maskTokens(tokens: GeneformerTokens, generator: Generator = this.generator): MaskedTokens {
    const input_ids = tokens.input_ids.slice();
    const mask = tokens.attention_mask;
    const draws = new Float64Array(mask.length);
    generator.fillUniform(draws);
    const positions: number[] = [];
    const labels: number[] = [];
    const genes = this.var_names_g.length;
    for (let p = 0; p < mask.length; p++) {
      if (!mask[p] || draws[p]! >= this.mlmProbability) continue;
      positions.push(p);
      labels.push(input_ids[p]!);
      if (generator.nextDouble() < 0.8) input_ids[p] = MASK_TOKEN;
      else if (generator.nextDouble() < 0.5)
        input_ids[p] = generator.randint(FIRST_GENE_TOKEN, genes + FIRST_GENE_TOKEN);
    }
    return { input_ids, positions: Int32Array.from(positions), labels: Int32Array.from(labels) };
  }

  /** The MLM loss at the chosen positions of `masked` (logits only there). */
  maskedLmLoss(tokens: GeneformerTokens, masked: MaskedTokens): Tensor | undefined {
    const logits = this.maskedLogits(tokens, masked);
    return logits && crossEntropy(logits, new Tensor(masked.labels, [masked.labels.length]));
  }

  /** The vocabulary logits (m x vocabulary) at the m chosen positions of `masked`; none when m = 0. */
  private maskedLogits(tokens: GeneformerTokens, masked: MaskedTokens): Tensor | undefined {
    const { n, s } = tokens;
    const m = masked.positions.length;
    if (m === 0) return undefined;
    const out = this.bert.bert.forward(
      new Tensor(masked.input_ids, [n, s]),
      new Tensor(Int32Array.from(tokens.attention_mask), [n, s]),
    );
    const chosen = indexSelect(
      reshape(out.last_bsh, [n * s, this.config.hiddenSize]),
      0,
      new Tensor(masked.positions, [m]),
    );
    return this.bert.cls.predictions.forward(chosen);
  }

  /**
   * The MLM loss and accuracy of a batch: the share of masked positions whose most likely token is
   * the true gene (metrics.csv averages it over the validation cells, batch by batch). Masks come
   * from a generator of their own, so that validating leaves the training draws as they were.
   */
  validate(batch: Batch): ModelOutput {
    return noGrad(() => {
      const tokens = this.tokenize(batch, false);
      const masked = this.maskTokens(tokens, this.validationGenerator);
      const logits = this.maskedLogits(tokens, masked);
      if (!logits) return {};
      const loss = crossEntropy(logits, new Tensor(masked.labels, [masked.labels.length]));
      const predicted = argmax(logits, 1).data;
      let correct = 0;
      masked.labels.forEach((label, i) => {
        if (predicted[i] === label) correct++;
      });
      return { loss, metrics: { val_mlm_accuracy: correct / masked.labels.length } };
    });
  }

  forward(batch: Batch): ModelOutput {
    const tokens = this.tokenize(batch, false);
    const loss = this.maskedLmLoss(tokens, this.maskTokens(tokens));
    return loss ? { loss } : {};
  }

  /**
   * The encoder's outputs for a batch, optionally perturbed in silico (seed: feature_activation,
   * feature_deletion before ranking, feature_map after), plus cell_embedding_nh.
   */
  predict(batch: Batch, options: GeneformerPredictOptions = {}): PredictOutput {
    checkVarNames(this.className, this.var_names_g, batch.var_names_g);
    requireCounts(this.className, batch.x_ng, batch.var_names_g);
    const want = {
      hidden: options.output_hidden_states ?? true,
      attentions: options.output_attentions ?? true,
      inputIds: options.output_input_ids ?? true,
      mask: options.output_attention_mask ?? true,
      logits: options.output_logits ?? false,
    };
    const tokens = tokenize(batch.x_ng, {
      maxLength: this.config.maxPositionEmbeddings,
      full: want.hidden || want.attentions || want.inputIds || want.mask || want.logits,
      deleted: this.deletionMask(options.feature_deletion ?? null),
      activated: (options.feature_activation ?? []).map((g) => this.gene(g, "feature_activation")),
    });
    const input_ids = this.applyFeatureMap(tokens.input_ids, options.feature_map ?? null);
    const { n, s } = tokens;
    const mask_ns = new Tensor(Int32Array.from(tokens.attention_mask), [n, s]);
    const out: BertModelOutput = this.bert.bert.forward(new Tensor(input_ids, [n, s]), mask_ns, {
      outputHiddenStates: want.hidden,
      outputAttentions: want.attentions,
    });
    const result: PredictOutput = {
      cell_embedding_nh: attendedMean(out.last_bsh, tokens.attention_mask),
    };
    if (want.hidden) result.hidden_states = stack(out.hiddenStates);
    if (want.attentions) result.attentions = stack(out.attentions);
    if (want.logits) result.logits = this.bert.cls.predictions.forward(out.last_bsh);
    if (want.inputIds) result.input_ids = new Tensor(input_ids, [n, s]);
    if (want.mask) result.attention_mask = mask_ns;
    return result;
  }

  private gene(name: string, argument: string): number {
    const g = this.geneIndex.get(name);
    if (g === undefined) {
      throw new ArgumentError(
        `Geneformer.predict: ${argument} gene "${name}" is not in the model's var_names_g`,
      );
    }
    return g;
  }

  private deletionMask(genes: readonly string[] | null): Uint8Array | null {
    if (!genes || genes.length === 0) return null;
    const deleted = new Uint8Array(this.var_names_g.length);
    for (const name of genes) deleted[this.gene(name, "feature_deletion")] = 1;
    return deleted;
  }

  /** Replaces every occurrence of each mapped gene's token, in the map's order (upstream's loop). */
  private applyFeatureMap(ids: Int32Array, map: Readonly<Record<string, number>> | null): Int32Array {
    if (!map) return ids;
    const out = ids.slice();
    for (const [name, token] of Object.entries(map)) {
      const from = this.gene(name, "feature_map") + FIRST_GENE_TOKEN;
      if (!Number.isInteger(token) || token < 0 || token >= this.config.vocabSize) {
        throw new ArgumentError(
          `Geneformer.predict: feature_map["${name}"] = ${token} is not a token id in [0, ${this.config.vocabSize})`,
        );
      }
      for (let p = 0; p < out.length; p++) if (out[p] === from) out[p] = token;
    }
    return out;
  }
}

/** Mean of hidden [n, s, h] over each cell's attended positions -> [n, h]; NaN for a cell with none. */
function attendedMean(hidden_nsh: Tensor, mask: Uint8Array): Tensor {
  const [n, s, h] = hidden_nsh.shape as [number, number, number];
  const src = hidden_nsh.data;
  const out = new Float32Array(n * h);
  for (let i = 0; i < n; i++) {
    let count = 0;
    const row = out.subarray(i * h, (i + 1) * h);
    for (let p = 0; p < s; p++) {
      if (!mask[i * s + p]) continue;
      count++;
      const base = (i * s + p) * h;
      for (let e = 0; e < h; e++) row[e]! += src[base + e]!;
    }
    for (let e = 0; e < h; e++) row[e] = row[e]! / count;
  }
  return new Tensor(out, [n, h]);
}
