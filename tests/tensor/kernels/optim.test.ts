// The optimizer kernels: the native adamUpdate steps to the same bits as the TypeScript one (both
// compute each element in double and round once), for float32 and float64, Adam and AdamW, with
// and without amsgrad; sumSquares is the sum of squares. (The update's agreement with torch is
// tested through the optimizers, tests/optim.)

import assert from "node:assert/strict";
import { test } from "node:test";
import { allocate, backend, dtypes, randomArray, skipUnless } from "../../helpers/matrices.js";

for (const dtype of dtypes) {
  for (const amsgrad of [false, true]) {
    for (const decoupled of [false, true]) {
      test(
        `adamUpdate (${dtype}, ${decoupled ? "AdamW" : "Adam"}${amsgrad ? ", amsgrad" : ""}): native and TypeScript agree bit for bit over 3 steps`,
        skipUnless("native"),
        () => {
          const n = 1003;
          const run = (which: "native" | "typescript") => {
            const k = backend(which);
            const param = randomArray(dtype, n, 1);
            const expAvg = allocate(dtype, n);
            const expAvgSq = allocate(dtype, n);
            const maxExpAvgSq = amsgrad ? allocate(dtype, n) : null;
            for (let step = 1; step <= 3; step++) {
              const grad = randomArray(dtype, n, 10 + step);
              k.adamUpdate({
                param,
                grad,
                expAvg,
                expAvgSq,
                maxExpAvgSq,
                stepSize: 1e-2 / (1 - 0.9 ** step),
                biasCorrection2Sqrt: Math.sqrt(1 - 0.999 ** step),
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
                decay: decoupled ? 1 - 1e-2 * 0.05 : 1,
                l2: decoupled ? 0 : 0.05,
              });
            }
            return { param, expAvg, expAvgSq, maxExpAvgSq };
          };
          const native = run("native");
          const ts = run("typescript");
          assert.deepEqual(native, ts);
          // the step moved every parameter
          const start = randomArray(dtype, n, 1);
          assert.ok(native.param.every((v, i) => v !== start[i]));
        },
      );
    }
  }
  for (const which of ["native", "typescript"] as const) {
    test(
      `sumSquares (${which}, ${dtype}) is the sum of squares of the first n values`,
      skipUnless(which),
      () => {
        const k = backend(which);
        const x = randomArray(dtype, 1001, 3);
        let expected = 0;
        for (let i = 0; i < 1000; i++) expected += x[i]! * x[i]!;
        assert.ok(Math.abs(k.sumSquares({ n: 1000, x }) - expected) <= 1e-12 * expected);
        assert.equal(k.sumSquares({ n: 0, x }), 0);
      },
    );
  }
}
