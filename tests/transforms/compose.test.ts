import assert from "node:assert/strict";
import { test } from "node:test";
import type { Batch } from "../../src/data/batch.js";
import { composeTransforms } from "../../src/transforms/compose.js";
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
    new NormalizeTotal({ targetCount: 4, eps: 0 }),
    new Log1p(),
    new Filter({ filterList: ["c", "a"] }),
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
