// Optimizers and LR schedules by the names configs use: upstream's class paths
// (`torch.optim.AdamW`, `transformers.get_linear_schedule_with_warmup`) or short names (`adamw`),
// with keyword arguments by torch's and transformers' names (`weight_decay`, `num_warmup_steps`).
// A checkpoint stores the name and kwargs, so a resumed run rebuilds the same optimizer.

import { ConfigError } from "../errors.js";
import type { JsonValue } from "../json.js";
import { type AdamOptions, adam, adamW } from "./adam.js";
import type { Optimizer } from "./optimizer.js";
import {
  constantSchedule,
  constantScheduleWithWarmup,
  cosineAnnealingLr,
  cosineScheduleWithWarmup,
  exponentialLr,
  type LrSchedule,
  linearLr,
  linearScheduleWithWarmup,
  stepLr,
} from "./schedulers.js";
import { type SgdOptions, sgd } from "./sgd.js";
import type { OptimParam } from "./types.js";

export type Kwargs = Record<string, JsonValue>;

/** Trainable parameters in groups with a learning-rate multiplier (muP); one group without. */
export interface ParamGroupInput {
  readonly params: readonly OptimParam[];
  readonly lrScale?: number;
}

interface Entry<T> {
  readonly names: readonly string[];
  /** Allowed kwargs: config name -> option name (undefined: accepted and ignored, e.g. foreach). */
  readonly kwargs: Readonly<Record<string, string | undefined>>;
  readonly build: (options: Record<string, JsonValue>) => T;
}

function number(value: JsonValue | undefined, key: string, where: string): number {
  if (typeof value !== "number")
    throw new ConfigError(`${where}: ${key} must be a number, got ${JSON.stringify(value)}`);
  return value;
}

const adamKwargs = {
  lr: "lr",
  betas: "betas",
  eps: "eps",
  weight_decay: "weightDecay",
  amsgrad: "amsgrad",
  foreach: undefined,
  maximize: undefined,
  capturable: undefined,
  differentiable: undefined,
  fused: undefined,
};

/** Any optimizer the registry builds. */
export type AnyOptimizer = Optimizer<AdamOptions> | Optimizer<SgdOptions>;

type OptimizerFactory = (groups: readonly ParamGroupInput[]) => AnyOptimizer;

const optimizers: Entry<OptimizerFactory>[] = [
  {
    names: ["torch.optim.Adam", "Adam", "adam"],
    kwargs: adamKwargs,
    build: (o) => (groups) => adam(groups, o as Partial<AdamOptions>),
  },
  {
    names: ["torch.optim.AdamW", "AdamW", "adamw"],
    kwargs: adamKwargs,
    build: (o) => (groups) => adamW(groups, o as Partial<AdamOptions>),
  },
  {
    names: ["torch.optim.SGD", "SGD", "sgd"],
    kwargs: {
      lr: "lr",
      momentum: "momentum",
      dampening: "dampening",
      weight_decay: "weightDecay",
      nesterov: "nesterov",
      foreach: undefined,
      maximize: undefined,
      differentiable: undefined,
    },
    build: (o) => (groups) => sgd(groups, o as Partial<SgdOptions>),
  },
];

/**
 * The options of the optimizer a config or checkpoint names (`torch.optim.Adam`, `Adam`, ...) by
 * torch's keyword names (undefined: accepted and ignored, e.g. foreach); undefined for an optimizer
 * cellarium-ts does not have.
 */
export function optimizerOptionNames(name: string): Readonly<Record<string, string | undefined>> | undefined {
  return optimizers.find((e) => e.names.includes(name))?.kwargs;
}

const schedules: Entry<LrSchedule>[] = [
  { names: ["constant", "transformers.get_constant_schedule"], kwargs: {}, build: () => constantSchedule() },
  {
    names: ["transformers.get_constant_schedule_with_warmup", "constant_with_warmup"],
    kwargs: { num_warmup_steps: "numWarmupSteps" },
    build: (o) =>
      constantScheduleWithWarmup(number(o.numWarmupSteps, "num_warmup_steps", "constant_with_warmup")),
  },
  {
    names: ["transformers.get_linear_schedule_with_warmup", "linear_with_warmup"],
    kwargs: { num_warmup_steps: "numWarmupSteps", num_training_steps: "numTrainingSteps" },
    build: (o) =>
      linearScheduleWithWarmup(
        number(o.numWarmupSteps, "num_warmup_steps", "linear_with_warmup"),
        number(o.numTrainingSteps, "num_training_steps", "linear_with_warmup"),
      ),
  },
  {
    names: ["transformers.get_cosine_schedule_with_warmup", "cosine_with_warmup"],
    kwargs: {
      num_warmup_steps: "numWarmupSteps",
      num_training_steps: "numTrainingSteps",
      num_cycles: "numCycles",
    },
    build: (o) =>
      cosineScheduleWithWarmup(
        number(o.numWarmupSteps, "num_warmup_steps", "cosine_with_warmup"),
        number(o.numTrainingSteps, "num_training_steps", "cosine_with_warmup"),
        o.numCycles === undefined ? undefined : number(o.numCycles, "num_cycles", "cosine_with_warmup"),
      ),
  },
  {
    names: ["torch.optim.lr_scheduler.LinearLR", "LinearLR"],
    kwargs: { start_factor: "startFactor", end_factor: "endFactor", total_iters: "totalIters" },
    build: (o) => linearLr(o as never),
  },
  {
    names: ["torch.optim.lr_scheduler.StepLR", "StepLR"],
    kwargs: { step_size: "stepSize", gamma: "gamma" },
    build: (o) => stepLr(o as never),
  },
  {
    names: ["torch.optim.lr_scheduler.ExponentialLR", "ExponentialLR"],
    kwargs: { gamma: "gamma" },
    build: (o) => exponentialLr(o as never),
  },
  {
    names: ["torch.optim.lr_scheduler.CosineAnnealingLR", "CosineAnnealingLR"],
    kwargs: { T_max: "tMax", eta_min: "etaMin" },
    build: (o) => cosineAnnealingLr(o as never),
  },
];

function resolve<T>(kind: string, entries: readonly Entry<T>[], name: string, kwargs: Kwargs): T {
  const entry = entries.find((e) => e.names.includes(name));
  if (!entry) {
    const known = entries.map((e) => e.names[0]).join(", ");
    throw new ConfigError(`${kind} "${name}" is not supported; known: ${known}`);
  }
  const options: Record<string, JsonValue> = {};
  for (const [key, value] of Object.entries(kwargs)) {
    if (!(key in entry.kwargs)) {
      throw new ConfigError(
        `${name}: unknown argument "${key}"; accepted: ${Object.keys(entry.kwargs).join(", ")}`,
      );
    }
    const option = entry.kwargs[key];
    if (option !== undefined && value !== null) options[option] = value;
  }
  return entry.build(options);
}

/** Builds an optimizer from a config name and torch-style kwargs. */
export function createOptimizer(
  name: string,
  groups: readonly ParamGroupInput[],
  kwargs: Kwargs = {},
): AnyOptimizer {
  return resolve("optimizer", optimizers, name, kwargs)(groups);
}

/** Builds an LR schedule from a config name and its kwargs. */
export function createSchedule(name: string, kwargs: Kwargs = {}): LrSchedule {
  return resolve("LR scheduler", schedules, name, kwargs);
}
