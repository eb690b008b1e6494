import assert from "node:assert/strict";
import { test } from "node:test";
import type { Batch } from "../../src/data/batch.js";
import { composeTransforms } from "../../src/transforms/compose.js";
import { DivideByScale } from "../../src/transforms/divide-by-scale.js";
import { Filter } from "../../src/transforms/filter.js";
import { Log1p } from "../../src/transforms/log1p.js";
import { NormalizeTotal } from "../../src/transforms/normalize-total.js";
import { csr, rowsOf, snapshot } from "./helpers.js";

test("composeTransforms applies steps in order, merging outputs, without touching the input batch", () => {
  const x_ng = csr([
    [1, 0, 3],
    [2, 2, 0],
  ]);
  const before = snapshot(x_ng);
  const batch: Batch = { x_ng, var_names_g: ["a", "b", "c"], obs_names_n: ["cell1", "cell2"] };
  const pipeline = composeTransforms([
    new NormalizeTotal({ target_count: 4, eps: 0 }),
    new Log1p(),
    new Filter({ filter_list: ["c", "a"] }),
    // A plain function step sees the previous outputs and adds a key.
    (b) => ({ n_genes: b.var_names_g.length }),
  ]);
  const out = pipeline(batch);
  const ln = (v: number) => Math.fround(Math.log1p(v));
  assert.deepEqual(rowsOf(out.x_ng), [
    [ln(3), ln(1)],
    [ln(0), ln(2)],
  ]);
  assert.deepEqual(out.var_names_g, ["c", "a"]);
  assert.equal(out["n_genes"], 2);
  assert.deepEqual(out.obs_names_n, ["cell1", "cell2"]);
  assert.deepEqual(Object.keys(batch), ["x_ng", "var_names_g", "obs_names_n"]);
  assert.equal(batch.x_ng, x_ng);
  assert.deepEqual(x_ng, before);
  assert.deepEqual(batch.var_names_g, ["a", "b", "c"]);
});

test("after a Transform allocated x_ng, values-only Transforms overwrite it; never the input or a function step's arrays", () => {
  const x_ng = csr([
    [1, 0, 3],
    [2, 2, 0],
  ]);
  const before = snapshot(x_ng);
  const batch: Batch = { x_ng, var_names_g: ["a", "b", "c"] };
  const steps = () => [
    new NormalizeTotal({ target_count: 4, eps: 0 }),
    new Log1p(),
    new DivideByScale({ scale_g: [2, 4, 8], var_names_g: ["a", "b", "c"], eps: 0 }),
  ];
  // Reference: each step's forward alone, allocating every time.
  let expected = batch;
  for (const step of steps()) expected = { ...expected, ...step.forward(expected) };
  const calls: string[] = [];
  const spied = steps().map((step) => {
    const inPlace = step.forwardInPlace.bind(step);
    step.forwardInPlace = (b: Batch) => {
      calls.push(step.name);
      return inPlace(b);
    };
    return step;
  });
  const normalized = composeTransforms(spied.slice(0, 1))(batch).x_ng;
  const out = composeTransforms(spied)(batch);
  assert.deepEqual(calls, ["Log1p", "DivideByScale"]);
  assert.deepEqual(rowsOf(out.x_ng), rowsOf(expected.x_ng));
  assert.deepEqual(x_ng, before);
  assert.notEqual(normalized.data, x_ng.data);

  // A function step may hand back arrays someone else holds: the next Transform allocates.
  const shared = csr([[5, 0, 7]]);
  const sharedBefore = snapshot(shared);
  calls.length = 0;
  const afterFunction = composeTransforms([spied[0]!, () => ({ x_ng: shared }), spied[1]!])(batch);
  assert.deepEqual(calls, []);
  assert.deepEqual(shared, sharedBefore);
  assert.deepEqual(rowsOf(afterFunction.x_ng), [[Math.fround(Math.log1p(5)), 0, Math.fround(Math.log1p(7))]]);
});

test("a call that owns the input's values lets the first Transform overwrite them", () => {
  const x_ng = csr([
    [1, 0, 3],
    [2, 2, 0],
  ]);
  const pipeline = composeTransforms([new NormalizeTotal({ target_count: 4, eps: 0 }), new Log1p()]);
  const expected = rowsOf(
    pipeline({
      x_ng: csr([
        [1, 0, 3],
        [2, 2, 0],
      ]),
      var_names_g: ["a", "b", "c"],
    }).x_ng,
  );
  const out = pipeline({ x_ng, var_names_g: ["a", "b", "c"] }, { ownsValues: true });
  assert.equal(out.x_ng.data, x_ng.data);
  assert.deepEqual(rowsOf(out.x_ng), expected);
  assert.deepEqual(rowsOf(x_ng), expected);
});
