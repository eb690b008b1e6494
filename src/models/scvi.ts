// SingleCellVariationalInference: upstream's scVI (cellarium/ml/models/scvi.py; Lopez et al. 2018),
// a variational autoencoder of raw counts with batch and covariate conditioning:
//   q(z | x) = N(mean, var) from the encoder on log1p(x) (log_variational),
//   p(x | z) = NB(exp(library) * softmax(decoder(z)) [+ additive bias], theta) (or Poisson, ZINB),
//   loss = mean_n [ -log p(x_n | z_n) + w (z_kl_weight_max KL(q(z_n) || N(0, I))
//                                          + batch_kl_weight_max KL(q(b_n) || N(0, I))) ],
// w the KL warm-up weight (compute_annealed_kl_weight), z one reparameterized draw. The encoder
// reads a CSR batch as it is (X W^T on the non-zeros); the likelihood sees every gene.
//
// Differences from upstream, each a superset: gene_likelihood zinb (scvi-tools' ZINB, which
// upstream refuses) and dispersion gene-batch (scvi-tools' px_r per gene and batch; upstream
// declares it and then refuses it). The normalizing-flow prior (use_flow, zuko) and the ontology
// metrics are refused with a line saying so (see the registry).

import type { Batch } from "../data/batch.js";
import { firstNonInteger, requireCounts } from "../data/check-block.js";
import { densify, type Matrix, storedForm } from "../data/matrix.js";
import { ConfigError } from "../errors.js";
import type { JsonValue } from "../json.js";
import { Module, type Parameter } from "../nn/module.js";
import { kernels } from "../tensor/kernels/index.js";
import { countNegativeLogLikelihood } from "../tensor/ops/count-likelihood.js";
import { eye, randn, zeros } from "../tensor/ops/creation.js";
import {
  logZinbPositive,
  negativeBinomialLogProb,
  normalKlDivergence,
  poissonLogProb,
} from "../tensor/ops/distributions.js";
import { add, exp, mul, neg, sigmoid } from "../tensor/ops/elementwise.js";
import { indexSelect } from "../tensor/ops/indexing.js";
import { linear } from "../tensor/ops/linear.js";
import { mean, sum } from "../tensor/ops/reduce.js";
import { Generator, type GeneratorState } from "../tensor/random.js";
import { noGrad, Tensor } from "../tensor/tensor.js";
import { checkVarNames } from "./check-var-names.js";
import { DEFAULT_DRESSING, type Dressing, initializeWeights, type LayerInput } from "./layers/vae.js";
import {
  type CellariumModel,
  lookupAttribute,
  type ModelAttribute,
  type ModelOutput,
  type PredictOutput,
  type TrainerContext,
} from "./model.js";
import { codesOf, covariatesOneHot, logLibrarySize, logTotals, oneHot } from "./scvi/conditions.js";
import { type NetworkSpec, parseNetwork } from "./scvi/layer-specs.js";
import {
  type Conditions,
  type CountParameters,
  DecoderSCVI,
  type Dispersion,
  EncoderSCVI,
  type GeneLikelihood,
  type LatentPosterior,
  scaledMean,
} from "./scvi/networks.js";
import { type ReconstructionOptions, reconstructCounts } from "./scvi/reconstruct.js";

export type NormPlacement = "encoder" | "decoder" | "none" | "both";

/**
 * {@link SingleCellVariationalInference}'s init arguments, by upstream's names (a config's
 * `model.model.init_args`). `encoder` and `decoder` are upstream's layer specs: `hidden_layers` (a
 * list of `{class_path, init_args}`, e.g. `cellarium.ml.models.scvi.LinearWithBatchAndCovariates`
 * with `out_features`) and `final_layer`; see examples/scvi/scvi_train_config.yaml.
 */
