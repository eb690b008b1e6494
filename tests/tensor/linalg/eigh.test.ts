import assert from "node:assert/strict";
import { test } from "node:test";
import { ArgumentError } from "../../../src/errors.js";
import { eigh } from "../../../src/tensor/linalg/index.js";
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

const n = 6;
// Not symmetric on purpose: eigh, like numpy's eigh(UPLO="L"), must read the lower triangle only.
const input = randomArray("float64", n * n, 300);
const expected = numpy(
  `
w, v = np.linalg.eigh(np.array(data["a"]), UPLO="L")
out(w=w, v=flip(v)[0])
`,
  { a: rows(input, n) },
);

for (const which of backends) {
  for (const dtype of dtypes) {
    test(`eigh (${which}, ${dtype}) equals numpy's eigh on the lower triangle`, skipUnless(which), () => {
      backend(which);
      const data = allocate(dtype, n * n);
      data.set(input);
      const { w, v } = eigh({ rows: n, cols: n, data });
      assert.ok(relativeError(w, expected["w"]!) < (dtype === "float32" ? 2e-5 : 1e-12));
      assert.ok(relativeError(v.data, expected["v"]!.flat()) < (dtype === "float32" ? 1e-4 : 1e-11));
    });
  }
}

test("eigh rejects a non-square matrix", () => {
  assert.throws(
    () => eigh({ rows: 2, cols: 3, data: new Float64Array(6) }),
    /eigh: a must be square, got 2 x 3/,
  );
  assert.throws(() => eigh({ rows: 2, cols: 3, data: new Float64Array(6) }), ArgumentError);
});
