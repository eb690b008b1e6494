// The typed registry behind the command line: models by their command names and class paths,
// transforms by class path, each built from upstream's init_args names. Upstream class paths
// (`cellarium.ml.models.OnePassMeanVarStd`) and bare class names are both accepted.

import type { Transform, TransformState } from "../data/batch.js";
import { ConfigError } from "../errors.js";
import { DEFAULT_OVERSAMPLE, IncrementalPCA } from "../models/incremental-pca.js";
import type { CellariumModel } from "../models/model.js";
import { OnePassMeanVarStd } from "../models/onepass-mean-var-std.js";
import { TDigest } from "../models/tdigest.js";
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
  create(args: ArgReader): CellariumModel;
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
    command: "incremental_pca",
    className: "IncrementalPCA",
    derived: ["var_names_g"],
    description: "distributed and incremental PCA by randomized SVDs of batches and their merges",
    stages: ["fit", "predict"],
    create: (a) =>
      new IncrementalPCA({
        var_names_g: a.strings("var_names_g"),
        n_components: a.integer("n_components"),
        svd_lowrank_niter: a.integer("svd_lowrank_niter", 2),
        perform_mean_correction: a.boolean("perform_mean_correction", true),
        oversample: a.integer("oversample", DEFAULT_OVERSAMPLE),
        seed: a.integer("seed", 0),
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
export function createModel(entry: ModelEntry, initArgs: InitArgs, where: string): CellariumModel {
  const reader = new ArgReader(initArgs, where);
  const model = entry.create(reader);
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