export interface SCVIOptions {
  readonly var_names_g: readonly string[];
  readonly encoder: JsonValue;
  readonly decoder: JsonValue;
  readonly n_batch: number;
  readonly n_latent?: number;
  readonly n_cats_per_cov?: readonly number[] | null;
  readonly dropout_rate?: number;
  readonly dispersion?: Dispersion;
  readonly log_variational?: boolean;
  readonly gene_likelihood?: GeneLikelihood;
  readonly batch_embedded?: boolean;
  readonly batch_representation_sampled?: boolean;
  readonly n_latent_batch?: number | null;
  readonly z_kl_weight_max?: number;
  readonly batch_kl_weight_max?: number;
  readonly input_gene_dropout_rate?: number;
  readonly use_batch_norm?: NormPlacement;
  readonly use_layer_norm?: NormPlacement;
  readonly kl_warmup_epochs?: number | null;
  readonly kl_warmup_steps?: number | null;
  readonly kl_annealing_start?: number;
  readonly use_size_factor_key?: boolean;
  readonly reconstruct_counts_on_predict?: boolean;
  readonly reconstruction?: Partial<ReconstructionOptions>;
  /** Seed of the initialization, the latent draws and dropout (the CLI gives seed_everything). */
  readonly seed?: number;
  /** Receives warnings (non-integer counts, decoder dropout); default console.warn. */
  readonly warn?: (message: string) => void;
}

/** upstream's compute_annealed_kl_weight: a linear warm-up over epochs or steps, then the maximum. */
export function annealedKlWeight(
  epoch: number,
  step: number,
  warmupEpochs: number | null,
  warmupSteps: number | null,
  maxWeight = 1,
  minWeight = 0,
): number {
  const slope = maxWeight - minWeight;
  if (warmupEpochs) {
    if (epoch < warmupEpochs) return slope * (epoch / warmupEpochs) + minWeight;
  } else if (warmupSteps) {
    if (step < warmupSteps) return slope * (step / warmupSteps) + minWeight;
  }
  return maxWeight;
}

/** What forward computes per cell, besides the loss (upstream's output dictionary). */
export interface SCVIForward {
  readonly loss: Tensor;
  readonly reconstruction_loss_n: Tensor;
  readonly kl_divergence_z_n: Tensor;
  readonly kl_divergence_batch_n: Tensor | null;
  readonly z_nk: Tensor;
  readonly posterior: LatentPosterior;
}

const NAME = "SingleCellVariationalInference";

/**
 * scVI (upstream's `cellarium.ml.models.SingleCellVariationalInference`; Lopez et al. 2018): a
 * variational autoencoder of raw counts conditioned on the batch (`batch_index_n`, codes below
 * `n_batch`) and optional categorical covariates. `forward` returns the loss (negative ELBO with
 * KL warm-up); `predict` returns the latent means `[n, n_latent]` as `x_ng` (upstream's name, so
 * that a model after it reads them like genes), or reconstructed counts with
 * `reconstruct_counts_on_predict`. Raw counts go in: no NormalizeTotal or Log1p before it
 * (`log_variational` takes log1p inside the encoder).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SingleCellVariationalInference, Tensor } from "cellarium-ts";
 *
 * const var_names_g = ["g0", "g1", "g2", "g3"];
 * const layer = (out_features?: number) => ({
 *   class_path: "cellarium.ml.models.scvi.LinearWithBatch",
 *   init_args: { ...(out_features && { out_features }), label_to_bias_hidden_layers: [] },
 * });
 * const model = new SingleCellVariationalInference({
 *   var_names_g,
 *   n_batch: 2,
 *   n_latent: 2,
 *   encoder: { hidden_layers: [layer(8)], final_layer: { class_path: "torch.nn.Linear", init_args: {} } },
 *   decoder: { hidden_layers: [layer(8)], final_layer: layer(), final_additive_bias: false },
 *   seed: 0,
 * });
 * const batch = {
 *   x_ng: { format: "dense" as const, nRows: 2, nCols: 4, data: new Float32Array([3, 0, 1, 7, 0, 2, 5, 1]) },
 *   var_names_g,
 *   batch_index_n: new Int32Array([0, 1]),
 * };
 * const loss = model.forward(batch).loss!;
 * assert.ok(Number.isFinite(loss.item()));
 * model.train(false);
 * assert.deepEqual((model.predict(batch).x_ng as Tensor).shape, [2, 2]);
 * ```
 */
