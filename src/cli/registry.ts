// The typed registry behind the command line: models by their command names and class paths,
// transforms by class path, each built from upstream's init_args names. Upstream class paths
// (`cellarium.ml.models.OnePassMeanVarStd`) and bare class names are both accepted.

import { join } from "node:path";
import type { Transform, TransformState } from "../data/batch.js";
import { ArgumentError, ConfigError } from "../errors.js";
import type { JsonValue } from "../json.js";
import type { VarColumns } from "../models/hvg/hvg-csv.js";
import { DEFAULT_OVERSAMPLE } from "../models/incremental-pca-defaults.js";
import { POSITION_EMBEDDING_TYPES } from "../models/layers/position-embedding.js";
import type { CellariumModel, PredictOptions } from "../models/model.js";
import type { NormPlacement } from "../models/scvi.js";
import type { ModelFactory } from "../train/merge-partials.js";
import { BinomialResample } from "../transforms/binomial-resample.js";
import { CenterPerCell } from "../transforms/center-per-cell.js";
import { Densify } from "../transforms/densify.js";
import { DivideByScale } from "../transforms/divide-by-scale.js";
import { Dropout } from "../transforms/dropout.js";
import { Duplicate } from "../transforms/duplicate.js";
import { Filter } from "../transforms/filter.js";
import { GaussianNoise } from "../transforms/gaussian-noise.js";
import { Log1p } from "../transforms/log1p.js";
import { NormalizeTotal } from "../transforms/normalize-total.js";
import { PFlogPF } from "../transforms/pflogpf.js";
import { Randomize } from "../transforms/randomize.js";
import { ZScore } from "../transforms/z-score.js";
import {
  anything,
  boolean,
  float32,
  ignored,
  integer,
  integers,
  key,
  nonNegative,
  nullable,
  number,
  oneOf,
  only,
  type Parsed,
  parseSection,
  probability,
  required,
  type Section,
  string,
  strings,
  type Value,
} from "./spec/keys.js";
import { classNameOf } from "./spec/lightning.js";

/** Arguments the command line fills in from the data when the config leaves them out. */
export type DerivedArg =
  | "var_names_g"
  | "n_obs"
  | "y_categories"
  | "n_batch"
  | "var_columns"
  | "n_cats_per_cov"
  | "cell_type_categories";

export type Stage = "fit" | "validate" | "predict";

export interface ModelContext {
  /** seed_everything (Lightning seeds torch's global generator with it; our models get it explicitly). */
  readonly seed: number;
}

export interface ModelEntry<S extends Section = Section> {
  /** The command name, upstream's registered name. */
  readonly command: string;
  readonly className: string;
  readonly derived: readonly DerivedArg[];
  readonly description: string;
  /** fit for every model; predict and validate for PredictMixin / ValidateMixin models. */
  readonly stages: readonly Stage[];
  /** The model's init arguments: upstream's names, defaults and meaning. */
  readonly args: S;
  /** trainer.max_epochs when the config leaves it out (upstream's trainer_defaults); null: Lightning's. */
  readonly maxEpochs: number | null;
  /**
   * Imports the model's module (loaded only for runs of that model: the registry lists every model)
   * and returns what builds one from parsed init args. Models that draw random numbers while
   * training take their generator's seed from seed_everything.
   */
  load(): Promise<ModelCreator<S>>;
  /** The predict arguments for a run that writes the output `key` (only what is written is computed). */
  predictOptions?(key: string): PredictOptions;
  /** Init arguments whose default lies in the run's directory (trainer.default_root_dir). */
  outputDefaults?(rootDir: string): Record<string, Value>;
  /** OpenBLAS threads for this model's runs when OPENBLAS_NUM_THREADS is not set (default: OpenBLAS's own). */
  readonly blasThreads?: number;
}

/** Builds a model from its parsed init args. */
type ModelCreator<S extends Section = Section> = (args: Parsed<S>, context: ModelContext) => CellariumModel;

/** Declares a model entry, its load() typed by its args. */
function model<S extends Section>(entry: ModelEntry<S>): ModelEntry {
  return entry as unknown as ModelEntry;
}

