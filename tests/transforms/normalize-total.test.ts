import assert from "node:assert/strict";
import { test } from "node:test";
import type { Batch } from "../../src/data/batch.js";
import { ArgumentError, SchemaMismatchError } from "../../src/errors.js";
import { NormalizeTotal, normalizeTotal } from "../../src/transforms/normalize-total.js";
import { csr, dense, randomCounts, rowsOf, snapshot, torchReference } from "./helpers.js";

const rows = [
  [1, 0, 3],
  [0, 0, 0],
  [2, 2, 0],
];

test("NormalizeTotal divides by the row sums, CSR and dense alike", () => {
  // eps = 0 on rows with positive sums: exact quotients. The all-zero row stays zero in CSR
  // (no entries); dense gives 0/0, so it is left out of the dense case.
  const expected = [
    [2.5, 0, 7.5],
    [0, 0, 0],
    [5, 5, 0],
  ];
  const out = normalizeTotal(csr(rows), undefined, 10, 0);
  assert.equal(out.format, "csr");
  assert.deepEqual(rowsOf(out), expected);
  const nonZeroRows = [rows[0]!, rows[2]!];
  assert.deepEqual(rowsOf(normalizeTotal(dense(nonZeroRows), undefined, 10, 0)), [expected[0], expected[2]]);
});

test("NormalizeTotal uses total_mrna_umis_n when the batch has it", () => {
  const totals = Float32Array.from([8, 1, 2]);
  const expected = [
    [1.25, 0, 3.75],
    [0, 0, 0],
    [10, 10, 0],
  ];
  const transform = new NormalizeTotal({ target_count: 10, eps: 0 });
  const batch: Batch = { x_ng: csr(rows), var_names_g: ["a", "b", "c"], total_mrna_umis_n: totals };
  assert.deepEqual(rowsOf(transform.forward(batch).x_ng!), expected);
  assert.throws(
    () => normalizeTotal(csr(rows), Float32Array.from([1, 2]), 10, 0),
    (e: unknown) => e instanceof SchemaMismatchError && /2 values but x_ng has 3 rows/.test(e.message),
  );
});

test("NormalizeTotal equals upstream's float32 torch formula bit for bit", () => {
  const counts = randomCounts(3, 6, 40, 0.3);
  // Small given totals make eps visible in float32.
  const totals = [0.5, 3, 1e-3, 7.25, 1, 2e-4];
  const [fromSums, fromTotals] = torchReference(
    "x = torch.tensor(inp['x'], dtype=torch.float32)\n" +
      "total = x.double().sum(dim=-1).float()\n" +
      "given = torch.tensor(inp['totals'], dtype=torch.float32)\n" +
      "out = [(10_000 * x / (t[:, None].float() + 1e-6)).tolist() for t in (total, given)]",
    { x: counts, totals },
  ) as number[][][];
  const transform = new NormalizeTotal();
  for (const x_ng of [csr(counts), dense(counts)]) {
    assert.deepEqual(rowsOf(transform.forward({ x_ng, var_names_g: [] }).x_ng!), fromSums);
    const total_mrna_umis_n = Float32Array.from(totals);
    assert.deepEqual(
      rowsOf(transform.forward({ x_ng, var_names_g: [], total_mrna_umis_n }).x_ng!),
      fromTotals,
    );
  }
});

test("NormalizeTotal adds the row sums in float64, so ones after 2^24 still count", () => {
  // In float32, 2^24 + 1 + 1 stays 2^24; the float64 sum is 2^24 + 2, exactly a float32.
  const total = 2 ** 24 + 2;
  for (const x_ng of [csr([[2 ** 24, 1, 1]]), dense([[2 ** 24, 1, 1]])]) {
    assert.deepEqual(rowsOf(normalizeTotal(x_ng, undefined, total, 0)), [[2 ** 24, 1, 1]]);
  }
});

test("NormalizeTotal leaves its input untouched", () => {
  for (const x of [csr(rows), dense(rows)]) {
    const before = snapshot(x);
    new NormalizeTotal().forward({ x_ng: x, var_names_g: ["a", "b", "c"] });
    assert.deepEqual(x, before);
  }
});

test("NormalizeTotal rejects upstream's invalid arguments and round-trips its state", () => {
  assert.throws(() => new NormalizeTotal({ target_count: 0 }), ArgumentError);
  assert.throws(() => new NormalizeTotal({ eps: -1 }), ArgumentError);
  const state = JSON.parse(JSON.stringify(new NormalizeTotal({ target_count: 1e4, eps: 1e-3 }).state()));
  assert.deepEqual(state, { name: "NormalizeTotal", args: { target_count: 1e4, eps: 1e-3 }, tensors: {} });
  const restored = NormalizeTotal.fromState(state);
  assert.equal(restored.target_count, 1e4);
  assert.equal(restored.eps, 1e-3);
});