export class SingleCellVariationalInference extends Module implements CellariumModel {
  readonly className = NAME;
  /** The exact ELBO (no annealing) and its parts, per cell, as upstream's validation reports val_elbo. */
  readonly validationMetrics = ["val_elbo", "val_reconstruction_loss", "val_kl_divergence_z"] as const;
  readonly var_names_g: readonly string[];
  readonly n_batch: number;
  readonly n_latent: number;
  readonly n_latent_batch: number;
  readonly n_cats_per_cov: readonly number[];
  readonly dispersion: Dispersion;
  readonly gene_likelihood: GeneLikelihood;
  readonly log_variational: boolean;
  readonly batch_embedded: boolean;
  readonly batch_representation_sampled: boolean;
  readonly z_kl_weight_max: number;
  readonly batch_kl_weight_max: number;
  readonly input_gene_dropout_rate: number;
  readonly kl_warmup_epochs: number | null;
  readonly kl_warmup_steps: number | null;
  readonly kl_annealing_start: number;
  readonly use_size_factor_key: boolean;
  readonly reconstruct_counts_on_predict: boolean;
  readonly reconstruction: ReconstructionOptions;
  /** The columns of var_names_g that a reconstruction writes, in its order (found once, not per batch). */
  readonly reconstructionGeneIndex: Int32Array;
  readonly seed: number;
  readonly batch_representation_mean_bd: Parameter | null;
  readonly batch_representation_std_unconstrained_bd: Parameter | null;
  readonly px_r: Parameter;
  readonly z_encoder: EncoderSCVI;
  readonly decoder: DecoderSCVI;
  /** The epoch and global step after the last training batch (upstream's on_train_batch_end). */
  epoch = 0;
  step = 0;
  private readonly options: SCVIOptions;
  private generator: Generator;
  private readonly warn: (message: string) => void;
  private warnedNonInteger = false;

  /**
   * @param options - upstream's init arguments (see {@link SCVIOptions}).
   * @throws {@link ConfigError} for options upstream refuses or this port does not implement
   *   (each named, e.g. a normalizing-flow prior).
   */
  constructor(options: SCVIOptions) {
    super();
    this.options = options;
    this.var_names_g = options.var_names_g;
    this.n_batch = options.n_batch;
    this.n_latent = options.n_latent ?? 10;
    this.n_cats_per_cov = options.n_cats_per_cov ?? [];
    this.dispersion = options.dispersion ?? "gene";
    this.gene_likelihood = options.gene_likelihood ?? "nb";
    this.log_variational = options.log_variational ?? true;
    this.batch_embedded = options.batch_embedded ?? false;
    this.batch_representation_sampled = options.batch_representation_sampled ?? false;
    this.z_kl_weight_max = options.z_kl_weight_max ?? 1;
    this.batch_kl_weight_max = options.batch_kl_weight_max ?? 0;
    this.input_gene_dropout_rate = options.input_gene_dropout_rate ?? 0;
    this.kl_warmup_steps = options.kl_warmup_steps ?? null;
    // upstream's default warm-up is 400 epochs unless steps are given
    this.kl_warmup_epochs =
      options.kl_warmup_epochs === undefined
        ? this.kl_warmup_steps === null
          ? 400
          : null
        : options.kl_warmup_epochs;
    this.kl_annealing_start = options.kl_annealing_start ?? 0;
    this.use_size_factor_key = options.use_size_factor_key ?? false;
    this.reconstruct_counts_on_predict = options.reconstruct_counts_on_predict ?? false;
    this.seed = options.seed ?? 0;
    this.warn = options.warn ?? ((message) => console.warn(message));
    this.checkArguments();
    this.n_latent_batch = options.n_latent_batch ?? this.n_batch;
    if (!this.batch_embedded && this.n_latent_batch !== this.n_batch) {
      throw new ConfigError(
        `${NAME}: n_latent_batch (${this.n_latent_batch}) must equal n_batch (${this.n_batch}) when batch_embedded is false`,
      );
    }
    this.reconstruction = this.reconstructionOptions(options.reconstruction ?? {});
    const position = new Map(this.var_names_g.map((name, j) => [name, j]));
    this.reconstructionGeneIndex = Int32Array.from(
      this.reconstruction.var_names_g ?? this.var_names_g,
      (name) => position.get(name)!,
    );
    this.generator = new Generator(this.seed);
    const g = this.var_names_g.length;
    const [b, d] = [this.n_batch, this.n_latent_batch];
    this.batch_representation_mean_bd = this.batch_embedded
      ? this.registerParameter("batch_representation_mean_bd", zeros([b, d]))
      : null;
    this.batch_representation_std_unconstrained_bd = this.batch_embedded
      ? this.registerParameter("batch_representation_std_unconstrained_bd", zeros([b, d]))
      : null;
    this.px_r = this.registerParameter(
      "px_r",
      zeros(this.dispersion === "gene" ? [g] : this.dispersion === "gene-batch" ? [g, d] : [1]),
    );
    const placement = (
      option: NormPlacement | undefined,
      fallback: NormPlacement,
      part: "encoder" | "decoder",
    ) => {
      const value = option ?? fallback;
      return value === part || value === "both";
    };
    const sizes = { nBatch: d, nCatsPerCov: this.n_cats_per_cov };
    const encoderSpec = parseNetwork(options.encoder, "encoder", false);
    const decoderSpec = this.withoutDecoderDropout(parseNetwork(options.decoder, "decoder", true));
    const encoderDefaults: Dressing = {
      ...DEFAULT_DRESSING,
      use_batch_norm: placement(options.use_batch_norm, "both", "encoder"),
      use_layer_norm: placement(options.use_layer_norm, "none", "encoder"),
      dropout_rate: options.dropout_rate ?? 0.1,
    };
    const decoderDefaults: Dressing = {
      ...DEFAULT_DRESSING,
      use_batch_norm: placement(options.use_batch_norm, "both", "decoder"),
      use_layer_norm: placement(options.use_layer_norm, "none", "decoder"),
      dropout_rate: 0,
    };
    this.z_encoder = this.registerModule(
      "z_encoder",
      new EncoderSCVI(g, this.n_latent, encoderSpec, encoderDefaults, sizes, this.generator),
    );
    this.decoder = this.registerModule(
      "decoder",
      new DecoderSCVI({
        inFeatures: this.n_latent,
        outFeatures: g,
        spec: decoderSpec,
        defaults: decoderDefaults,
        sizes,
        dispersion: this.dispersion,
        geneLikelihood: this.gene_likelihood,
        scaleActivation: this.use_size_factor_key ? "softplus" : "softmax",
        generator: this.generator,
      }),
    );
    this.resetParameters();
  }

