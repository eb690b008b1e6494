import assert from "node:assert/strict";
import { test } from "node:test";
import { svd, svdvals } from "../../../src/tensor/linalg/index.js";
import {
  allocate,
  backend,
  backends,
  dtypes,
  randomArray,
  relativeError,
  skipUnless,
} from "../../helpers/matrices.js";
import { numpy, rows } from "../../helpers/numpy.js";

const shapes = [
  [8, 5],
  [4, 6],
] as const;
const inputs = shapes.map(([m, n], i) => randomArray("float64", m * n, 200 + i));
const expected = numpy(
  `
res = {}
for i, a in enumerate(data["a"]):
    u, s, vt = np.linalg.svd(np.array(a), full_matrices=False)
    res[f"u{i}"], res[f"vt{i}"] = flip(u, vt)
    res[f"s{i}"] = s
    res[f"values{i}"] = np.linalg.svd(np.array(a), compute_uv=False)
out(**res)
`,
  { a: shapes.map(([, n], i) => rows(inputs[i]!, n)) },
);

for (const which of backends) {
  for (const dtype of dtypes) {
    test(
      `svd and svdvals (${which}, ${dtype}) equal numpy's, signs by the largest entry of U`,
      skipUnless(which),
      () => {
        backend(which);
        const tol = dtype === "float32" ? 2e-5 : 1e-12;
        shapes.forEach(([m, n], i) => {
          const data = allocate(dtype, m * n);
          data.set(inputs[i]!);
          const a = { rows: m, cols: n, data };
          const { u, s, vt } = svd(a);
          const k = Math.min(m, n);
          assert.deepEqual([u.rows, u.cols, s.length, vt.rows, vt.cols], [m, k, k, k, n]);
          assert.ok(relativeError(s, expected[`s${i}`]!) < tol, `s of ${m} x ${n}`);
          assert.ok(relativeError(u.data, expected[`u${i}`]!.flat()) < tol, `u of ${m} x ${n}`);
          assert.ok(relativeError(vt.data, expected[`vt${i}`]!.flat()) < tol, `vt of ${m} x ${n}`);
          assert.ok(relativeError(svdvals(a), expected[`values${i}`]!) < tol, `svdvals of ${m} x ${n}`);
        });
      },
    );
  }
}
