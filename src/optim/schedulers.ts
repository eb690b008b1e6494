// Learning-rate schedules. A schedule is a pure function of the scheduler step (0 before the first
// optimizer step, +1 after each) and a group's base lr; most are a factor times the base lr
// (torch's LambdaLR, and every transformers get_*_schedule). The LrScheduler applies a schedule
// to each group's `lr`, is stepped once after each optimizer step, and saves its position.

import { ArgumentError, CheckpointError } from "../errors.js";
import type { BaseOptions } from "./types.js";

/** The learning rate at scheduler step `step` of a group whose lr was `baseLr` when scheduling began. */
export type LrSchedule = (step: number, baseLr: number) => number;

/** torch.optim.lr_scheduler.LambdaLR: lr = baseLr * factor(step). */
export function lambdaLr(factor: (step: number) => number): LrSchedule {
  return (step, baseLr) => baseLr * factor(step);
}

function checkCount(value: number, name: string, where: string, min = 0): void {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new ArgumentError(`${where}: ${name} must be an integer >= ${min}, got ${value}`);
  }
}

// transformers' warm-up: step / max(1, numWarmupSteps) while step < numWarmupSteps.
function warmup(step: number, numWarmupSteps: number): number {
  return step / Math.max(1, numWarmupSteps);
}

/** transformers.get_constant_schedule: the base lr throughout. */
export function constantSchedule(): LrSchedule {
  return lambdaLr(() => 1);
}

/** transformers.get_constant_schedule_with_warmup: linear warm-up from 0, then the base lr. */
export function constantScheduleWithWarmup(numWarmupSteps: number): LrSchedule {
  checkCount(numWarmupSteps, "numWarmupSteps", "constantScheduleWithWarmup");
  return lambdaLr((step) => (step < numWarmupSteps ? warmup(step, numWarmupSteps) : 1));
}

/**
 * transformers.get_linear_schedule_with_warmup: linear warm-up from 0 to the base lr over
 * numWarmupSteps, then linear decay to 0 at numTrainingSteps (0 afterwards).
 */
export function linearScheduleWithWarmup(numWarmupSteps: number, numTrainingSteps: number): LrSchedule {
  checkCount(numWarmupSteps, "numWarmupSteps", "linearScheduleWithWarmup");
  checkCount(numTrainingSteps, "numTrainingSteps", "linearScheduleWithWarmup");
  return lambdaLr((step) =>
    step < numWarmupSteps
      ? warmup(step, numWarmupSteps)
      : Math.max(0, (numTrainingSteps - step) / Math.max(1, numTrainingSteps - numWarmupSteps)),
  );
}

/**
 * transformers.get_cosine_schedule_with_warmup: linear warm-up, then the base lr times
 * max(0, (1 + cos(2 pi numCycles progress)) / 2), progress running from 0 to 1 over the remaining
 * steps (numCycles 0.5: one half cosine down to 0).
 */
export function cosineScheduleWithWarmup(
  numWarmupSteps: number,
  numTrainingSteps: number,
  numCycles = 0.5,
): LrSchedule {
  checkCount(numWarmupSteps, "numWarmupSteps", "cosineScheduleWithWarmup");
  checkCount(numTrainingSteps, "numTrainingSteps", "cosineScheduleWithWarmup");
  return lambdaLr((step) => {
    if (step < numWarmupSteps) return warmup(step, numWarmupSteps);
    const progress = (step - numWarmupSteps) / Math.max(1, numTrainingSteps - numWarmupSteps);
    return Math.max(0, 0.5 * (1 + Math.cos(Math.PI * numCycles * 2 * progress)));
  });
}

/**
 * torch.optim.lr_scheduler.LinearLR: the factor goes linearly from startFactor to endFactor over
 * totalIters steps, then stays at endFactor (torch's closed form).
 */
export function linearLr({ startFactor = 1 / 3, endFactor = 1, totalIters = 5 } = {}): LrSchedule {
  if (!(startFactor > 0 && startFactor <= 1) || !(endFactor >= 0 && endFactor <= 1)) {
    throw new ArgumentError(
      `linearLr: need 0 < startFactor <= 1 and 0 <= endFactor <= 1, got ${startFactor}, ${endFactor}`,
    );
  }
  checkCount(totalIters, "totalIters", "linearLr", 1);
  return lambdaLr(
    (step) => startFactor + ((endFactor - startFactor) * Math.min(totalIters, step)) / totalIters,
  );
}

/** torch.optim.lr_scheduler.StepLR: lr = baseLr * gamma^floor(step / stepSize). */
export function stepLr({ stepSize, gamma = 0.1 }: { stepSize: number; gamma?: number }): LrSchedule {
  checkCount(stepSize, "stepSize", "stepLr", 1);
  return lambdaLr((step) => gamma ** Math.floor(step / stepSize));
}

