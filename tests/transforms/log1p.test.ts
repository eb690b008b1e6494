import assert from "node:assert/strict";
import { test } from "node:test";
import { Log1p, log1p } from "../../src/transforms/log1p.js";
import { csr, dense, randomCounts, rowsOf, snapshot, torchReference } from "./helpers.js";

test("Log1p: log(1 + x) entry-wise; CSR keeps its structure and shares indptr/indices", () => {
  const rows = [
    [0, 1, 3],
    [7, 0, 0],
  ];
  const expected = rows.map((row) => row.map((v) => Math.fround(Math.log(1 + v))));
  const x = csr(rows);
  const out = log1p(x);
  assert.equal(out.format, "csr");
  assert.deepEqual(rowsOf(out), expected);
  assert.equal(out.format === "csr" && out.indices, x.indices);
  assert.deepEqual(rowsOf(log1p(dense(rows))), expected);
});

test("Log1p agrees with torch.log1p in float32 to one ulp, CSR and dense alike", () => {
  const counts = randomCounts(5, 4, 30, 0.5).map((row) => row.map((v) => v * 37.25));
  const expected = torchReference(
    "out = torch.log1p(torch.tensor(inp, dtype=torch.float32)).tolist()",
    counts,
  ) as number[][];
  for (const x_ng of [csr(counts), dense(counts)]) {
    const got = rowsOf(new Log1p().forward({ x_ng, var_names_g: [] }).x_ng!);
    for (const [i, row] of got.entries()) {
      for (const [j, v] of row.entries()) {
        const want = expected[i]![j]!;
        assert.ok(Math.abs(v - want) <= 2 ** -23 * Math.abs(want), `(${i}, ${j}): ${v} vs ${want}`);
      }
    }
  }
});

test("Log1p leaves its input untouched", () => {
  const x = csr([[1, 0, 2]]);
  const before = snapshot(x);
  new Log1p().forward({ x_ng: x, var_names_g: ["a", "b", "c"] });
  assert.deepEqual(x, before);
  assert.deepEqual(Log1p.fromState(new Log1p().state()).state(), { name: "Log1p", args: {}, tensors: {} });
});
