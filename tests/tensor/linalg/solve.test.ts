import assert from "node:assert/strict";
import { test } from "node:test";
import { ArgumentError } from "../../../src/errors.js";
import { solve } from "../../../src/tensor/linalg/index.js";
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

const n = 5;
const nrhs = 3;
const a = randomArray("float64", n * n, 400);
for (let i = 0; i < n; i++) a[i * n + i]! += 4; // well conditioned
const b = randomArray("float64", n * nrhs, 401);
const expected = numpy(`out(x=np.linalg.solve(np.array(data["a"]), np.array(data["b"])))`, {
  a: rows(a, n),
  b: rows(b, nrhs),
});

for (const which of backends) {
  for (const dtype of dtypes) {
    test(`solve (${which}, ${dtype}) equals numpy's, several right-hand sides`, skipUnless(which), () => {
      backend(which);
      const [aT, bT] = [allocate(dtype, n * n), allocate(dtype, n * nrhs)];
      aT.set(a);
      bT.set(b);
      const x = solve({ rows: n, cols: n, data: aT }, { rows: n, cols: nrhs, data: bT });
      assert.deepEqual([x.rows, x.cols], [n, nrhs]);
      assert.ok(relativeError(x.data, expected["x"]!.flat()) < (dtype === "float32" ? 1e-5 : 1e-12));
    });

    test(
      `solve (${which}, ${dtype}) rejects a singular matrix and mismatched shapes`,
      skipUnless(which),
      () => {
        backend(which);
        const singular = { rows: 2, cols: 2, data: allocate(dtype, 4) };
        singular.data.set([1, 2, 3, 6]);
        const rhs = { rows: 2, cols: 1, data: allocate(dtype, 2) };
        assert.throws(() => solve(singular, rhs), /solve: the 2 x 2 matrix is singular/);
        assert.throws(() => solve(singular, { rows: 3, cols: 1, data: allocate(dtype, 3) }), /b has 3 rows/);
        assert.throws(() => solve({ rows: 2, cols: 3, data: allocate(dtype, 6) }, rhs), ArgumentError);
        const other = dtype === "float32" ? new Float64Array(2) : new Float32Array(2);
        assert.throws(
          () => solve(singular, { rows: 2, cols: 1, data: other as typeof singular.data }),
          ArgumentError,
        );
      },
    );
  }
}
