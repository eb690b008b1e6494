import assert from "node:assert/strict";
import { test } from "node:test";
import { CheckpointError } from "../../src/errors.js";
import {
  constantSchedule,
  constantScheduleWithWarmup,
  cosineAnnealingLr,
  cosineScheduleWithWarmup,
  exponentialLr,
  type LrSchedule,
  LrScheduler,
  linearLr,
  linearScheduleWithWarmup,
  stepLr,
} from "../../src/optim/schedulers.js";
import { sgd } from "../../src/optim/sgd.js";
import type { OptimParam } from "../../src/optim/types.js";
import { runPython } from "../helpers/python.js";

const STEPS = 25;
const BASE_LRS = [0.1, 0.02];

function twoGroupOptimizer() {
  const param = (): OptimParam => ({ data: new Float64Array(1), grad: null });
  return sgd([
    { params: [param()], lr: BASE_LRS[0]! },
    { params: [param()], lr: BASE_LRS[1]! },
  ]);
}

/** Our lrs of both groups after construction and after each of `steps` scheduler steps. */
function ourLrs(schedule: LrSchedule, steps = STEPS): number[][] {
  const scheduler = new LrScheduler(twoGroupOptimizer(), schedule);
  const lrs = [scheduler.lastLrs()];
  for (let t = 0; t < steps; t++) {
    scheduler.step();
    lrs.push(scheduler.lastLrs());
  }
  return lrs;
}

// torch's schedulers, stepped like a training loop (optimizer.step() then scheduler.step()), and
// LambdaLR with the formulas of transformers/optimization.py (transformers is not installed):
//   warm-up:  step / max(1, W) while step < W
//   linear:   max(0, (T - step) / max(1, T - W))
//   cosine:   max(0, 0.5 (1 + cos(pi * cycles * 2 * progress))), progress = (step - W) / max(1, T - W)
const SCRIPT = `
import json, math, sys, torch
from torch.optim import lr_scheduler as S
W, T, STEPS = 4, 20, ${STEPS}
def warm(s): return s / max(1, W)
def linear(s): return warm(s) if s < W else max(0.0, (T - s) / max(1, T - W))
def cosine(s):
    if s < W: return warm(s)
    progress = (s - W) / max(1, T - W)
    return max(0.0, 0.5 * (1.0 + math.cos(math.pi * 0.5 * 2.0 * progress)))
def constant_warm(s): return warm(s) if s < W else 1.0
makers = {
    "constant": lambda o: S.LambdaLR(o, lambda s: 1.0),
    "constantWarmup": lambda o: S.LambdaLR(o, constant_warm),
    "linearWarmup": lambda o: S.LambdaLR(o, linear),
    "cosineWarmup": lambda o: S.LambdaLR(o, cosine),
    "linearLr": lambda o: S.LinearLR(o, start_factor=0.25, end_factor=0.9, total_iters=7),
    "stepLr": lambda o: S.StepLR(o, step_size=3, gamma=0.5),
    "exponentialLr": lambda o: S.ExponentialLR(o, gamma=0.9),
    "cosineAnnealing": lambda o: S.CosineAnnealingLR(o, T_max=8, eta_min=0.001),
}
out = {}
for name, make in makers.items():
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([{"params": [p], "lr": ${BASE_LRS[0]}}, {"params": [torch.zeros(1, requires_grad=True)], "lr": ${BASE_LRS[1]}}])
    sched = make(opt)
    lrs = [sched.get_last_lr()]
    for _ in range(STEPS):
        opt.step()
        sched.step()
        lrs.append(sched.get_last_lr())
    out[name] = lrs
print(json.dumps(out))
`;

