import assert from "node:assert/strict";
import { test } from "node:test";
import { ArgumentError } from "../../../src/errors.js";
import type { KernelArgs } from "../../../src/tensor/kernels/index.js";
import { Generator } from "../../../src/tensor/random.js";
import { backend, backends, referenceGemm, relativeError, skipUnless } from "../../helpers/matrices.js";

/** A random rows x cols CSR matrix with about `density` of its entries stored, and its dense copy. */
function randomCsr(rows: number, cols: number, density: number, seed: number) {
  const generator = new Generator(seed);
  const uniform = new Float64Array(rows * cols);
  generator.fillUniform(uniform);
  const normal = new Float32Array(rows * cols);
  generator.fillNormal(normal);
  const indptr = new Int32Array(rows + 1);
  const indices: number[] = [];
  const values: number[] = [];
  const dense = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    // Row 1 stays empty.
    for (let j = 0; j < cols; j++) {
      if (i !== 1 && uniform[i * cols + j]! < density) {
        indices.push(j);
        values.push(normal[i * cols + j]!);
        dense[i * cols + j] = normal[i * cols + j]!;
      }
    }
    indptr[i + 1] = indices.length;
  }
  return { indptr, indices: Int32Array.from(indices), values: Float32Array.from(values), dense };
}

function randomDense(length: number, seed: number): Float32Array {
  const out = new Float32Array(length);
  new Generator(seed).fillNormal(out);
  return out;
}

type Csr = Omit<KernelArgs<"csrMatmul">, "b" | "l">;

for (const which of backends) {
  // The second shape is big enough for the native kernels to split the columns over two threads.
  for (const [rows, cols, l] of [
    [37, 53, 13],
    [400, 3000, 21],
  ] as const) {
    test(
      `csrMatmul and csrTransposeMatmul (${which}, ${rows} x ${cols}, l = ${l}) equal the dense products`,
      skipUnless(which),
      () => {
        const k = backend(which);
        const x = randomCsr(rows, cols, 0.2, 1);
        const b = randomDense(cols * l, 2);
        const c = new Float32Array(rows * l).fill(Number.NaN);
        k.csrMatmul({ rows, cols, indptr: x.indptr, indices: x.indices, values: x.values, b, l, c });
        const expected = referenceGemm(false, false, rows, l, cols, x.dense, cols, b, l);
        assert.ok(relativeError(c, expected) < 1e-6, `X B: ${relativeError(c, expected)}`);
        assert.ok(
          c.subarray(l, 2 * l).every((v) => v === 0),
          "the empty row gives zeros",
        );

        const y = randomDense(rows * l, 3);
        const ct = new Float32Array(cols * l).fill(Number.NaN);
        k.csrTransposeMatmul({
          rows,
          cols,
          indptr: x.indptr,
          indices: x.indices,
          values: x.values,
          y,
          l,
          c: ct,
        });
        const expectedT = referenceGemm(true, false, cols, l, rows, x.dense, cols, y, l);
        assert.ok(relativeError(ct, expectedT) < 1e-6, `X^T Y: ${relativeError(ct, expectedT)}`);
      },
    );
  }

  test(`csrMatmul and csrTransposeMatmul (${which}) reject bad structure`, skipUnless(which), () => {
    const k = backend(which);
    const values = Float32Array.from([1, 2, 3]);
    const b = new Float32Array(3 * 2);
    // The dense operand is b (cols x l) for X B and y (rows x l) for X^T Y: 2 x 3 either way here.
    const products = [
      (a: Csr) => k.csrMatmul({ ...a, b, l: 2 }),
      (a: Csr) => k.csrTransposeMatmul({ ...a, y: b, l: 2 }),
    ];
    for (const product of products) {
      const out = new Float32Array(3 * 2);
      const x = (ptr: number[], idx: number[], c = out) => ({
        rows: 2,
        cols: 3,
        indptr: Int32Array.from(ptr),
        indices: Int32Array.from(idx),
        values,
        c,
      });
      assert.throws(() => product(x([0, 2, 3], [0, 3, 1])), /indices\[1\] = 3 is outside the 3 columns/);
      assert.throws(() => product(x([0, 2, 1], [0, 1, 1])), /non-decreasing/);
      assert.throws(() => product(x([0, 2, 4], [0, 1, 1])), ArgumentError);
      assert.throws(() => product(x([0, 2, 3], [0, 1, 1], new Float32Array(1))), ArgumentError);
    }
  });
}
