// What the trainer trains (upstream's CellariumModule): the transforms applied to every batch, the
// model, and how to build its optimizer and LR schedule. Transforms here are fixed (ZScore with
// given statistics, a frozen IncrementalPCA); only the model learns.

import type { Batch } from "../data/batch.js";
import { ArgumentError } from "../errors.js";
import type { JsonValue } from "../json.js";
import type { CellariumModel } from "../models/model.js";
import {
  type AnyOptimizer,
  createOptimizer,
  createSchedule,
  type Kwargs,
  type ParamGroupInput,
} from "../optim/registry.js";
import { LrScheduler } from "../optim/schedulers.js";
import type { OptimParam } from "../optim/types.js";
import type { Tensor } from "../tensor/tensor.js";
import { composeTransforms, type PipelineCallOptions, type PipelineStep } from "../transforms/compose.js";

export interface NamedConfig {
  /** A config name or upstream class path: `torch.optim.Adam`, `transformers.get_linear_schedule_with_warmup`. */
  readonly name: string;
  readonly kwargs: Kwargs;
}

export interface CellariumModuleOptions {
  readonly transforms?: readonly PipelineStep[];
  readonly model: CellariumModel;
  /** Absent for streaming models, which have no parameters. */
  readonly optimizer?: NamedConfig;
  readonly scheduler?: NamedConfig;
  /** Parameter groups with learning-rate multipliers (muP); default: one group of model.parameters(). */
  readonly paramGroups?: () => readonly ParamGroupInput[];
}

/** What configureOptimizers gives a fit: the optimizer and its LR schedule, if any. */
export interface Optimization {
  readonly optimizer: AnyOptimizer;
  readonly scheduler: LrScheduler | null;
}

/**
 * A model with its pipeline and optimizer config (upstream's CellariumModule): what the
 * {@link Trainer} fits and what a checkpoint stores. `transforms` run on every batch before the
 * model (also at predict time); `optimizer` and `scheduler` name torch's classes with their kwargs
 * (`torch.optim.AdamW`, `{lr: 1e-3}`), as a config's `optim_fn` / `optim_kwargs` do.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CellariumModule, Log1p, NormalizeTotal, ProbabilisticPCA } from "cellarium-ts/node";
 *
 * const var_names_g = ["g0", "g1", "g2"];
 * const module = new CellariumModule({
 *   transforms: [new NormalizeTotal({ target_count: 10 }), new Log1p()],
 *   model: new ProbabilisticPCA({ n_obs: 100, var_names_g, n_components: 2, ppca_flavor: "marginalized" }),
 *   optimizer: { name: "torch.optim.Adam", kwargs: { lr: 0.01 } },
 * });
 * const batch = module.transform({ x_ng: { format: "dense", nRows: 1, nCols: 3, data: new Float32Array([1, 1, 3]) }, var_names_g });
 * assert.ok(Math.abs(batch.x_ng.data[2]! - Math.log1p(6)) < 1e-6);
 * assert.ok(module.configureOptimizers() !== null);
 * ```
 */
export class CellariumModule {
  /** The steps run on every batch before the model, in order. */
  readonly transforms: readonly PipelineStep[];
  /** The model the Trainer fits. */
  readonly model: CellariumModel;
  readonly optimizerConfig: NamedConfig | undefined;
  readonly schedulerConfig: NamedConfig | undefined;
  private readonly applyTransforms: (batch: Batch, options?: PipelineCallOptions) => Batch;
  private readonly paramGroups: () => readonly ParamGroupInput[];

  constructor(options: CellariumModuleOptions) {
    this.transforms = options.transforms ?? [];
    this.model = options.model;
    this.optimizerConfig = options.optimizer;
    this.schedulerConfig = options.scheduler;
    this.applyTransforms = composeTransforms(this.transforms);
    this.paramGroups = options.paramGroups ?? (() => [{ params: optimParams(this.model.parameters()) }]);
  }

  /** The batch after the transforms, as the model sees it (see PipelineCallOptions for `options`). */
  transform(batch: Batch, options?: PipelineCallOptions): Batch {
    return this.applyTransforms(batch, options);
  }

  /** The optimizer and scheduler for a fit, or null for a model without an optimizer config. */
  configureOptimizers(): Optimization | null {
    if (!this.optimizerConfig) return null;
    const optimizer = createOptimizer(
      this.optimizerConfig.name,
      this.paramGroups(),
      this.optimizerConfig.kwargs,
    );
    const scheduler = this.schedulerConfig
      ? new LrScheduler(optimizer, createSchedule(this.schedulerConfig.name, this.schedulerConfig.kwargs))
      : null;
    return { optimizer, scheduler };
  }

  /** The optimizer and scheduler configs as a checkpoint stores them. */
  optimizerJson(): JsonValue {
    return this.optimizerConfig
      ? { name: this.optimizerConfig.name, kwargs: this.optimizerConfig.kwargs }
      : null;
  }
}

/** Parameters as the optimizers see them; only float tensors can be trained. */
export function optimParams(tensors: readonly Tensor[]): OptimParam[] {
  return tensors.map((tensor, i) => {
    if (tensor.dtype === "int32")
      throw new ArgumentError(`parameter ${i} is int32; only float tensors can be trained`);
    return tensor as OptimParam;
  });
}
