import assert from "node:assert/strict";
import { test } from "node:test";
import { createTransform } from "../../src/cli/registry.js";
import { deferredDense } from "../../src/data/matrix.js";
import { CenterPerCell, centerPerCell } from "../../src/transforms/center-per-cell.js";
import { csr, dense, randomCounts, rowsOf, snapshot, torchReference } from "./helpers.js";

test("CenterPerCell: upstream's test case, each row minus its mean", () => {
  const out = new CenterPerCell().forward({
    x_ng: dense([
      [1, 2, 3],
      [4, 4, 4],
    ]),
    var_names_g: ["a", "b", "c"],
  }).x_ng!;
  assert.deepEqual(rowsOf(out), [
    [-1, 0, 1],
    [0, 0, 0],
  ]);
});

test("CenterPerCell agrees with torch's x - x.mean(-1) in float32 for CSR, dense and deferred dense input; the result is dense", () => {
  const rows = randomCounts(41, 12, 300, 0.3).map((row) => row.map((v) => Math.fround(v * 0.37)));
  rows.push(new Array<number>(300).fill(0));
  const expected = torchReference(
    "x = torch.tensor(inp, dtype=torch.float32)\nout = (x - x.mean(dim=-1, keepdim=True)).tolist()",
    rows,
  ) as number[][];
  const x = csr(rows);
  const before = snapshot(x);
  for (const input of [x, dense(rows), deferredDense(csr(rows))]) {
    const out = centerPerCell(input);
    assert.equal(out.format, "dense");
    rowsOf(out).forEach((row, i) => {
      row.forEach((v, j) => {
        const want = expected[i]![j]!;
        // torch sums the row in float32, we in float64: the means differ in their last bits.
        assert.ok(Math.abs(v - want) <= 1e-5 * (1 + Math.abs(want)), `(${i}, ${j}): ${v} vs ${want}`);
      });
      const mean = row.reduce((a, b) => a + b, 0) / row.length;
      assert.ok(Math.abs(mean) < 1e-5, `row ${i} mean ${mean}`);
    });
  }
  assert.deepEqual(x, before);
  const built = createTransform("cellarium.ml.transforms.CenterPerCell", {}, "t");
  assert.deepEqual(CenterPerCell.fromState(built.state()).state(), {
    name: "CenterPerCell",
    args: {},
    tensors: {},
  });
});
