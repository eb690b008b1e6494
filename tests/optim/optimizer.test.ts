import assert from "node:assert/strict";
import { test } from "node:test";
import { ArgumentError, CheckpointError } from "../../src/errors.js";
import { adam, adamRule } from "../../src/optim/adam.js";
import { Optimizer, type OptimizerStateDict } from "../../src/optim/optimizer.js";
import { sgd } from "../../src/optim/sgd.js";
import type { BaseOptions, FloatArray } from "../../src/optim/types.js";
import { fixedGrads } from "./torch-reference.js";

interface TestParam {
  data: FloatArray;
  grad: { data: FloatArray } | null;
}

const grads = fixedGrads([5, 3, 4], 6, 2);

function makeParams(): TestParam[] {
  return [
    { data: Float64Array.from([1, 2, 3, 4, 5]), grad: null },
    { data: Float32Array.from([-1, 0.5, 2]), grad: null },
    { data: Float64Array.from([0.1, 0.2, 0.3, 0.4]), grad: null },
  ];
}

function setGrads(params: TestParam[], step: number): void {
  params.forEach((p, i) => {
    p.grad = {
      data:
        p.data instanceof Float32Array
          ? Float32Array.from(grads[step]![i]!)
          : Float64Array.from(grads[step]![i]!),
    };
  });
}

// Serializes like a checkpoint would: metadata through JSON, tensors as fresh copies.
function throughCheckpoint<O extends BaseOptions>(state: OptimizerStateDict<O>): OptimizerStateDict<O> {
  const tensors: Record<string, FloatArray> = {};
  for (const [key, value] of Object.entries(state.tensors)) tensors[key] = value.slice();
  return { tensors, metadata: JSON.parse(JSON.stringify(state.metadata)) };
}

function resumeContinuesExactly(
  make: (params: TestParam[], lrOverride: number) => Optimizer<BaseOptions>,
): void {
  const params = makeParams();
  const optimizer = make(params, 0.01);
  for (let t = 0; t < 3; t++) {
    setGrads(params, t);
    optimizer.step();
  }
  const saved = throughCheckpoint(optimizer.stateDict());
  // The resumed optimizer starts with other hyperparameters: loading must restore the saved ones.
  const resumedParams = params.map((p) => ({ data: p.data.slice(), grad: null }) as TestParam);
  const resumed = make(resumedParams, 0.5);
  resumed.loadStateDict(saved);
  for (let t = 3; t < 6; t++) {
    setGrads(params, t);
    setGrads(resumedParams, t);
    optimizer.step();
    resumed.step();
  }
  params.forEach((p, i) => {
    assert.deepEqual(resumedParams[i]!.data, p.data);
  });
  assert.deepEqual(resumed.stateDict().metadata, optimizer.stateDict().metadata);
}

test("Adam (amsgrad, two groups, float32 and float64) resumes bit-for-bit from its state dict", () => {
  resumeContinuesExactly((params, lr) =>
    adam(
      [
        { params: [params[0]!, params[1]!], lrScale: 0.5 },
        { params: [params[2]!], betas: [0.7, 0.99], weightDecay: 0.1 },
      ],
      { lr, amsgrad: true },
    ),
  );
});

test("SGD with momentum resumes bit-for-bit from its state dict", () => {
  resumeContinuesExactly((params, lr) => sgd(params, { lr, momentum: 0.9, nesterov: true }));
});

test("state dict names follow torch: state.<index>.<buffer>, float32 state for float32 params", () => {
  const params = makeParams();
  const optimizer = adam(params, { amsgrad: true });
  setGrads(params, 0);
  params[2]!.grad = null;
  optimizer.step();
  const { tensors, metadata } = optimizer.stateDict();
  assert.deepEqual(Object.keys(tensors).sort(), [
    "state.0.exp_avg",
    "state.0.exp_avg_sq",
    "state.0.max_exp_avg_sq",
    "state.1.exp_avg",
    "state.1.exp_avg_sq",
    "state.1.max_exp_avg_sq",
  ]);
  assert.ok(tensors["state.1.exp_avg"] instanceof Float32Array);
  assert.deepEqual(metadata.steps, [1, 1, 0]);
  assert.deepEqual(metadata.groups, [
    {
      lr: 1e-3,
      betas: [0.9, 0.999],
      eps: 1e-8,
      weightDecay: 0,
      amsgrad: true,
      lrScale: 1,
      params: [0, 1, 2],
    },
  ]);
});

