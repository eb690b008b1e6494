// The typed registry behind the command line: models by their command names and class paths,
// transforms by class path, each built from upstream's init_args names. Upstream class paths
// (`cellarium.ml.models.OnePassMeanVarStd`) and bare class names are both accepted.

import type { Transform, TransformState } from "../data/batch.js";
import { ConfigError } from "../errors.js";
import { Geneformer } from "../models/geneformer.js";
import { DEFAULT_OVERSAMPLE, IncrementalPCA } from "../models/incremental-pca.js";
import { POSITION_EMBEDDING_TYPES } from "../models/layers/bert.js";
import { LogisticRegression } from "../models/logistic-regression.js";
import type { CellariumModel, PredictOptions } from "../models/model.js";
import { OnePassMeanVarStd } from "../models/onepass-mean-var-std.js";
import { ProbabilisticPCA } from "../models/probabilistic-pca.js";
import { TDigest } from "../models/tdigest.js";
import type { ModelFactory } from "../train/merge-partials.js";
import { Densify } from "../transforms/densify.js";
import { DivideByScale } from "../transforms/divide-by-scale.js";
import { Filter } from "../transforms/filter.js";
import { Log1p } from "../transforms/log1p.js";
import { NormalizeTotal } from "../transforms/normalize-total.js";
import { ZScore } from "../transforms/z-score.js";
import { ArgReader, type InitArgs } from "./args.js";

/** Arguments the command line fills in from the data when the config leaves them out. */
export type DerivedArg = "var_names_g" | "n_obs" | "y_categories";

export type Stage = "fit" | "validate" | "predict";

export interface ModelEntry {
  /** The command name, upstream's registered name. */
  readonly command: string;
  readonly className: string;
  readonly derived: readonly DerivedArg[];
  readonly description: string;
  /** fit for every model; predict and validate for PredictMixin / ValidateMixin models. */
  readonly stages: readonly Stage[];
  /** Models that draw random numbers while training take their generator's seed from seed_everything. */
  create(args: ArgReader, context: ModelContext): CellariumModel;
  /** The predict arguments for a run that writes the output `key` (only what is written is computed). */
  predictOptions?(key: string): PredictOptions;
  /** OpenBLAS threads for this model's runs when OPENBLAS_NUM_THREADS is not set (default: OpenBLAS's own). */
  readonly blasThreads?: number;
}

export interface ModelContext {
  /** seed_everything (Lightning seeds torch's global generator with it; our models get it explicitly). */
  readonly seed: number;
}

interface TransformEntry {
  readonly className: string;
  create(args: ArgReader): Transform;
  fromState(state: TransformState): Transform;
}

export const MODELS: readonly ModelEntry[] = [
  {
    command: "onepass_mean_var_std",
    className: "OnePassMeanVarStd",
    derived: ["var_names_g"],
    description: "per-gene mean, variance and standard deviation in one pass",
    stages: ["fit"],
    create: (a) =>
      new OnePassMeanVarStd({
        var_names_g: a.strings("var_names_g"),
        algorithm: a.oneOf("algorithm", ["naive", "shifted_data"] as const, "naive"),
        output_path: a.optionalString("output_path", "onepass_mean_var_std_output.csv"),
      }),
  },
  {
    command: "tdigest",
    className: "TDigest",
    derived: ["var_names_g"],
    description: "per-gene t-digests of non-zero values: medians and quantiles",
    stages: ["fit"],
    create: (a) =>
      new TDigest({ var_names_g: a.strings("var_names_g"), compression: a.number("compression", 100) }),
  },
  {
    command: "logistic_regression",
    className: "LogisticRegression",
    derived: ["n_obs", "var_names_g", "y_categories"],
    description: "multinomial logistic regression (MAP, Laplace prior on the weights)",
    stages: ["fit", "validate", "predict"],
    create: (a) =>
      new LogisticRegression({
        n_obs: a.integer("n_obs"),
        var_names_g: a.strings("var_names_g"),
        y_categories: a.strings("y_categories"),
        W_prior_scale: a.number("W_prior_scale", 1),
        W_init_scale: a.number("W_init_scale", 1),
        seed: a.integer("seed", 0),
        log_metrics: a.boolean("log_metrics", true),
      }),
  },
  {
    command: "probabilistic_pca",
    className: "ProbabilisticPCA",
    derived: ["n_obs", "var_names_g"],
    description: "probabilistic PCA, marginalized or as a linear VAE",
    stages: ["fit", "predict"],
    create: (a) =>
      new ProbabilisticPCA({
        n_obs: a.integer("n_obs"),
        var_names_g: a.strings("var_names_g"),
        n_components: a.integer("n_components"),
        ppca_flavor: a.oneOf("ppca_flavor", ["marginalized", "linear_vae"] as const),
        mean_g: a.optional("mean_g", a.float32) ?? null,
        W_init_scale: a.number("W_init_scale", 1),
        sigma_init_scale: a.number("sigma_init_scale", 1),
        seed: a.integer("seed", 0),
      }),
  },
  {
    command: "geneformer",
    className: "Geneformer",
    derived: ["var_names_g"],
    description: "BERT masked-language model over genes in rank order; cell embeddings",
    stages: ["fit", "predict"],
    create: (a, context) =>
      new Geneformer({
        var_names_g: a.strings("var_names_g"),
        hidden_size: a.integer("hidden_size", 256),
        num_hidden_layers: a.integer("num_hidden_layers", 6),
        num_attention_heads: a.integer("num_attention_heads", 4),
        intermediate_size: a.integer("intermediate_size", 512),
        hidden_act: a.oneOf("hidden_act", ["relu", "gelu", "silu", "gelu_new"] as const, "relu"),
        hidden_dropout_prob: a.number("hidden_dropout_prob", 0.02),
        attention_probs_dropout_prob: a.number("attention_probs_dropout_prob", 0.02),
        max_position_embeddings: a.integer("max_position_embeddings", 2048),
        type_vocab_size: a.integer("type_vocab_size", 2),
        initializer_range: a.number("initializer_range", 0.02),
        position_embedding_type: a.oneOf("position_embedding_type", POSITION_EMBEDDING_TYPES, "absolute"),
        layer_norm_eps: a.number("layer_norm_eps", 1e-12),
        mlm_probability: a.number("mlm_probability", 0.15),
        // Upstream's masking and dropout draw from torch's generator, seeded by seed_everything.
        seed: a.integer("seed", context.seed),
      }),
    // The writer stores one per-cell output; hidden states and attentions ([layers, n, ...]) cannot
    // be written per cell, so a run computes only the sequence outputs it writes.
    predictOptions: (key) => ({
      output_hidden_states: false,
      output_attentions: false,
      output_input_ids: key === "input_ids",
      output_attention_mask: key === "attention_mask",
    }),
  },
  {
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
    create: (a) =>
      new IncrementalPCA({
        var_names_g: a.strings("var_names_g"),
        n_components: a.integer("n_components"),
        svd_lowrank_niter: a.integer("svd_lowrank_niter", 2),
        perform_mean_correction: a.boolean("perform_mean_correction", true),
        oversample: a.integer("oversample", DEFAULT_OVERSAMPLE),
        seed: a.integer("seed", 0),
        algorithm: a.oneOf("algorithm", ["auto", "scatter", "lowrank"] as const, "auto"),
      }),
  },
];