interface TransformEntry<S extends Section = Section> {
  readonly className: string;
  readonly args: S;
  create(args: Parsed<S>): Transform;
  fromState(state: TransformState): Transform;
}

function transform<S extends Section>(entry: TransformEntry<S>): TransformEntry {
  return entry as unknown as TransformEntry;
}

const SCVI_DISPERSIONS = ["gene", "gene-batch", "gene-cell"] as const;
const SCVI_NORM_PLACEMENTS: readonly NormPlacement[] = ["encoder", "decoder", "none", "both"];

const VAR_NAMES_G = key(strings, required, "the genes of the model's input (filled in from the data)");
const N_OBS = key(integer, required, "cells in the training data (filled in from the data)");
const SEED = key(integer, 0, "seed of the parameters' initialization");

/** Upstream's models that cellarium-ts does not have yet: a clear line rather than a typo message. */
export const NOT_YET_AVAILABLE: Readonly<Record<string, string>> = {
  socam: "SOCAM",
  contrastive_mlp: "ContrastiveMLP",
  cellarium_gpt: "CellariumGPT",
};

export const MODELS: readonly ModelEntry[] = [
  model({
    command: "hvg_seurat_v3",
    className: "HVGSeuratV3",
    derived: ["var_names_g", "n_batch", "var_columns"],
    description:
      "highly variable genes as scanpy's seurat_v3 / seurat_v3_paper, in two passes over raw counts",
    stages: ["fit"],
    maxEpochs: 2,
    args: {
      var_names_g: VAR_NAMES_G,
      n_top_genes: key(integers, required, "genes to select; a list makes one selection and CSV per value"),
      n_batch: nullable(
        integer,
        "batch categories (null: filled in from data.batch_keys.batch_index_n's obs column, 1 without it)",
      ),
      flavor: key(
        oneOf(["seurat_v3", "seurat_v3_paper"] as const),
        "seurat_v3",
        "seurat_v3: median rank first; seurat_v3_paper: number of batches first",
      ),
      use_batch_key: key(boolean, false, "the batches carry batch_index_n (per-cell batch category codes)"),
      span: key(number, 0.3, "LOESS span of the mean-variance fit"),
      output_path: nullable(
        string,
        "CSV stem: <stem>__top<n>.csv (every gene) and <stem>__top<n>__hvg_only.csv; a path ending in .h5ad: <stem>__top<n>.h5ad, the results as var columns (null: none; unset: hvg_seurat_v3_output.csv in trainer.default_root_dir)",
      ),
      batch_n_cell_minimum: key(integer, 2, "batches with fewer cells take no part in the ranking"),
      n_batch_minimum: key(integer, 1, "batches in which a selected gene ranks among the top n"),
      var_columns: nullable(
        anything,
        "the data's adata.var columns appended to the CSVs (filled in from the data)",
      ),
    },
    outputDefaults: (rootDir) => ({ output_path: join(rootDir, "hvg_seurat_v3_output.csv") }),
    load: async () => {
      const { HVGSeuratV3 } = await import("../models/hvg-seurat-v3.js");
      return (a) =>
        new HVGSeuratV3({ ...a, n_batch: a.n_batch ?? 1, var_columns: a.var_columns as VarColumns | null });
    },
  }),
  model({
    command: "onepass_mean_var_std",
    className: "OnePassMeanVarStd",
    derived: ["var_names_g"],
    description: "per-gene mean, variance and standard deviation in one pass",
    stages: ["fit"],
    maxEpochs: 1,
    args: {
      var_names_g: VAR_NAMES_G,
      algorithm: key(oneOf(["naive", "shifted_data"] as const), "naive", "naive or shifted_data sums"),
      output_path: nullable(
        string,
        "CSV of var_names_g, mean_g, var_g, std_g written at the end of fit (null: none; a relative path is in the working directory; unset: onepass_mean_var_std_output.csv in trainer.default_root_dir)",
      ),
    },
    outputDefaults: (rootDir) => ({ output_path: join(rootDir, "onepass_mean_var_std_output.csv") }),
    load: async () => {
      const { OnePassMeanVarStd } = await import("../models/onepass-mean-var-std.js");
      return (a) => new OnePassMeanVarStd(a);
    },
  }),
  model({
    command: "tdigest",
    className: "TDigest",
    derived: ["var_names_g"],
    description: "per-gene t-digests of non-zero values: medians and quantiles",
    stages: ["fit"],
    maxEpochs: 1,
    args: {
      var_names_g: VAR_NAMES_G,
      compression: key(number, 100, "t-digest compression (crick's default)"),
    },
    load: async () => {
      const { TDigest } = await import("../models/tdigest.js");
      return (a) => new TDigest(a);
    },
  }),
  model({
    command: "logistic_regression",
    className: "LogisticRegression",
    derived: ["n_obs", "var_names_g", "y_categories"],
    description: "multinomial logistic regression (MAP, Laplace prior on the weights)",
    stages: ["fit", "validate", "predict"],
    maxEpochs: null,
    args: {
      n_obs: N_OBS,
      var_names_g: VAR_NAMES_G,
      y_categories: key(strings, required, "the labels (filled in from data.batch_keys.y_categories)"),
      W_prior_scale: key(number, 1, "scale of the Laplace prior on W_gc"),
      W_init_scale: key(number, 1, "standard deviation of W_gc's initialization"),
      seed: SEED,
      log_metrics: key(boolean, true, "log a histogram of W_gc"),
    },
    load: async () => {
      const { LogisticRegression } = await import("../models/logistic-regression.js");
      return (a) => new LogisticRegression(a);
    },
  }),
  model({
    command: "probabilistic_pca",
    className: "ProbabilisticPCA",
    derived: ["n_obs", "var_names_g"],
    description: "probabilistic PCA, marginalized or as a linear VAE",
    stages: ["fit", "predict"],
    maxEpochs: null,
    args: {
      n_obs: N_OBS,
      var_names_g: VAR_NAMES_G,
      n_components: key(integer, required, "latent dimensions"),
      ppca_flavor: key(
        oneOf(["marginalized", "linear_vae"] as const),
        required,
        "marginalized or linear_vae",
      ),
      mean_g: nullable(float32, "fixed per-gene mean (null: learned)"),
      W_init_scale: key(number, 1, "standard deviation of W_kg's initialization"),
      sigma_init_scale: key(number, 1, "initial sigma"),
      seed: SEED,
    },
    load: async () => {
      const { ProbabilisticPCA } = await import("../models/probabilistic-pca.js");
      return (a) => new ProbabilisticPCA(a);
    },
  }),
  model({
    command: "geneformer",
    className: "Geneformer",
    derived: ["var_names_g"],
    description: "BERT masked-language model over genes in rank order; cell embeddings",
    stages: ["fit", "validate", "predict"],
    maxEpochs: null,
    args: {
      var_names_g: VAR_NAMES_G,
      hidden_size: key(integer, 256, "width of the encoder"),
      num_hidden_layers: key(integer, 6, "encoder layers"),
      num_attention_heads: key(integer, 4, "attention heads per layer"),
      intermediate_size: key(integer, 512, "width of the feed-forward layers"),
      hidden_act: key(oneOf(["relu", "gelu", "silu", "gelu_new"] as const), "relu", "activation"),
      hidden_dropout_prob: key(number, 0.02, "dropout of hidden states"),
      attention_probs_dropout_prob: key(number, 0.02, "dropout of attention probabilities"),
      max_position_embeddings: key(integer, 2048, "genes per cell kept, highest ranked first"),
      type_vocab_size: key(integer, 2, "token types"),
      initializer_range: key(number, 0.02, "standard deviation of weight initialization"),
      position_embedding_type: key(oneOf(POSITION_EMBEDDING_TYPES), "absolute", "position embedding"),
      layer_norm_eps: key(number, 1e-12, "LayerNorm epsilon"),
      mlm_probability: key(number, 0.15, "fraction of attended genes masked"),
      // Upstream's masking and dropout draw from torch's generator, seeded by seed_everything.
      seed: nullable(integer, "seed of masking and dropout (null: seed_everything)"),
    },
    load: async () => {
      const { Geneformer } = await import("../models/geneformer.js");
      return (a, context) => new Geneformer({ ...a, seed: a.seed ?? context.seed });
    },
    // The writer stores one per-cell output; hidden states and attentions ([layers, n, ...]) cannot
    // be written per cell, so a run computes only the sequence outputs it writes.
    predictOptions: (key) => ({
      output_hidden_states: false,
      output_attentions: false,
      output_input_ids: key === "input_ids",
      output_attention_mask: key === "attention_mask",
    }),
  }),
  model({
    command: "incremental_pca",
    className: "IncrementalPCA",
    // Its GEMMs are skinny (20,000 x 60 by 60 x 60) and memory-bound: a second OpenBLAS thread
    // gains nothing on them and its spinning takes the core from the read-ahead worker. Measured
    // on the first 20 batches of the 100k benchmark file (k = 50, 0 workers): 3,912 cells/s with 1
    // thread, 3,280 with 2.
    blasThreads: 1,
    derived: ["var_names_g"],
    description:
      "distributed and incremental PCA: the exact scatter matrix of up to 2,048 genes, else randomized SVDs of batches and their merges",
    stages: ["fit", "predict"],
    maxEpochs: 1,
    args: {
      var_names_g: VAR_NAMES_G,
      n_components: key(integer, required, "principal components kept"),
      svd_lowrank_niter: key(integer, 2, "power iterations of each randomized SVD"),
      perform_mean_correction: key(boolean, true, "center the data on the running mean"),
      oversample: key(integer, DEFAULT_OVERSAMPLE, "extra directions of each randomized SVD (cellarium-ts)"),
      seed: key(integer, 0, "seed of the randomized SVDs (cellarium-ts)"),
      algorithm: key(
        oneOf(["auto", "scatter", "lowrank"] as const),
        "auto",
        "scatter: exact g x g scatter matrix; lowrank: upstream's randomized merges; auto: scatter up to 2,048 genes (cellarium-ts)",
      ),
    },
    load: async () => {
      const { IncrementalPCA } = await import("../models/incremental-pca.js");
      return (a) => new IncrementalPCA(a);
    },
  }),
  model({
    command: "scvi",
    className: "SingleCellVariationalInference",
    // A step is ~27 GEMMs of at most 128 x 2,000 x 128 (0.4 ms each on one thread) between
    // single-threaded kernels: OpenBLAS's second thread costs more in wake-ups and spinning than it
    // saves. Measured on 300 batches of the 100k x 2,000 benchmark file: 3,870 cells/s with 1
    // thread, 2,779 with 2.
    blasThreads: 1,
    derived: ["var_names_g", "n_batch", "n_cats_per_cov", "cell_type_categories"],
    description: "scVI: a variational autoencoder of raw counts with batch and covariate conditioning",
    stages: ["fit", "validate", "predict"],
    maxEpochs: null,
    args: {
      var_names_g: VAR_NAMES_G,
      encoder: key(anything, required, "hidden_layers (layer specs) and final_layer of the encoder"),
      decoder: key(anything, required, "hidden_layers, final_layer and final_additive_bias of the decoder"),
      n_batch: nullable(integer, "batch categories (null: from data.batch_keys.batch_index_n's obs column)"),
      n_latent: key(integer, 10, "dimension of the latent space"),
      n_continuous_cov: only([0], 0, "continuous covariates are not implemented, upstream neither"),
      n_cats_per_cov: nullable(
        integers,
        "categories per categorical covariate (null: from data.batch_keys.categorical_covariate_index_nd)",
      ),
      dropout_rate: key(probability, 0.1, "dropout of the encoder's hidden layers"),
      dispersion: key(
        oneOf(SCVI_DISPERSIONS),
        "gene",
        "inverse overdispersion per gene, per gene and batch, or per cell",
      ),
      log_variational: key(boolean, true, "the encoder reads log1p(x)"),
      gene_likelihood: key(
        oneOf(["nb", "zinb", "poisson"] as const),
        "nb",
        "count likelihood (zinb: scvi-tools')",
      ),
      latent_distribution: only(
        ["normal"],
        "normal",
        "the logistic-normal latent is not implemented, upstream neither",
      ),
      batch_embedded: key(boolean, false, "a learnt batch embedding instead of one-hot batches"),
      batch_representation_sampled: key(boolean, false, "draw the batch embedding from its posterior"),
      n_latent_batch: nullable(integer, "dimension of the batch embedding (null: n_batch)"),
      z_kl_weight_max: key(nonNegative, 1, "weight of KL(q(z) || p(z)) after the warm-up"),
      batch_kl_weight_max: key(nonNegative, 0, "weight of the batch embedding's KL after the warm-up"),
      input_gene_dropout_rate: key(probability, 0, "genes of the encoder's input dropped while training"),
      use_batch_norm: key(oneOf(SCVI_NORM_PLACEMENTS), "both", "where hidden layers use batch norm"),
      use_layer_norm: key(oneOf(SCVI_NORM_PLACEMENTS), "none", "where hidden layers use layer norm"),
      kl_warmup_epochs: nullable(integer, "epochs of the linear KL warm-up", 400),
      kl_warmup_steps: nullable(integer, "steps of the linear KL warm-up (set kl_warmup_epochs: null)"),
      kl_annealing_start: key(number, 0, "KL weight at the start of the warm-up"),
      use_size_factor_key: key(boolean, false, "library size from total_mrna_umis_n (softplus scale)"),
      reconstruct_counts_on_predict: key(
        boolean,
        false,
        "predict writes reconstructed counts instead of latents",
      ),
      reconstruction_var_names_g: nullable(strings, "genes reconstructed (null: all)"),
      reconstruction_transform_batch: nullable(
        anything,
        'batch index decoded into, "mean" or null (own batch)',
        0,
      ),
      reconstruction_n_latent_samples: key(integer, 30, "posterior draws averaged per cell"),
      reconstruction_use_latent_mean: key(boolean, false, "decode the posterior mean instead of draws"),
      reconstruction_use_importance_sampling: key(boolean, false, "weight the draws by q(z) / q(mean)"),
      reconstructed_library_size: key(number, 10_000, "library size of every reconstructed cell"),
      reconstruction_transform_categorical_covariates: nullable(
        integers,
        "covariate categories decoded into",
      ),
      use_flow: only([false], false, "the normalizing-flow prior (zuko) is not implemented in cellarium-ts"),
      flow_hidden_features: ignored([64, 64], "only used by the normalizing-flow prior"),
      cell_type_categories: nullable(
        strings,
        "validation cell types (filled in from data; only the ontology metrics read them)",
      ),
      ontology_distance_matrix: only(
        [],
        null,
        "the cell-ontology validation metrics are not implemented in cellarium-ts; remove the key",
      ),
      val_cell_type_classifier_reservoir_size: ignored(
        50_000,
        "only used by the cell-ontology validation metrics",
      ),
      seed: nullable(integer, "seed of the initialization, latent draws and dropout (null: seed_everything)"),
    },
    load: async () => {
      const { SingleCellVariationalInference } = await import("../models/scvi.js");
      return (a, context) => {
        const transformBatch = a.reconstruction_transform_batch;
        if (transformBatch !== null && transformBatch !== "mean" && !Number.isInteger(transformBatch)) {
          throw new ConfigError(
            `model.model.init_args.reconstruction_transform_batch: expected an integer batch index, "mean" or null, got ${JSON.stringify(transformBatch)}`,
          );
        }
        return new SingleCellVariationalInference({
          ...a,
          n_batch: a.n_batch ?? 1,
          encoder: a.encoder as JsonValue,
          decoder: a.decoder as JsonValue,
          n_cats_per_cov: a.n_cats_per_cov === null ? null : [a.n_cats_per_cov].flat(),
          seed: a.seed ?? context.seed,
          reconstruction: {
            var_names_g: a.reconstruction_var_names_g,
            transform_batch: transformBatch as number | "mean" | null,
            n_latent_samples: a.reconstruction_n_latent_samples,
            use_latent_mean: a.reconstruction_use_latent_mean,
            use_importance_sampling: a.reconstruction_use_importance_sampling,
            library_size: a.reconstructed_library_size,
            transform_categorical_covariates:
              a.reconstruction_transform_categorical_covariates === null
                ? null
                : [a.reconstruction_transform_categorical_covariates].flat(),
          },
        });
      };
    },
  }),
];

