// The one Optimizer class: parameter groups with their hyperparameters, per-parameter state and step
// counts, and an OptimizerRule (SGD, Adam, AdamW) that does the math. Mirrors torch.optim.Optimizer:
// groups override the defaults, parameters without a gradient are skipped (their state and step
// count do not advance), state is indexed by a parameter's position across all groups.

import { ArgumentError, CheckpointError } from "../errors.js";
import type { BaseOptions, FloatArray, OptimizerRule, OptimParam } from "./types.js";

/**
 * A parameter group: its parameters, its hyperparameters and `lrScale`. The effective learning
 * rate of the group is `lr * lrScale` (lrScale is ours, not torch's: muP scales the learning rate
 * per parameter; schedulers change `lr` and leave `lrScale` alone).
 */
export type ParamGroup<O extends BaseOptions> = O & {
  readonly params: readonly OptimParam[];
  lrScale: number;
};

/** What a caller passes for a group: parameters plus any options that differ from the defaults. */
export type ParamGroupSpec<O extends BaseOptions> = Partial<O> & {
  readonly params: readonly OptimParam[];
  lrScale?: number;
};

/** JSON-serializable description of a group in a state dict: options, lrScale, parameter indices. */
export type GroupMetadata<O extends BaseOptions> = O & { lrScale: number; params: number[] };

/**
 * An optimizer's state: buffers as named arrays (`state.<paramIndex>.<buffer>`, e.g.
 * `state.3.exp_avg`, torch's names) that a checkpoint stores as tensors, and JSON metadata.
 */
export interface OptimizerStateDict<O extends BaseOptions = BaseOptions> {
  readonly tensors: Record<string, FloatArray>;
  readonly metadata: {
    readonly optimizer: string;
    /** Updates applied to each parameter (0 = never stepped, no buffers). */
    readonly steps: number[];
    readonly groups: GroupMetadata<O>[];
  };
}

const STATE_KEY = /^state\.(\d+)\.([A-Za-z_][A-Za-z0-9_]*)$/;

/**
 * A gradient-descent optimizer: one update rule (Adam, AdamW, SGD) applied to groups of
 * parameters, each group with its own options and learning-rate scale (torch.optim.Optimizer's
 * param_groups). Create one with {@link adam}, {@link adamW} or {@link sgd}; `step()` applies the
 * parameters' `grad`, `zeroGrad()` clears them, and `stateDict()` / `loadStateDict()` save and
 * restore the moments for a checkpoint.
 */
export class Optimizer<O extends BaseOptions> {
  readonly rule: OptimizerRule<O>;
  readonly paramGroups: ParamGroup<O>[];
  private readonly params: OptimParam[] = [];
  private readonly state: Record<string, FloatArray>[] = [];
  private readonly steps: number[] = [];

  /** `params` is a list of parameters (one group) or of groups; `defaults` override the rule's. */
  constructor(
    rule: OptimizerRule<O>,
    params: readonly OptimParam[] | readonly ParamGroupSpec<O>[],
    defaults: Partial<O> = {},
  ) {
    this.rule = rule;
    const base = { ...rule.defaults, ...defaults };
    if (params.length === 0) throw new ArgumentError(`${rule.name}: got an empty parameter list`);
    const specs = isGroupList(params) ? params : [{ params } as ParamGroupSpec<O>];
    const seen = new Set<OptimParam>();
    this.paramGroups = specs.map((spec, g) => {
      const group = { ...base, lrScale: 1, ...spec, params: [...spec.params] } as ParamGroup<O>;
      const where = `${rule.name}: param group ${g}`;
      this.validateGroup(group, where);
      for (const param of group.params) {
        if (seen.has(param)) {
          throw new ArgumentError(
            `${where}: parameter ${this.params.indexOf(param)} appears in more than one group`,
          );
        }
        seen.add(param);
        this.params.push(param);
        this.state.push({});
        this.steps.push(0);
      }
      return group;
    });
  }

  /** Applies one update to every parameter that has a gradient. */
  step(): void {
    let index = 0;
    for (const group of this.paramGroups) {
      const lr = group.lr * group.lrScale;
      for (const param of group.params) {
        const i = index++;
        if (param.grad === null) continue;
        const grad = param.grad.data;
        if (grad.length !== param.data.length) {
          throw new ArgumentError(
            `${this.rule.name}: parameter ${i} has ${param.data.length} elements but its gradient ${grad.length}`,
          );
        }
        const step = ++this.steps[i]!;
        if (step === 1) this.state[i] = this.rule.init(param.data, group);
        this.rule.update(param.data, grad, this.state[i]!, step, lr, group);
      }
    }
  }

  /** Sets every gradient to zero in place (torch's zero_grad(set_to_none=False)). */
  zeroGrad(): void {
    for (const param of this.params) param.grad?.data.fill(0);
  }

