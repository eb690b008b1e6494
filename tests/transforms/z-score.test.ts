import assert from "node:assert/strict";
import { test } from "node:test";
import type { Batch } from "../../src/data/batch.js";
import { ArgumentError, SchemaMismatchError } from "../../src/errors.js";
import { ZScore } from "../../src/transforms/z-score.js";
import { csr, dense, randomCounts, rowsOf, snapshot, torchReference } from "./helpers.js";

const var_names_g = ["A", "B", "C"];
const mean_g = [1, 2, 0.5];
const std_g = [2, 0.5, 1];

test("ZScore: (x - mean) / (std + eps), zeros of a CSR block included, dense output", () => {
  const rows = [
    [3, 0, 0],
    [0, 2, 4.5],
  ];
  const expected = [
    [1, -4, -0.5],
    [-0.5, 0, 4],
  ];
  const transform = new ZScore({ mean_g, std_g, var_names_g, eps: 0 });
  for (const x_ng of [csr(rows), dense(rows)]) {
    const out = transform.forward({ x_ng, var_names_g }).x_ng!;
    assert.equal(out.format, "dense");
    assert.deepEqual(rowsOf(out), expected);
  }
});

test("ZScore equals upstream's float32 torch formula bit for bit", () => {
  const counts = randomCounts(7, 5, 20, 0.4);
  const names = counts[0]!.map((_, g) => `g${g}`);
  const means = counts[0]!.map((_, g) => 0.37 * g + 0.1);
  const stds = counts[0]!.map((_, g) => 0.05 * g + 1e-3);
  const expected = torchReference(
    "x = torch.tensor(inp['x'], dtype=torch.float32)\n" +
      "m = torch.tensor(inp['m'], dtype=torch.float32)\n" +
      "s = torch.tensor(inp['s'], dtype=torch.float32)\n" +
      "out = ((x - m) / (s + 1e-6)).tolist()",
    { x: counts, m: means, s: stds },
  );
  const transform = new ZScore({ mean_g: means, std_g: stds, var_names_g: names });
  assert.deepEqual(rowsOf(transform.forward({ x_ng: csr(counts), var_names_g: names }).x_ng!), expected);
  assert.deepEqual(rowsOf(transform.forward({ x_ng: dense(counts), var_names_g: names }).x_ng!), expected);
});

test("ZScore picks the per-gene numbers by name for a reordered subset of its genes", () => {
  const transform = new ZScore({ mean_g, std_g, var_names_g, eps: 0 });
  // Columns C, A of the batch: (4.5 - 0.5) / 1 = 4 and (3 - 1) / 2 = 1.
  const out = transform.forward({ x_ng: dense([[4.5, 3]]), var_names_g: ["C", "A"] }).x_ng!;
  assert.deepEqual(rowsOf(out), [[4, 1]]);
});

test("ZScore names the first gene outside its schema and checks the column count", () => {
  const transform = new ZScore({ mean_g, std_g, var_names_g });
  const batch: Batch = { x_ng: dense([[1, 2, 3]]), var_names_g: ["A", "X", "C"] };
  assert.throws(
    () => transform.forward(batch),
    (e: unknown) =>
      e instanceof SchemaMismatchError &&
      e.message ===
        `ZScore: var_names_g[1] is "X", not one of the transform's 3 genes (expected "B" at index 1)`,
  );
  assert.throws(() => transform.forward({ x_ng: dense([[1, 2]]), var_names_g }), SchemaMismatchError);
  assert.throws(() => new ZScore({ mean_g: [1], std_g, var_names_g }), ArgumentError);
});

test("ZScore leaves its input untouched and round-trips its state through a checkpoint", () => {
  const x = csr([[1, 0, 2]]);
  const before = snapshot(x);
  const transform = new ZScore({ mean_g, std_g, var_names_g });
  const out = transform.forward({ x_ng: x, var_names_g });
  assert.deepEqual(x, before);
  const restored = ZScore.fromState(transform.state());
  assert.deepEqual(restored.forward({ x_ng: x, var_names_g }), out);
  assert.deepEqual(transform.state().args, { var_names_g, eps: 1e-6 });
});