test("schedules match torch.optim.lr_scheduler and transformers' warm-up formulas over 25 steps", () => {
  const expected = runPython(SCRIPT) as Record<string, number[][]>;
  const ours: Record<string, LrSchedule> = {
    constant: constantSchedule(),
    constantWarmup: constantScheduleWithWarmup(4),
    linearWarmup: linearScheduleWithWarmup(4, 20),
    cosineWarmup: cosineScheduleWithWarmup(4, 20),
    linearLr: linearLr({ startFactor: 0.25, endFactor: 0.9, totalIters: 7 }),
    stepLr: stepLr({ stepSize: 3, gamma: 0.5 }),
    exponentialLr: exponentialLr({ gamma: 0.9 }),
    // torch steps this one recursively past tMax (through the restart branch); same values.
    cosineAnnealing: cosineAnnealingLr({ tMax: 8, etaMin: 0.001 }),
  };
  for (const [name, schedule] of Object.entries(ours)) {
    const actual = ourLrs(schedule);
    actual.forEach((lrs, t) => {
      lrs.forEach((lr, g) => {
        const e = expected[name]![t]![g]!;
        assert.ok(
          Math.abs(lr - e) <= 1e-12 + 1e-9 * Math.abs(e),
          `${name} step ${t} group ${g}: ${lr} vs torch ${e}`,
        );
      });
    });
  }
});

test("warm-up schedules hit their closed-form landmarks", () => {
  const at = (schedule: LrSchedule, step: number) => schedule(step, 2);
  const linear = linearScheduleWithWarmup(10, 110);
  assert.deepEqual(
    [0, 5, 10, 60, 110, 150].map((s) => at(linear, s)),
    [0, 1, 2, 1, 0, 0],
  );
  const cosine = cosineScheduleWithWarmup(10, 110);
  assert.deepEqual(
    [0, 5, 10, 110].map((s) => at(cosine, s)),
    [0, 1, 2, 0],
  );
  // transformers does not clamp progress: past numTrainingSteps the half cosine turns up again.
  assert.ok(Math.abs(at(cosine, 150) - (1 + Math.cos(1.4 * Math.PI))) < 1e-15);
  assert.ok(Math.abs(at(cosine, 60) - 1) < 1e-15);
  assert.deepEqual(
    [0, 3, 10, 99].map((s) => at(constantScheduleWithWarmup(6), s)),
    [0, 1, 2, 2],
  );
});

test("a scheduler resumes from its state: same lrs, same continuation", () => {
  const schedule = cosineScheduleWithWarmup(3, 12);
  const optimizer = twoGroupOptimizer();
  const scheduler = new LrScheduler(optimizer, schedule);
  for (let t = 0; t < 5; t++) scheduler.step();
  const saved = JSON.parse(JSON.stringify(scheduler.stateDict()));
  // The resumed optimizer has other lrs (as a restored checkpoint's optimizer might before loading).
  const resumedOptimizer = twoGroupOptimizer();
  resumedOptimizer.paramGroups[0]!.lr = 7;
  const resumed = new LrScheduler(resumedOptimizer, schedule);
  resumed.loadStateDict(saved);
  assert.equal(resumed.lastStep, 5);
  assert.deepEqual(resumed.lastLrs(), scheduler.lastLrs());
  for (let t = 0; t < 4; t++) {
    scheduler.step();
    resumed.step();
    assert.deepEqual(resumed.lastLrs(), scheduler.lastLrs());
  }
  assert.throws(() => resumed.loadStateDict({ lastStep: -1, baseLrs: [1, 1] }), CheckpointError);
  assert.throws(
    () => resumed.loadStateDict({ lastStep: 1, baseLrs: [1] }),
    /has 1 base lrs, the optimizer 2 param groups/,
  );
});

test("one schedule per group, and argument errors", () => {
  const optimizer = twoGroupOptimizer();
  const scheduler = new LrScheduler(optimizer, [constantSchedule(), exponentialLr({ gamma: 0.5 })]);
  scheduler.step();
  assert.deepEqual(scheduler.lastLrs(), [0.1, 0.01]);
  assert.throws(() => new LrScheduler(optimizer, [constantSchedule()]), /got 1 schedules for 2 param groups/);
  assert.throws(() => linearScheduleWithWarmup(-1, 10), /numWarmupSteps must be an integer >= 0, got -1/);
  assert.throws(() => stepLr({ stepSize: 0 }), /stepSize must be an integer >= 1, got 0/);
  assert.throws(() => linearLr({ startFactor: 0 }), /0 < startFactor <= 1/);
});
