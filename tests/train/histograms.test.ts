import assert from "node:assert/strict";
import { test } from "node:test";
import { Generator } from "../../src/tensor/random.js";
import { histogram } from "../../src/train/histograms.js";
import { runPython } from "../helpers/python.js";

test("histogram buckets and totals match numpy.histogram with 30 bins", () => {
  const values = new Float64Array(1000);
  new Generator(3).fillNormal(values);
  const h = histogram(values);
  const reference = runPython(
    `
import json, sys, numpy as np
v = np.array(json.load(sys.stdin))
counts, edges = np.histogram(v, bins=30)
print(json.dumps({"counts": counts.tolist(), "edges": edges.tolist(), "sum": v.sum(), "sq": (v * v).sum()}))
`,
    [...values],
  ) as { counts: number[]; edges: number[]; sum: number; sq: number };
  assert.deepEqual(h.bucket, reference.counts);
  h.bucket_limit.forEach((limit, b) => {
    assert.ok(Math.abs(limit - reference.edges[b + 1]!) < 1e-12);
  });
  assert.equal(h.min, reference.edges[0]);
  assert.equal(h.num, 1000);
  assert.ok(Math.abs(h.sum - reference.sum) < 1e-9 && Math.abs(h.sum_squares - reference.sq) < 1e-9);
});

test("constant values fall in one bucket", () => {
  const h = histogram(Float32Array.of(2, 2, 2));
  assert.deepEqual(h.bucket, [3]);
  assert.deepEqual(h.bucket_limit, [2]);
});