  private checkArguments(): void {
    const fail = (message: string): never => {
      throw new ConfigError(`${NAME}: ${message}`);
    };
    if (this.var_names_g.length < 1) fail("var_names_g is empty");
    if (!Number.isInteger(this.n_batch) || this.n_batch < 1) {
      fail(`n_batch must be a positive integer (the categories of batch_index_n), got ${this.n_batch}`);
    }
    if (!Number.isInteger(this.n_latent) || this.n_latent < 1)
      fail(`n_latent must be a positive integer, got ${this.n_latent}`);
    for (const n of this.n_cats_per_cov) {
      if (!Number.isInteger(n) || n < 1)
        fail(`n_cats_per_cov must hold positive integers, got ${JSON.stringify(this.n_cats_per_cov)}`);
    }
    if (!["gene", "gene-batch", "gene-cell"].includes(this.dispersion)) {
      fail(
        `dispersion "${this.dispersion}" is not supported (valid: gene, gene-batch, gene-cell; upstream has no gene-label either)`,
      );
    }
    if (!["nb", "zinb", "poisson"].includes(this.gene_likelihood)) {
      fail(`gene_likelihood "${this.gene_likelihood}" is not supported (valid: nb, zinb, poisson)`);
    }
    if (!(this.kl_annealing_start >= 0 && this.kl_annealing_start <= 1)) {
      fail(`kl_annealing_start=${this.kl_annealing_start} must be in the range [0.0, 1.0]`);
    }
    if (this.kl_warmup_epochs !== null && this.kl_warmup_steps !== null) {
      fail("only one of kl_warmup_epochs or kl_warmup_steps can be specified, not both");
    }
    if (!(this.z_kl_weight_max >= 0)) fail(`z_kl_weight_max must be >= 0, got ${this.z_kl_weight_max}`);
    if (!(this.batch_kl_weight_max >= 0))
      fail(`batch_kl_weight_max must be >= 0, got ${this.batch_kl_weight_max}`);
    if (!(this.input_gene_dropout_rate >= 0 && this.input_gene_dropout_rate < 1)) {
      fail(`input_gene_dropout_rate must be in [0, 1), got ${this.input_gene_dropout_rate}`);
    }
  }

  /** upstream sets the decoder's hidden dropout to 0 (scvi-tools has none there), with a warning. */
  private withoutDecoderDropout(spec: NetworkSpec): NetworkSpec {
    if (!spec.hiddenLayers.some((layer) => (layer.dressing.dropout_rate ?? 0) !== 0)) return spec;
    this.warn(
      `warning: ${NAME}: dropout is not supported in the decoder of scVI; dropout_rate is set to 0.0 there`,
    );
    return {
      ...spec,
      hiddenLayers: spec.hiddenLayers.map((layer) => ({
        ...layer,
        dressing: { ...layer.dressing, dropout_rate: 0 },
      })),
    };
  }