test("lrScale multiplies the group lr: plain SGD moves by lr * lrScale * grad", () => {
  const params = makeParams();
  const before = params.map((p) => Array.from(p.data));
  const optimizer = sgd([{ params, lrScale: 0.25 }], { lr: 0.4 });
  setGrads(params, 0);
  optimizer.step();
  params.forEach((p, i) => {
    p.data.forEach((v, j) => {
      const expected = before[i]![j]! - 0.1 * p.grad!.data[j]!;
      assert.ok(Math.abs(v - expected) <= 1e-6 * Math.max(1, Math.abs(expected)), `${v} vs ${expected}`);
    });
  });
});

test("zeroGrad zeroes every gradient in place", () => {
  const params = makeParams();
  const optimizer = sgd(params);
  setGrads(params, 0);
  const gradArrays = params.map((p) => p.grad!.data);
  optimizer.zeroGrad();
  params.forEach((p, i) => {
    assert.equal(p.grad!.data, gradArrays[i]);
    assert.ok(p.grad!.data.every((v) => v === 0));
  });
});

test("bad arguments throw ArgumentError naming the option", () => {
  const params = makeParams();
  assert.throws(() => sgd(params, { nesterov: true }), /sgd: param group 0: nesterov needs momentum > 0/);
  assert.throws(() => adam(params, { betas: [0.9, 1] }), ArgumentError);
  assert.throws(
    () => adam(params, { lr: -1 }),
    /adam: param group 0: lr must be a finite number >= 0, got -1/,
  );
  assert.throws(
    () => sgd([{ params }, { params: [params[0]!] }]),
    /parameter 0 appears in more than one group/,
  );
  assert.throws(
    () => sgd([{ params, lrScale: Number.NaN }]),
    /lrScale must be a finite number >= 0, got NaN/,
  );
  assert.throws(() => sgd([]), /empty parameter list/);
  const optimizer = sgd(params);
  params[0]!.grad = { data: new Float64Array(2) };
  assert.throws(() => optimizer.step(), /sgd: parameter 0 has 5 elements but its gradient 2/);
});

test("loading a mismatched state dict throws CheckpointError", () => {
  const params = makeParams();
  const optimizer = adam(params);
  setGrads(params, 0);
  optimizer.step();
  const good = throughCheckpoint(optimizer.stateDict());
  const fresh = () => adam(makeParams());
  assert.throws(
    () => sgd(makeParams()).loadStateDict(good as never),
    /sgd state dict: saved by optimizer "adam"/,
  );
  assert.throws(
    () => new Optimizer(adamRule, makeParams().slice(0, 2)).loadStateDict(good),
    /has 3 step counts, the optimizer 2 parameters/,
  );
  const wrongType = { ...good, tensors: { ...good.tensors, "state.1.exp_avg": new Float64Array(3) } };
  assert.throws(
    () => fresh().loadStateDict(wrongType),
    /"state.1.exp_avg" is Float64Array\(3\), parameter 1 is Float32Array\(3\)/,
  );
  const { "state.2.exp_avg_sq": _dropped, ...rest } = good.tensors;
  assert.throws(
    () => fresh().loadStateDict({ ...good, tensors: rest }),
    (error: Error) =>
      error instanceof CheckpointError && /"state.2.exp_avg_sq" is missing/.test(error.message),
  );
  assert.throws(
    () =>
      fresh().loadStateDict({
        ...good,
        tensors: { ...good.tensors, "state.7.exp_avg": new Float64Array(1) },
      }),
    /unexpected tensor "state.7.exp_avg"/,
  );
  const badBetas = JSON.parse(JSON.stringify(good.metadata));
  badBetas.groups[0].betas = [2, 0.9];
  assert.throws(() => fresh().loadStateDict({ ...good, metadata: badBetas }), CheckpointError);
  const badScale = JSON.parse(JSON.stringify(good.metadata));
  badScale.groups[0].lrScale = -1;
  assert.throws(
    () => fresh().loadStateDict({ ...good, metadata: badScale }),
    (error: Error) => error instanceof CheckpointError && /group 0: lrScale must be/.test(error.message),
  );
  const badGroup = JSON.parse(JSON.stringify(good.metadata));
  badGroup.groups[0] = null;
  assert.throws(
    () => fresh().loadStateDict({ ...good, metadata: badGroup }),
    /group 0 is null, not an object/,
  );
});