  /**
   * The state as named arrays plus JSON metadata. The arrays are the live buffers, not copies:
   * encode them (e.g. encodeSafetensors) before the next step.
   */
  stateDict(): OptimizerStateDict<O> {
    const tensors: Record<string, FloatArray> = {};
    this.state.forEach((buffers, i) => {
      for (const [name, buffer] of Object.entries(buffers)) tensors[`state.${i}.${name}`] = buffer;
    });
    let index = 0;
    const groups = this.paramGroups.map((group) => {
      const { params, ...options } = group;
      return { ...options, params: params.map(() => index++) } as unknown as GroupMetadata<O>;
    });
    return { tensors, metadata: { optimizer: this.rule.name, steps: [...this.steps], groups } };
  }

  /**
   * Restores a state saved by stateDict() of an optimizer over parameters of the same sizes, in the
   * same groups: buffers (copied), step counts and every group's hyperparameters, so that the run
   * continues exactly. Throws CheckpointError naming the first mismatch.
   */
  loadStateDict(stateDict: OptimizerStateDict<O>): void {
    const { tensors, metadata } = stateDict;
    const where = `${this.rule.name} state dict`;
    if (metadata.optimizer !== this.rule.name) {
      throw new CheckpointError(`${where}: saved by optimizer "${metadata.optimizer}"`);
    }
    if (!Array.isArray(metadata.groups) || metadata.groups.length !== this.paramGroups.length) {
      throw new CheckpointError(
        `${where}: has ${metadata.groups?.length} param groups, the optimizer ${this.paramGroups.length}`,
      );
    }
    if (!Array.isArray(metadata.steps) || metadata.steps.length !== this.params.length) {
      throw new CheckpointError(
        `${where}: has ${metadata.steps?.length} step counts, the optimizer ${this.params.length} parameters`,
      );
    }
    let index = 0;
    const groups = metadata.groups.map((saved, g) => {
      if (typeof saved !== "object" || saved === null) {
        throw new CheckpointError(`${where}: group ${g} is ${JSON.stringify(saved)}, not an object`);
      }
      const { params, ...options } = saved;
      const group = this.paramGroups[g]!;
      const expected = group.params.map(() => index++);
      if (!Array.isArray(params) || params.join() !== expected.join()) {
        throw new CheckpointError(
          `${where}: group ${g} holds parameters [${params}], the optimizer [${expected}]`,
        );
      }
      const restored = { ...options, params: group.params } as unknown as ParamGroup<O>;
      try {
        this.validateGroup(restored, `${where}: group ${g}`);
      } catch (error) {
        throw new CheckpointError((error as Error).message, { cause: error });
      }
      return restored;
    });
    const state: Record<string, FloatArray>[] = this.params.map(() => ({}));
    for (const [key, saved] of Object.entries(tensors)) {
      const match = STATE_KEY.exec(key);
      const i = match === null ? -1 : Number(match[1]);
      const param = this.params[i];
      if (param === undefined) throw new CheckpointError(`${where}: unexpected tensor "${key}"`);
      if (saved.constructor !== param.data.constructor || saved.length !== param.data.length) {
        throw new CheckpointError(
          `${where}: "${key}" is ${saved.constructor.name}(${saved.length}), parameter ${i} is ${param.data.constructor.name}(${param.data.length})`,
        );
      }
      state[i]![match![2]!] = saved.slice();
    }
    let i = 0;
    for (const group of groups) {
      // A stepped parameter needs the buffers its rule creates at the first step.
      const needed = Object.keys(this.rule.init(new Float64Array(0), group));
      for (let k = 0; k < group.params.length; k++, i++) {
        const step = metadata.steps[i]!;
        if (!Number.isSafeInteger(step) || step < 0) {
          throw new CheckpointError(`${where}: step count of parameter ${i} is ${step}`);
        }
        const missing = needed.find((name) => step > 0 && state[i]![name] === undefined);
        if (missing !== undefined)
          throw new CheckpointError(`${where}: tensor "state.${i}.${missing}" is missing`);
      }
    }
    groups.forEach((group, g) => {
      Object.assign(this.paramGroups[g]!, group);
    });
    this.state.splice(0, this.state.length, ...state);
    this.steps.splice(0, this.steps.length, ...metadata.steps);
  }

  private validateGroup(group: ParamGroup<O>, where: string): void {
    this.rule.validate(group, where);
    if (!(group.lrScale >= 0) || !Number.isFinite(group.lrScale)) {
      throw new ArgumentError(`${where}: lrScale must be a finite number >= 0, got ${group.lrScale}`);
    }
  }
}

function isGroupList<O extends BaseOptions>(
  params: readonly OptimParam[] | readonly ParamGroupSpec<O>[],
): params is readonly ParamGroupSpec<O>[] {
  return params.length > 0 && Array.isArray((params[0] as ParamGroupSpec<O>).params);
}