  private reconstructionOptions(given: Partial<ReconstructionOptions>): ReconstructionOptions {
    const genes = new Set(this.var_names_g);
    let names = given.var_names_g ?? null;
    if (names !== null) {
      const missing = names.filter((name) => !genes.has(name));
      if (missing.length > 0) {
        this.warn(
          `warning: ${NAME}: reconstruction_var_names_g ${missing.slice(0, 5).join(", ")}${missing.length > 5 ? ", ..." : ""} (${missing.length}) are not in var_names_g and are left out of the reconstruction`,
        );
      }
      names = names.filter((name) => genes.has(name));
    }
    const transformBatch = given.transform_batch === undefined ? 0 : given.transform_batch;
    if (typeof transformBatch === "string" && transformBatch !== "mean") {
      throw new ConfigError(
        `${NAME}: reconstruction_transform_batch "${transformBatch}" must be an integer batch index, "mean" or null`,
      );
    }
    if (
      typeof transformBatch === "number" &&
      !(Number.isInteger(transformBatch) && transformBatch >= 0 && transformBatch < this.n_batch)
    ) {
      throw new ConfigError(
        `${NAME}: reconstruction_transform_batch must be less than n_batch: ${this.n_batch}, got ${transformBatch}`,
      );
    }
    return {
      var_names_g: names,
      transform_batch: transformBatch,
      n_latent_samples: given.n_latent_samples ?? 30,
      use_latent_mean: given.use_latent_mean ?? false,
      use_importance_sampling: given.use_importance_sampling ?? false,
      library_size: given.library_size ?? 10_000,
      transform_categorical_covariates: given.transform_categorical_covariates ?? null,
    };
  }

  initArgs(): Record<string, JsonValue> {
    const o = this.options;
    const r = this.reconstruction;
    return {
      var_names_g: [...this.var_names_g],
      encoder: o.encoder,
      decoder: o.decoder,
      n_batch: this.n_batch,
      n_latent: this.n_latent,
      n_continuous_cov: 0,
      n_cats_per_cov: [...this.n_cats_per_cov],
      dropout_rate: o.dropout_rate ?? 0.1,
      dispersion: this.dispersion,
      log_variational: this.log_variational,
      gene_likelihood: this.gene_likelihood,
      latent_distribution: "normal",
      batch_embedded: this.batch_embedded,
      batch_representation_sampled: this.batch_representation_sampled,
      n_latent_batch: this.n_latent_batch,
      z_kl_weight_max: this.z_kl_weight_max,
      batch_kl_weight_max: this.batch_kl_weight_max,
      input_gene_dropout_rate: this.input_gene_dropout_rate,
      use_batch_norm: o.use_batch_norm ?? "both",
      use_layer_norm: o.use_layer_norm ?? "none",
      kl_warmup_epochs: this.kl_warmup_epochs,
      kl_warmup_steps: this.kl_warmup_steps,
      kl_annealing_start: this.kl_annealing_start,
      use_size_factor_key: this.use_size_factor_key,
      reconstruct_counts_on_predict: this.reconstruct_counts_on_predict,
      reconstruction_var_names_g: r.var_names_g === null ? null : [...r.var_names_g],
      reconstruction_transform_batch: r.transform_batch,
      reconstruction_n_latent_samples: r.n_latent_samples,
      reconstruction_use_latent_mean: r.use_latent_mean,
      reconstruction_use_importance_sampling: r.use_importance_sampling,
      reconstructed_library_size: r.library_size,
      reconstruction_transform_categorical_covariates:
        r.transform_categorical_covariates === null ? null : [...r.transform_categorical_covariates],
      seed: this.seed,
    };
  }

  /**
   * upstream's reset_parameters: every Linear weight xavier-normal and bias 0, batch-norm weights
   * N(1, 0.02), px_r N(0, 1), the batch embedding's means the identity and log-scales 0. The
   * generator restarts from the seed, so a model is reproducible from its arguments.
   */
  resetParameters(): void {
    this.generator.setState(new Generator(this.seed).getState());
    initializeWeights(this, this.generator);
    this.generator.fillNormal(this.px_r.data, 0, 1);
    if (this.batch_representation_mean_bd && this.batch_representation_std_unconstrained_bd) {
      this.batch_representation_mean_bd.data.set(eye(this.n_batch, this.n_latent_batch).data);
      this.batch_representation_std_unconstrained_bd.data.fill(0);
    }
  }