const EPS = key(number, 1e-6, "added to the divisor");
const P_APPLY = key(probability, required, "probability that a cell is augmented");

const TRANSFORMS: readonly TransformEntry[] = [
  transform({
    className: "NormalizeTotal",
    args: { target_count: key(number, 10_000, "total of each cell after scaling"), eps: EPS },
    create: (a) => new NormalizeTotal({ target_count: a.target_count, eps: a.eps }),
    fromState: (s) => NormalizeTotal.fromState(s),
  }),
  transform({
    className: "Log1p",
    args: {},
    create: () => new Log1p(),
    fromState: (s) => Log1p.fromState(s),
  }),
  transform({
    className: "Densify",
    args: {},
    create: () => new Densify(),
    fromState: (s) => Densify.fromState(s),
  }),
  transform({
    className: "ZScore",
    args: {
      mean_g: key(float32, required, "per-gene mean"),
      std_g: key(float32, required, "per-gene standard deviation"),
      var_names_g: key(strings, required, "the genes of mean_g and std_g"),
      eps: EPS,
    },
    create: (a) => new ZScore(a),
    fromState: (s) => ZScore.fromState(s),
  }),
  transform({
    className: "DivideByScale",
    args: {
      scale_g: key(float32, required, "per-gene scale"),
      var_names_g: key(strings, required, "the genes of scale_g"),
      eps: EPS,
    },
    create: (a) => new DivideByScale(a),
    fromState: (s) => DivideByScale.fromState(s),
  }),
  transform({
    className: "Filter",
    args: {
      filter_list: key(strings, required, "the genes kept"),
      ordering: key(boolean, true, "output in filter_list's order"),
      allow_missing: key(boolean, false, "zero-fill genes missing from the data"),
    },
    create: (a) =>
      new Filter({ filter_list: a.filter_list, ordering: a.ordering, allow_missing: a.allow_missing }),
    fromState: (s) => Filter.fromState(s),
  }),
  transform({
    className: "CenterPerCell",
    args: {},
    create: () => new CenterPerCell(),
    fromState: (s) => CenterPerCell.fromState(s),
  }),
  transform({
    className: "PFlogPF",
    args: { target_count: key(number, 1, "total of each cell before log1p and centering"), eps: EPS },
    create: (a) => new PFlogPF({ target_count: a.target_count, eps: a.eps }),
    fromState: (s) => PFlogPF.fromState(s),
  }),
  // The augmentations draw from their batch's own stream, keyed by seed_everything
  // (src/transforms/batch-random.ts), in fit, validate and predict alike, as upstream applies them.
  transform({
    className: "BinomialResample",
    args: {
      p_binom_min: key(probability, required, "lower bound of each count's binomial probability"),
      p_binom_max: key(probability, required, "upper bound of each count's binomial probability"),
      p_apply: P_APPLY,
    },
    create: (a) => new BinomialResample(a),
    fromState: (s) => BinomialResample.fromState(s),
  }),
  transform({
    className: "Dropout",
    args: {
      p_dropout_min: key(probability, required, "lower bound of each count's dropout probability"),
      p_dropout_max: key(probability, required, "upper bound of each count's dropout probability"),
      p_apply: P_APPLY,
    },
    create: (a) => new Dropout(a),
    fromState: (s) => Dropout.fromState(s),
  }),
  transform({
    className: "GaussianNoise",
    args: {
      sigma_min: key(nonNegative, required, "lower bound of each entry's noise standard deviation"),
      sigma_max: key(nonNegative, required, "upper bound of each entry's noise standard deviation"),
      p_apply: P_APPLY,
    },
    create: (a) => new GaussianNoise(a),
    fromState: (s) => GaussianNoise.fromState(s),
  }),
  transform({
    className: "Randomize",
    args: { p_apply: key(probability, required, "probability that a cell takes its x_aug row") },
    create: (a) => new Randomize(a),
    fromState: (s) => Randomize.fromState(s),
  }),
  transform({
    className: "Duplicate",
    args: { enabled: key(boolean, true, "stack x_ng's rows twice (false: pass through, for inference)") },
    create: (a) => new Duplicate(a),
    fromState: (s) => Duplicate.fromState(s),
  }),
];

