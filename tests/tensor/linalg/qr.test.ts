import assert from "node:assert/strict";
import { test } from "node:test";
import { ArgumentError } from "../../../src/errors.js";
import { qr } from "../../../src/tensor/linalg/index.js";
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
  [7, 4],
  [3, 5],
] as const;
const inputs = shapes.map(([m, n], i) => randomArray("float64", m * n, 100 + i));
// numpy's QR with the same sign convention: R's diagonal made non-negative.
const expected = numpy(
  `
res = {}
for i, a in enumerate(data["a"]):
    q, r = np.linalg.qr(np.array(a))
    signs = np.where(np.diag(r) < 0, -1.0, 1.0)
    res[f"q{i}"], res[f"r{i}"] = q * signs, r * signs[:, None]
out(**res)
`,
  { a: shapes.map(([, n], i) => rows(inputs[i]!, n)) },
);

for (const which of backends) {
  for (const dtype of dtypes) {
    test(`qr (${which}, ${dtype}) equals numpy's with R's diagonal non-negative`, skipUnless(which), () => {
      backend(which);
      const tol = dtype === "float32" ? 1e-5 : 1e-12;
      shapes.forEach(([m, n], i) => {
        const data = allocate(dtype, m * n);
        data.set(inputs[i]!);
        const { q, r } = qr({ rows: m, cols: n, data });
        const k = Math.min(m, n);
        assert.deepEqual([q.rows, q.cols, r.rows, r.cols], [m, k, k, n]);
        assert.ok(q.data instanceof data.constructor && r.data instanceof data.constructor);
        for (let j = 0; j < k; j++) assert.ok(r.data[j * n + j]! >= 0);
        assert.ok(relativeError(q.data, expected[`q${i}`]!.flat()) < tol, `q of ${m} x ${n}`);
        assert.ok(relativeError(r.data, expected[`r${i}`]!.flat()) < tol, `r of ${m} x ${n}`);
      });
    });
  }
}

test("qr rejects a matrix whose data does not match its shape", () => {
  assert.throws(() => qr({ rows: 2, cols: 3, data: new Float64Array(5) }), ArgumentError);
  assert.throws(() => qr({ rows: -1, cols: 3, data: new Float64Array(0) }), ArgumentError);
});
