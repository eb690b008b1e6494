import assert from "node:assert/strict";
import { test } from "node:test";
import { ArgumentError } from "../../../src/errors.js";
import type { FloatArray } from "../../../src/tensor/kernels/index.js";
import {
  allocate,
  backend,
  backends,
  dtypes,
  randomArray,
  referenceGemm,
  relativeError,
  skipUnless,
  tolerance,
} from "../../helpers/matrices.js";

// Operands live inside larger buffers (an offset of 5 elements, leading dimensions wider than the
// rows), so a kernel that ignored byteOffset or ld, or wrote outside C, fails the comparison.
const OFFSET = 5;
const PAD = 3;

for (const which of backends) {
  for (const dtype of dtypes) {
    test(
      `gemm (${which}, ${dtype}) matches the definition for every transpose, with ld > width and offset views`,
      skipUnless(which),
      () => {
        const kernels = backend(which);
        const [m, n, k] = [7, 5, 9];
        for (const transA of [false, true]) {
          for (const transB of [false, true]) {
            const [aRows, aCols] = transA ? [k, m] : [m, k];
            const [bRows, bCols] = transB ? [n, k] : [k, n];
            const [lda, ldb, ldc] = [aCols + PAD, bCols + PAD, n + PAD];
            const a = randomArray(dtype, OFFSET + aRows * lda, 1).subarray(OFFSET);
            const b = randomArray(dtype, OFFSET + bRows * ldb, 2).subarray(OFFSET);
            const cBuffer = randomArray(dtype, OFFSET + m * ldc + OFFSET, 3);
            const before = cBuffer.slice();
            const c = cBuffer.subarray(OFFSET, OFFSET + m * ldc);
            const [alpha, beta] = [1.5, -0.5];
            kernels.gemm({ transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc });

            const product = referenceGemm(transA, transB, m, n, k, a, lda, b, ldb);
            const expected = Float64Array.from(before);
            for (let i = 0; i < m; i++) {
              for (let j = 0; j < n; j++) {
                const at = OFFSET + i * ldc + j;
                expected[at] = alpha * product[i * n + j]! + beta * before[at]!;
              }
            }
            assert.ok(
              relativeError(cBuffer, expected) < 10 * tolerance(dtype),
              `transA=${transA} transB=${transB}`,
            );
            // Padding between rows and the memory around C are untouched, bit for bit.
            for (let i = 0; i < cBuffer.length; i++) {
              const row = Math.floor((i - OFFSET) / ldc);
              const col = (i - OFFSET) % ldc;
              if (i < OFFSET || row >= m || col >= n)
                assert.equal(cBuffer[i], before[i], `element ${i} changed`);
            }
          }
        }
      },
    );
  }

  test(
    `gemm (${which}) with beta = 0 overwrites C, NaN included, and k = 0 scales C by beta`,
    skipUnless(which),
    () => {
      const kernels = backend(which);
      const a = Float64Array.from([1, 2, 3, 4]);
      const c = Float64Array.from([Number.NaN, 1, 2, 3]);
      kernels.gemm({
        transA: false,
        transB: false,
        m: 2,
        n: 2,
        k: 2,
        alpha: 1,
        a,
        lda: 2,
        b: a,
        ldb: 2,
        beta: 0,
        c,
        ldc: 2,
      });
      assert.deepEqual([...c], [7, 10, 15, 22]);
      kernels.gemm({
        transA: false,
        transB: false,
        m: 2,
        n: 2,
        k: 0,
        alpha: 1,
        a,
        lda: 1,
        b: a,
        ldb: 2,
        beta: 2,
        c,
        ldc: 2,
      });
      assert.deepEqual([...c], [14, 20, 30, 44]);
    },
  );

  test(
    `gemmBatched (${which}) equals one gemm per batch, a zero stride sharing an operand`,
    skipUnless(which),
    () => {
      const kernels = backend(which);
      for (const dtype of dtypes) {
        const [m, n, k, batch] = [4, 6, 5, 3];
        const strideA = m * k + 2;
        const a = randomArray(dtype, OFFSET + batch * strideA, 4).subarray(OFFSET);
        const b = randomArray(dtype, k * n, 5); // shared by every product: strideB = 0
        const strideC = m * n + 1;
        const c = allocate(dtype, batch * strideC);
        kernels.gemmBatched({
          transA: false,
          transB: true,
          m,
          n,
          k,
          alpha: 2,
          a,
          lda: k,
          strideA,
          b,
          ldb: k,
          strideB: 0,
          beta: 0,
          c,
          ldc: n,
          strideC,
          batch,
        });
        for (let i = 0; i < batch; i++) {
          const expected = referenceGemm(false, true, m, n, k, a.subarray(i * strideA), k, b, k).map(
            (x) => 2 * x,
          );
          const got = c.subarray(i * strideC, i * strideC + m * n);
          assert.ok(relativeError(got, expected) < 10 * tolerance(dtype), `batch ${i}`);
          if (i + 1 < batch) assert.equal(c[i * strideC + m * n], 0, "the gap between outputs is untouched");
        }
      }
    },
  );

  test(`gemm (${which}) rejects bad shapes and mixed dtypes with ArgumentError`, skipUnless(which), () => {
    const kernels = backend(which);
    const a = new Float64Array(6);
    // A valid 2 x 3 = (2 x 3) (3 x 3) product but for the field each case changes (b is short here).
    const ok = {
      transA: false,
      transB: false,
      m: 2,
      n: 3,
      k: 3,
      alpha: 1,
      a,
      lda: 3,
      b: a,
      ldb: 3,
      beta: 0,
      c: a,
      ldc: 3,
    };
    assert.throws(() => kernels.gemm({ ...ok, lda: 2 }), /gemm: lda = 2 is below the row width 3/);
    assert.throws(() => kernels.gemm({ ...ok, b: new Float64Array(8) }), ArgumentError);
    assert.throws(() => kernels.gemm<FloatArray>({ ...ok, c: new Float32Array(6) }), /Float32Array/);
    assert.throws(() => kernels.gemm({ ...ok, m: -1 }), ArgumentError);
    const batched = { ...ok, strideA: 6, strideB: 0, c: new Float64Array(12), strideC: 6, batch: 2 };
    assert.throws(
      () => kernels.gemmBatched(batched),
      /gemmBatched: a \(2 x 3, ld 3\) needs 12 elements, got 6/,
    );
  });
}

test(
  "the native and TypeScript gemm agree on a larger product with both operands transposed",
  skipUnless("native"),
  () => {
    const [m, n, k] = [67, 45, 130];
    for (const dtype of dtypes) {
      const a = randomArray(dtype, k * m, 6);
      const b = randomArray(dtype, n * k, 7);
      const results = backends.map((which) => {
        const c = allocate(dtype, m * n);
        backend(which).gemm({
          transA: true,
          transB: true,
          m,
          n,
          k,
          alpha: 1,
          a,
          lda: m,
          b,
          ldb: k,
          beta: 0,
          c,
          ldc: n,
        });
        return c;
      });
      assert.ok(relativeError(results[0]!, results[1]!) < 10 * tolerance(dtype) * Math.sqrt(k));
    }
  },
);
