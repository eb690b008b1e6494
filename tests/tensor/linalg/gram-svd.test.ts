import assert from "node:assert/strict";
import { test } from "node:test";
import { ArgumentError } from "../../../src/errors.js";
import { gramSvd, svdOfGram } from "../../../src/tensor/linalg/gram-svd.js";
import { backend, backends, randomArray, relativeError, skipUnless } from "../../helpers/matrices.js";
import { numpy, rows } from "../../helpers/numpy.js";

// A wide and a tall matrix, and a wide one of rank 3 (asked for 6 directions).
const shapes = [
  [12, 40],
  [40, 12],
] as const;
const inputs = shapes.map(([m, n], i) => Float64Array.from(randomArray("float64", m * n, 300 + i)));
const left = Float64Array.from(randomArray("float64", 12 * 3, 310));
const right = Float64Array.from(randomArray("float64", 3 * 40, 311));
const lowRank = new Float64Array(12 * 40);
for (let i = 0; i < 12; i++) {
  for (let c = 0; c < 40; c++) {
    for (let r = 0; r < 3; r++) lowRank[i * 40 + c]! += left[i * 3 + r]! * right[r * 40 + c]!;
  }
}
const expected = numpy(
  `
res = {}
for i, a in enumerate(data["a"]):
    _, s, vt = np.linalg.svd(np.array(a), full_matrices=False)
    # The largest-magnitude entry of each row of Vt positive.
    signs = np.sign(vt[np.arange(len(vt)), np.argmax(np.abs(vt), axis=1)])
    res[f"s{i}"], res[f"vt{i}"] = s[:5], (vt * signs[:, None])[:5]
res["low"] = np.linalg.svd(np.array(data["low"]), compute_uv=False)[:3]
out(**res)
`,
  { a: shapes.map(([, n], i) => rows(inputs[i]!, n)), low: rows(lowRank, 40) },
);

for (const which of backends) {
  test(
    `gramSvd (${which}): the top singular triplets of wide and tall matrices, as numpy's SVD`,
    skipUnless(which),
    () => {
      backend(which);
      shapes.forEach(([m, n], i) => {
        const { s, vt } = gramSvd({ rows: m, cols: n, data: inputs[i]!.slice() }, 5);
        assert.deepEqual([s.length, vt.rows, vt.cols], [5, 5, n]);
        // Squaring the singular values keeps ~1e-16 s_1^2 absolute: ~1e-12 relative here.
        assert.ok(relativeError(s, expected[`s${i}`]!) < 1e-10, `s of ${m} x ${n}`);
        assert.ok(relativeError(vt.data, expected[`vt${i}`]!.flat()) < 1e-8, `vt of ${m} x ${n}`);
      });
      const { s, vt } = gramSvd({ rows: 12, cols: 40, data: lowRank }, 6);
      assert.ok(relativeError(s.subarray(0, 3), expected.low!) < 1e-10);
      assert.deepEqual([...s.subarray(3)], [0, 0, 0], "rank 3: the other directions are zero");
      assert.ok(vt.data.subarray(3 * 40).every((v) => v === 0));
      for (let j = 0; j < 3; j++) {
        const row = vt.data.subarray(j * 40, (j + 1) * 40);
        assert.ok(Math.abs(row.reduce((sum, v) => sum + v * v, 0) - 1) < 1e-10, `row ${j} has unit norm`);
      }
    },
  );
}

test("svdOfGram: from A^T A alone, the top singular values and right vectors of A (numpy's SVD)", () => {
  for (const [i, [m, n]] of shapes.entries()) {
    const a = inputs[i]!;
    const gram = new Float64Array(n * n);
    for (let r = 0; r < n; r++) {
      for (let c = 0; c < n; c++) {
        for (let row = 0; row < m; row++) gram[r * n + c]! += a[row * n + r]! * a[row * n + c]!;
      }
    }
    // Only the lower triangle is read.
    for (let r = 0; r < n; r++) for (let c = r + 1; c < n; c++) gram[r * n + c] = Number.NaN;
    const { s, vt } = svdOfGram({ rows: n, cols: n, data: gram }, 5);
    assert.deepEqual([s.length, vt.rows, vt.cols], [5, 5, n]);
    assert.ok(relativeError(s, expected[`s${i}`]!) < 1e-10, `s of ${m} x ${n}`);
    assert.ok(relativeError(vt.data, expected[`vt${i}`]!.flat()) < 1e-8, `vt of ${m} x ${n}`);
  }
  assert.throws(() => svdOfGram({ rows: 3, cols: 4, data: new Float64Array(12) }, 1), /gram must be square/);
});

test("gramSvd: q outside [1, min(m, n)] is an ArgumentError", () => {
  const a = { rows: 3, cols: 4, data: new Float64Array(12) };
  assert.throws(() => gramSvd(a, 4), ArgumentError);
  assert.throws(() => gramSvd(a, 0), /q must be an integer in \[1, 3\], got 0/);
});