const TRANSFORMS: readonly TransformEntry[] = [
  {
    className: "NormalizeTotal",
    create: (a) =>
      new NormalizeTotal({ targetCount: a.number("target_count", 10_000), eps: a.number("eps", 1e-6) }),
    fromState: (s) => NormalizeTotal.fromState(s),
  },
  { className: "Log1p", create: () => new Log1p(), fromState: (s) => Log1p.fromState(s) },
  { className: "Densify", create: () => new Densify(), fromState: (s) => Densify.fromState(s) },
  {
    className: "ZScore",
    create: (a) =>
      new ZScore({
        mean_g: a.float32("mean_g"),
        std_g: a.float32("std_g"),
        var_names_g: a.strings("var_names_g"),
        eps: a.number("eps", 1e-6),
      }),
    fromState: (s) => ZScore.fromState(s),
  },
  {
    className: "DivideByScale",
    create: (a) =>
      new DivideByScale({
        scale_g: a.float32("scale_g"),
        var_names_g: a.strings("var_names_g"),
        eps: a.number("eps", 1e-6),
      }),
    fromState: (s) => DivideByScale.fromState(s),
  },
  {
    className: "Filter",
    create: (a) =>
      new Filter({
        filterList: a.strings("filter_list"),
        ordering: a.boolean("ordering", true),
        allowMissing: a.boolean("allow_missing", false),
      }),
    fromState: (s) => Filter.fromState(s),
  },
];

/** `cellarium.ml.models.IncrementalPCA` -> `IncrementalPCA`. */
export function classNameOf(classPath: string): string {
  return classPath.slice(classPath.lastIndexOf(".") + 1);
}

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

/** Builds a model of `entry` from resolved init_args; unknown arguments are an error. */
export function createModel(
  entry: ModelEntry,
  initArgs: InitArgs,
  where: string,
  context: ModelContext = { seed: 0 },
): CellariumModel {
  const reader = new ArgReader(initArgs, where);
  const model = entry.create(reader, context);
  reader.done();
  return model;
}

/** Builds a transform from its class path and resolved init_args. */
export function createTransform(classPath: string, initArgs: InitArgs, where: string): Transform {
  const reader = new ArgReader(initArgs, `${where}.init_args`);
  const transform = transformEntry(classPath, where).create(reader);
  reader.done();
  return transform;
}

/** Rebuilds a transform saved in a checkpoint. */
export function transformFromState(state: TransformState, where: string): Transform {
  return transformEntry(state.name, where).fromState(state);
}

/** Builds a model from a checkpoint's class name and init arguments (merges of replicas and parts). */
export const modelFactory: ModelFactory = (className, initArgs, where) =>
  createModel(modelByClass(className, where), initArgs, where);