  /**
   * The batch representation [n, n_latent_batch]: one-hot, the embedding's mean, or a draw from it
   * (mean + eps * scale, eps standard normal: `eps_nb` when given, else from the generator).
   */
  batchRepresentation(codes: Int32Array, sample: boolean, eps_nb?: Tensor): Tensor {
    if (!this.batch_embedded) return oneHot(codes, this.n_batch);
    const index = new Tensor(codes, [codes.length]);
    const mean_nb = indexSelect(this.batch_representation_mean_bd!, 0, index);
    if (!this.batch_representation_sampled || !sample) return mean_nb;
    const scale_nb = add(exp(indexSelect(this.batch_representation_std_unconstrained_bd!, 0, index)), 1e-5);
    return add(mean_nb, mul(eps_nb ?? randn(mean_nb.shape, this.generator), scale_nb));
  }

  /** The counts of a batch, checked: finite and >= 0 (refused), whole numbers (a warning, once, as scvi-tools). */
  private counts(batch: Batch): Matrix {
    const x = batch.x_ng;
    requireCounts(NAME, x, batch.var_names_g);
    if (!this.warnedNonInteger) {
      const values = storedForm(x).data;
      const p = firstNonInteger(values);
      if (p < values.length) {
        this.warnedNonInteger = true;
        this.warn(
          `warning: ${NAME} expects raw counts, but x_ng holds non-integer values (e.g. ${values[p]}), as scvi-tools warns`,
        );
      }
    }
    return x;
  }

  private conditions(
    batch: Batch,
    n: number,
    sample: boolean,
    eps_nb?: Tensor,
  ): { codes: Int32Array; conditions: Conditions } {
    const codes = codesOf(batch, "batch_index_n", n, 1, [this.n_batch]);
    const covariates =
      this.n_cats_per_cov.length === 0
        ? null
        : covariatesOneHot(
            codesOf(
              batch,
              "categorical_covariate_index_nd",
              n,
              this.n_cats_per_cov.length,
              this.n_cats_per_cov,
            ),
            this.n_cats_per_cov,
          );
    return {
      codes,
      conditions: { batch_nb: this.batchRepresentation(codes, sample, eps_nb), covariates_np: covariates },
    };
  }

  /** The encoder's input: log1p(x) (log_variational) in x's stored layout, genes dropped at random while training. */
  private encoderInput(x: Matrix): LayerInput {
    const stored = storedForm(x);
    let values = stored.data;
    if (this.log_variational || (this.training && this.input_gene_dropout_rate > 0)) {
      const source = values;
      values = new Float32Array(source.length);
      if (this.log_variational) kernels().log1p({ n: source.length, x: source, y: values });
      else values.set(source);
      if (this.training && this.input_gene_dropout_rate > 0) {
        const draws = new Float32Array(values.length);
        this.generator.fillUniform(draws);
        for (let p = 0; p < values.length; p++)
          if (!(draws[p]! > this.input_gene_dropout_rate)) values[p] = 0;
      }
    }
    return stored.format === "csr"
      ? {
          nRows: stored.nRows,
          nCols: stored.nCols,
          indptr: stored.indptr,
          indices: stored.indices,
          data: values,
        }
      : new Tensor(values, [stored.nRows, stored.nCols]);
  }

  /** The inverse overdispersion the decoder does not compute: exp(px_r) per gene, or per gene and batch. */
  private theta(batch_nb: Tensor): Tensor | null {
    if (this.dispersion === "gene") return exp(this.px_r);
    if (this.dispersion === "gene-batch") return exp(linear(batch_nb, this.px_r));
    return null;
  }

  /**
   * The log library size `[n, 1]` of each cell: log of the row sums, or of `total_mrna_umis_n` with
   * `use_size_factor_key`.
   */
  libraryOf(batch: Batch, x: Matrix): Tensor {
    if (!this.use_size_factor_key) return logLibrarySize(x, batch.obs_names_n);
    if (!batch.total_mrna_umis_n) {
      throw new ConfigError(`${NAME}: use_size_factor_key needs total_mrna_umis_n in data.batch_keys`);
    }
    return logTotals(batch.total_mrna_umis_n, x.nRows);
  }