/** torch.optim.lr_scheduler.ExponentialLR: lr = baseLr * gamma^step. */
export function exponentialLr({ gamma }: { gamma: number }): LrSchedule {
  return lambdaLr((step) => gamma ** step);
}

/**
 * torch.optim.lr_scheduler.CosineAnnealingLR (closed form, SGDR without restarts):
 * lr = etaMin + (baseLr - etaMin) (1 + cos(pi step / tMax)) / 2. etaMin is an absolute lr, so this
 * one is not a factor of the base lr.
 */
export function cosineAnnealingLr({ tMax, etaMin = 0 }: { tMax: number; etaMin?: number }): LrSchedule {
  checkCount(tMax, "tMax", "cosineAnnealingLr", 1);
  return (step, baseLr) => etaMin + ((baseLr - etaMin) * (1 + Math.cos((Math.PI * step) / tMax))) / 2;
}

/** The saveable position of an LrScheduler (plain JSON). */
export interface LrSchedulerState {
  readonly lastStep: number;
  readonly baseLrs: number[];
}

/** Something with parameter groups whose `lr` can be set: an Optimizer. */
export interface ScheduledOptimizer {
  readonly paramGroups: BaseOptions[];
}

/**
 * Sets each group's lr from its base lr (the group's lr when the scheduler was created) and one
 * schedule (or one per group): torch.optim.lr_scheduler.LambdaLR's role, with the schedules of
 * torch and transformers as functions ({@link linearScheduleWithWarmup}, {@link cosineAnnealingLr},
 * ...). As in torch, creating the scheduler applies step 0; call step() after each optimizer.step().
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LrScheduler, linearScheduleWithWarmup, sgd, tensor } from "cellarium-ts";
 *
 * const optimizer = sgd([tensor([1]).requireGrad()], { lr: 0.1 });
 * const scheduler = new LrScheduler(optimizer, linearScheduleWithWarmup(2, 10));
 * assert.deepEqual(scheduler.lastLrs(), [0]); // warm-up starts at 0
 * scheduler.step();
 * assert.ok(Math.abs(scheduler.lastLrs()[0]! - 0.05) < 1e-12);
 * ```
 */
export class LrScheduler {
  private readonly optimizer: ScheduledOptimizer;
  private readonly schedules: readonly LrSchedule[];
  private baseLrs: number[];
  private last = 0;

  constructor(optimizer: ScheduledOptimizer, schedule: LrSchedule | readonly LrSchedule[]) {
    const groups = optimizer.paramGroups;
    const schedules = typeof schedule === "function" ? groups.map(() => schedule) : schedule;
    if (schedules.length !== groups.length) {
      throw new ArgumentError(
        `LrScheduler: got ${schedules.length} schedules for ${groups.length} param groups`,
      );
    }
    this.optimizer = optimizer;
    this.schedules = schedules;
    this.baseLrs = groups.map((group) => group.lr);
    this.apply();
  }

  /** Scheduler steps taken (torch's last_epoch). */
  get lastStep(): number {
    return this.last;
  }

  /** The lr of each group now (torch's get_last_lr()). */
  lastLrs(): number[] {
    return this.optimizer.paramGroups.map((group) => group.lr);
  }

  /**
   * Advances the schedule by one step and sets each group's lr; call it after `optimizer.step()`, as in
   * torch.
   */
  step(): void {
    this.last++;
    this.apply();
  }

  /** The steps taken and base learning rates, for a checkpoint. */
  stateDict(): LrSchedulerState {
    return { lastStep: this.last, baseLrs: [...this.baseLrs] };
  }

  /** Restores the position and base lrs, and sets the groups' lr for that position. */
  loadStateDict(state: LrSchedulerState): void {
    if (!Number.isSafeInteger(state.lastStep) || state.lastStep < 0) {
      throw new CheckpointError(`LrScheduler state: lastStep must be an integer >= 0, got ${state.lastStep}`);
    }
    if (!Array.isArray(state.baseLrs) || state.baseLrs.length !== this.baseLrs.length) {
      throw new CheckpointError(
        `LrScheduler state: has ${state.baseLrs?.length} base lrs, the optimizer ${this.baseLrs.length} param groups`,
      );
    }
    this.last = state.lastStep;
    this.baseLrs = [...state.baseLrs];
    this.apply();
  }

  private apply(): void {
    this.optimizer.paramGroups.forEach((group, g) => {
      group.lr = this.schedules[g]!(this.last, this.baseLrs[g]!);
    });
  }
}
