import assert from "node:assert/strict";
import { test } from "node:test";
import { ArgumentError } from "../../../src/errors.js";
import { cholesky } from "../../../src/tensor/linalg/index.js";
import {
  allocate,
  backend,
  backends,
  dtypes,
  randomArray,
  referenceGemm,
  relativeError,
  skipUnless,
} from "../../helpers/matrices.js";
import { numpy, rows } from "../../helpers/numpy.js";

const n = 5;
const m = randomArray("float64", n * n, 500);
const spd = referenceGemm(false, true, n, n, n, m, n, m, n);
for (let i = 0; i < n; i++) spd[i * n + i]! += 1;
const expected = numpy(`out(l=np.linalg.cholesky(np.array(data["a"])))`, { a: rows(spd, n) });

for (const which of backends) {
  for (const dtype of dtypes) {
    test(`cholesky (${which}, ${dtype}) equals numpy's`, skipUnless(which), () => {
      backend(which);
      const data = allocate(dtype, n * n);
      data.set(spd);
      const l = cholesky({ rows: n, cols: n, data });
      assert.ok(relativeError(l.data, expected["l"]!.flat()) < (dtype === "float32" ? 1e-5 : 1e-12));
    });

    test(
      `cholesky (${which}, ${dtype}) rejects an indefinite or non-square matrix`,
      skipUnless(which),
      () => {
        backend(which);
        const indefinite = allocate(dtype, 4);
        indefinite.set([1, 0, 0, -1]);
        assert.throws(() => cholesky({ rows: 2, cols: 2, data: indefinite }), /not positive definite/);
        assert.throws(() => cholesky({ rows: 1, cols: 4, data: indefinite }), ArgumentError);
      },
    );
  }
}