export function modelByCommand(command: string): ModelEntry | undefined {
  return MODELS.find((m) => m.command === command);
}

export function modelByClass(classPath: string, where: string): ModelEntry {
  const entry = MODELS.find((m) => m.className === classNameOf(classPath));
  if (!entry) {
    throw new ConfigError(
      `${where}: unknown model class "${classPath}"; known: ${MODELS.map((m) => m.className).join(", ")}`,
    );
  }
  return entry;
}

function transformEntry(classPath: string, where: string): TransformEntry {
  const entry = TRANSFORMS.find((t) => t.className === classNameOf(classPath));
  if (!entry) {
    throw new ConfigError(
      `${where}: unknown transform class "${classPath}"; known: ${TRANSFORMS.map((t) => t.className).join(", ")}`,
    );
  }
  return entry;
}

/** What builds each model whose module is loaded (loadModel). */
const loadedModels = new Map<ModelEntry, ModelCreator>();

/** Loads the module of `entry`'s model, once: createModel then builds it. */
export async function loadModel(entry: ModelEntry): Promise<void> {
  if (!loadedModels.has(entry)) loadedModels.set(entry, await entry.load());
}

/** Loads every model's module (for a command that learns the model from the files it reads). */
export async function loadAllModels(): Promise<void> {
  for (const entry of MODELS) await loadModel(entry);
}