  /** The encoder's posterior q(z | x) for a batch (conditions at their means: no draw). */
  posterior(batch: Batch): LatentPosterior {
    checkVarNames(NAME, this.var_names_g, batch.var_names_g);
    const x = this.counts(batch);
    // upstream's predict draws the batch representation when it is sampled, as in training
    const { conditions } = this.conditions(batch, x.nRows, true);
    return this.z_encoder.forward(this.encoderInput(x), conditions);
  }

  /**
   * -log p(x | parameters) per cell in the likelihood the model was built with: NB and Poisson
   * after a softmax as one fused op on x's stored (CSR) form; ZINB and the softplus scale composed.
   */
  private reconstructionLoss(x: Matrix, parameters: CountParameters): Tensor {
    const eps = 1e-10;
    const stored = storedForm(x);
    if (parameters.scaleActivation === "softmax" && this.gene_likelihood !== "zinb") {
      return countNegativeLogLikelihood({
        logits_ng: parameters.logits_ng,
        logLibrary_n: parameters.library_n1.data as Float32Array,
        additive_ng: parameters.additive_ng,
        theta: this.gene_likelihood === "nb" ? parameters.theta : null,
        x: stored.format === "csr" ? stored : stored.data,
        eps,
      });
    }
    const x_ng = new Tensor(densify(x).data, [x.nRows, x.nCols]);
    const mean_ng = scaledMean(parameters);
    let logp: Tensor;
    if (this.gene_likelihood === "poisson") logp = poissonLogProb(x_ng, add(mean_ng, eps));
    else if (this.gene_likelihood === "zinb") {
      logp = logZinbPositive(x_ng, mean_ng, parameters.theta!, parameters.dropoutLogits_ng!);
    } else logp = negativeBinomialLogProb(x_ng, add(mean_ng, eps), add(parameters.theta!, eps));
    return mul(sum(logp, -1), -1);
  }

  /**
   * upstream's forward: the annealed loss and its parts. `noise` gives the standard normal draws
   * of the reparameterized samples (z = mean + eps_nk scale; the batch embedding's eps_nb)
   * instead of the generator, as a reference implementation can be given them.
   */
  run(batch: Batch, noise: { eps_z_nk?: Tensor; eps_batch_nb?: Tensor } = {}): SCVIForward {
    checkVarNames(NAME, this.var_names_g, batch.var_names_g);
    const x = this.counts(batch);
    const n = x.nRows;
    const { codes, conditions } = this.conditions(batch, n, true, noise.eps_batch_nb);
    const library_n1 = this.libraryOf(batch, x);
    const posterior = this.z_encoder.forward(this.encoderInput(x), conditions);
    const eps_nk = noise.eps_z_nk ?? randn(posterior.mean_nk.shape, this.generator);
    const z_nk = add(posterior.mean_nk, mul(eps_nk, posterior.scale_nk));
    const parameters = this.decoder.forward(z_nk, conditions, this.theta(conditions.batch_nb), library_n1);
    const reconstruction_loss_n = this.reconstructionLoss(x, parameters);
    const kl_divergence_z_n = sum(normalKlDivergence(posterior.mean_nk, posterior.scale_nk), 1);
    let kl_divergence_batch_n: Tensor | null = null;
    if (this.batch_embedded && this.batch_representation_sampled && this.batch_kl_weight_max > 0) {
      const index = new Tensor(codes, [n]);
      kl_divergence_batch_n = sum(
        normalKlDivergence(
          indexSelect(this.batch_representation_mean_bd!, 0, index),
          add(exp(indexSelect(this.batch_representation_std_unconstrained_bd!, 0, index)), 1e-5),
        ),
        1,
      );
    }
    const weight = annealedKlWeight(
      this.epoch,
      this.step,
      this.kl_warmup_epochs,
      this.kl_warmup_steps,
      1,
      this.kl_annealing_start,
    );
    let kl = mul(kl_divergence_z_n, this.z_kl_weight_max);
    if (kl_divergence_batch_n) kl = add(kl, mul(kl_divergence_batch_n, this.batch_kl_weight_max));
    const loss = mean(add(reconstruction_loss_n, mul(kl, weight)));
    return { loss, reconstruction_loss_n, kl_divergence_z_n, kl_divergence_batch_n, z_nk, posterior };
  }

  forward(batch: Batch): ModelOutput {
    return { loss: this.run(batch).loss };
  }

  /** The validation loss (annealed, as upstream logs it) and the ELBO's parts per cell. */
  validate(batch: Batch): ModelOutput {
    return noGrad(() => {
      const out = this.run(batch);
      const kl = out.kl_divergence_batch_n
        ? add(out.kl_divergence_z_n, out.kl_divergence_batch_n)
        : out.kl_divergence_z_n;
      const elbo = mul(add(out.reconstruction_loss_n, kl), -1);
      return {
        loss: out.loss,
        metrics: {
          val_elbo: mean(elbo).data[0]!,
          val_reconstruction_loss: mean(out.reconstruction_loss_n).data[0]!,
          val_kl_divergence_z: mean(out.kl_divergence_z_n).data[0]!,
        },
      };
    });
  }

  /** The latent means z_nk (upstream returns them under x_ng), or reconstructed counts. */
  predict(batch: Batch): PredictOutput {
    return noGrad(() => {
      if (this.reconstruct_counts_on_predict)
        return { x_ng: reconstructCounts(this, batch, this.reconstruction) };
      return { x_ng: this.posterior(batch).mean_nk };
    });
  }

  /** upstream's on_train_batch_end: the KL weight follows Lightning's epoch and global step. */
  onTrainBatchEnd(context: TrainerContext): void {
    this.epoch = context.epoch;
    this.step = context.globalStep;
  }

  /** The generator and the KL warm-up's position, so that a resumed run continues exactly. */
  randomState(): JsonValue {
    return {
      generator: this.generator.getState() as unknown as JsonValue,
      epoch: this.epoch,
      step: this.step,
    };
  }

  setRandomState(state: JsonValue): void {
    const s = state as { generator: JsonValue; epoch: number; step: number };
    this.generator.setState(s.generator as unknown as GeneratorState);
    this.epoch = s.epoch;
    this.step = s.step;
  }

  /** Draws from the model's generator (reconstruction samples). */
  randn(shape: readonly number[]): Tensor {
    return randn(shape, this.generator);
  }

  /**
   * The batch and covariate codes of the batch's cells and their one-hot or embedded conditioning inputs
   * (`sample`: draw the batch representation, as in training).
   */
  conditionsFor(batch: Batch, n: number, sample: boolean): { codes: Int32Array; conditions: Conditions } {
    return this.conditions(batch, n, sample);
  }

  /**
   * The batch's x_ng checked to be counts (non-negative; a warning for non-integers), as the
   * likelihood reads them.
   */
  countsOf(batch: Batch): Matrix {
    return this.counts(batch);
  }

  /** The encoder's posterior q(z | x): the latent means and variances of the cells. */
  encode(x: Matrix, conditions: Conditions): LatentPosterior {
    return this.z_encoder.forward(this.encoderInput(x), conditions);
  }

  /**
   * The decoder's count distribution parameters p(x | z) for latent draws `z_nk` and log library sizes
   * `library_n1`.
   */
  decode(z_nk: Tensor, conditions: Conditions, library_n1: Tensor): CountParameters {
    return this.decoder.forward(z_nk, conditions, this.theta(conditions.batch_nb), library_n1);
  }

  /** The mean of the count distribution (the NB, Poisson or ZINB mean). */
  countMean(parameters: CountParameters): Tensor {
    // NB and Poisson: the mean they were built with (mu + 1e-10); ZINB: (1 - sigmoid(logits)) mu
    const mean_ng = scaledMean(parameters);
    if (this.gene_likelihood !== "zinb") return add(mean_ng, 1e-10);
    return mul(mean_ng, sigmoid(neg(parameters.dropoutLogits_ng!)));
  }

  attribute(name: string): ModelAttribute {
    return lookupAttribute(this.className, this.attributeTable(), name);
  }

  attributeNames(): readonly string[] {
    return Object.keys(this.attributeTable());
  }

  private attributeTable(): Record<string, () => ModelAttribute> {
    return {
      var_names_g: () => this.var_names_g,
      px_r: () => this.px_r,
      n_latent: () => this.n_latent,
      n_batch: () => this.n_batch,
      reconstruct_counts_on_predict: () => (this.reconstruct_counts_on_predict ? 1 : 0),
      reconstruction_var_names_g: () => this.reconstruction.var_names_g ?? this.var_names_g,
    };
  }

  /** Whether a decoder layer takes its bias from categorical covariates. */
  decoderReadsCovariates(): boolean {
    return this.decoder.readsCovariates(this.n_cats_per_cov);
  }
}