/** Loads the module of the model class at `classPath` (a checkpoint's or a config's; `where` names it in errors). */
export async function loadModelClass(classPath: string, where: string): Promise<void> {
  await loadModel(modelByClass(classPath, where));
}

/**
 * Builds a model of `entry` from resolved init_args; unknown arguments are an error. Its module
 * must have been loaded (loadModel), so that this stays synchronous for the merges mid-run.
 */
export function createModel(
  entry: ModelEntry,
  initArgs: Readonly<Record<string, Value>>,
  where: string,
  context: ModelContext = { seed: 0 },
): CellariumModel {
  const create = loadedModels.get(entry);
  if (create === undefined) throw new Error(`createModel: ${entry.className} is not loaded (loadModel)`);
  return create(parseSection(initArgs, entry.args, where), context);
}

/** Builds a transform from its class path and resolved init_args. */
export function createTransform(
  classPath: string,
  initArgs: Readonly<Record<string, Value>>,
  where: string,
): Transform {
  const entry = transformEntry(classPath, where);
  const args = parseSection(initArgs, entry.args, `${where}.init_args`);
  try {
    return entry.create(args);
  } catch (error) {
    // A rule between arguments (p_dropout_min <= p_dropout_max): the config's place of them.
    if (!(error instanceof ArgumentError)) throw error;
    const at = `${where}.init_args${error.key === undefined ? "" : `.${error.key}`}`;
    throw new ConfigError(`${where}.init_args: ${error.message}`, {
      key: at,
      value: error.value,
      cause: error,
    });
  }
}

/** Rebuilds a transform saved in a checkpoint. */
export function transformFromState(state: TransformState, where: string): Transform {
  return transformEntry(state.name, where).fromState(state);
}

/** Builds a model from a checkpoint's class name and init arguments (merges of replicas and parts). */
export const modelFactory: ModelFactory = (className, initArgs, where) =>
  createModel(modelByClass(className, where), initArgs, where);
