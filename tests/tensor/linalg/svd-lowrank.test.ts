import assert from "node:assert/strict";
import { test } from "node:test";
import { ArgumentError } from "../../../src/errors.js";
import type { FloatArray } from "../../../src/tensor/kernels/index.js";
import {
  denseOperator,
  type LinearOperator,
  type Mat,
  matmul,
  qr,
  svd,
  svdLowrank,
  zerosLike,
} from "../../../src/tensor/linalg/index.js";
import { Generator } from "../../../src/tensor/random.js";
import {
  allocate,
  backend,
  backends,
  type Dtype,
  dtypes,
  randomArray,
  relativeError,
  skipUnless,
} from "../../helpers/matrices.js";

/** A (rows x cols) = U diag(s) V^T with random orthonormal U, V and s_i = 10 * 0.6^i. */
function decayingMatrix(dtype: Dtype, rows: number, cols: number): Mat {
  const k = Math.min(rows, cols);
  const u = qr({ rows, cols: k, data: randomArray("float64", rows * k, 600) }).q;
  const v = qr({ rows: cols, cols: k, data: randomArray("float64", cols * k, 601) }).q;
  for (let i = 0; i < rows; i++) for (let j = 0; j < k; j++) u.data[i * k + j]! *= 10 * 0.6 ** j;
  const a = matmul(u, v, false, true);
  const data = allocate(dtype, rows * cols);
  data.set(a.data);
  return { rows, cols, data };
}

/** |u_j . w_j| for each column j: 1 when the columns span the same directions (signs aside). */
function columnAlignment(u: Mat, w: Mat, q: number): number[] {
  return Array.from({ length: q }, (_, j) => {
    let dot = 0;
    for (let i = 0; i < u.rows; i++) dot += u.data[i * u.cols + j]! * w.data[i * w.cols + j]!;
    return Math.abs(dot);
  });
}

for (const which of backends) {
  for (const dtype of dtypes) {
    test(
      `svdLowrank (${which}, ${dtype}) finds the top singular triplets of a decaying spectrum`,
      skipUnless(which),
      () => {
        backend(which);
        const [rows, cols, q] = [120, 70, 6];
        const a = decayingMatrix(dtype, rows, cols);
        const exact = svd(a);
        const { u, s, v } = svdLowrank(denseOperator(a), q, 2, 8, new Generator(7));
        assert.deepEqual([u.rows, u.cols, s.length, v.rows, v.cols], [rows, q, q, cols, q]);
        assert.ok(s instanceof a.data.constructor);
        const tol = dtype === "float32" ? 1e-5 : 1e-11;
        assert.ok(
          relativeError(s, exact.s.subarray(0, q)) < tol,
          `s = ${s}, exact ${exact.s.subarray(0, q)}`,
        );
        // Columns of U and V line up with the exact singular vectors.
        for (const alignment of [
          ...columnAlignment(u, exact.u, q),
          ...columnAlignment(v, transposeMat(exact.vt), q),
        ]) {
          assert.ok(Math.abs(alignment - 1) < (dtype === "float32" ? 1e-4 : 1e-9), `alignment ${alignment}`);
        }
      },
    );
  }
}

function transposeMat<T extends FloatArray>(m: Mat<T>): Mat<T> {
  const t = zerosLike(m.data, m.cols, m.rows);
  for (let i = 0; i < m.rows; i++)
    for (let j = 0; j < m.cols; j++) t.data[j * m.rows + i] = m.data[i * m.cols + j]!;
  return t;
}

/**
 * A CSR matrix X centered by its column means without densifying: A = X - 1 mean^T, so
 * A Y = X Y - 1 (mean^T Y) and A^T Z = X^T Z - mean (1^T Z): the use svdLowrank's operator is for.
 */
function centeredSparseOperator(
  rows: number,
  cols: number,
  indptr: Int32Array,
  indices: Int32Array,
  values: Float64Array,
): LinearOperator<Float64Array> {
  const mean = new Float64Array(cols);
  for (let i = 0; i < rows; i++) {
    for (let p = indptr[i]!; p < indptr[i + 1]!; p++) mean[indices[p]!]! += values[p]! / rows;
  }
  return {
    rows,
    cols,
    dtype: "float64",
    mul(y) {
      const out = zerosLike(y.data, rows, y.cols);
      const meanY = new Float64Array(y.cols);
      for (let j = 0; j < cols; j++)
        for (let c = 0; c < y.cols; c++) meanY[c]! += mean[j]! * y.data[j * y.cols + c]!;
      for (let i = 0; i < rows; i++) {
        for (let c = 0; c < y.cols; c++) out.data[i * y.cols + c] = -meanY[c]!;
        for (let p = indptr[i]!; p < indptr[i + 1]!; p++) {
          for (let c = 0; c < y.cols; c++)
            out.data[i * y.cols + c]! += values[p]! * y.data[indices[p]! * y.cols + c]!;
        }
      }
      return out;
    },
    mulT(z) {
      const out = zerosLike(z.data, cols, z.cols);
      const sumZ = new Float64Array(z.cols);
      for (let i = 0; i < rows; i++) {
        for (let c = 0; c < z.cols; c++) sumZ[c]! += z.data[i * z.cols + c]!;
        for (let p = indptr[i]!; p < indptr[i + 1]!; p++) {
          for (let c = 0; c < z.cols; c++)
            out.data[indices[p]! * z.cols + c]! += values[p]! * z.data[i * z.cols + c]!;
        }
      }
      for (let j = 0; j < cols; j++)
        for (let c = 0; c < z.cols; c++) out.data[j * z.cols + c]! -= mean[j]! * sumZ[c]!;
      return out;
    },
  };
}

for (const which of backends) {
  test(
    `svdLowrank (${which}) on a centered sparse operator equals the dense centered matrix`,
    skipUnless(which),
    () => {
      backend(which);
      const [rows, cols] = [90, 40];
      const generator = new Generator(11);
      const dense = new Float64Array(rows * cols);
      const indptr = new Int32Array(rows + 1);
      const indices: number[] = [];
      const values: number[] = [];
      for (let i = 0; i < rows; i++) {
        for (let j = 0; j < cols; j++) {
          if (generator.nextDouble() < 0.15) {
            const value = 1 + generator.randint(0, 20);
            indices.push(j);
            values.push(value);
            dense[i * cols + j] = value;
          }
        }
        indptr[i + 1] = indices.length;
      }
      for (let j = 0; j < cols; j++) {
        let mean = 0;
        for (let i = 0; i < rows; i++) mean += dense[i * cols + j]! / rows;
        for (let i = 0; i < rows; i++) dense[i * cols + j]! -= mean;
      }
      const sparse = centeredSparseOperator(
        rows,
        cols,
        indptr,
        Int32Array.from(indices),
        Float64Array.from(values),
      );
      const fromSparse = svdLowrank(sparse, 5, 3, 5, new Generator(3));
      const fromDense = svdLowrank(denseOperator({ rows, cols, data: dense }), 5, 3, 5, new Generator(3));
      assert.ok(relativeError(fromSparse.s, fromDense.s) < 1e-12);
      assert.ok(relativeError(fromSparse.u.data, fromDense.u.data) < 1e-9);
      assert.ok(relativeError(fromSparse.v.data, fromDense.v.data) < 1e-9);
    },
  );
}

test("svdLowrank validates q, niter, oversample and the shapes an operator returns", () => {
  const a = denseOperator({ rows: 5, cols: 4, data: new Float64Array(20).fill(1) });
  const g = new Generator(0);
  assert.throws(
    () => svdLowrank(a, 5, 2, 0, g),
    /q must be an integer in \[1, min\(rows, cols\) = 4\], got 5/,
  );
  assert.throws(() => svdLowrank(a, 0, 2, 0, g), ArgumentError);
  assert.throws(() => svdLowrank(a, 2, -1, 0, g), /niter/);
  assert.throws(() => svdLowrank(a, 2, 1, 1.5, g), /oversample/);
  const broken: LinearOperator<Float64Array> = { ...a, mul: (x) => zerosLike(x.data, 3, x.cols) };
  assert.throws(() => svdLowrank(broken, 2, 1, 0, g), /op.mul returned a 3 x 2 matrix, expected 5 x 2/);
});

test("svdLowrank with a warm start spanning the top right singular vectors is exact without power iterations", () => {
  // A = U diag(s) V^T with s_i = 10 * 0.6^i; started from V's first q columns (rotated, so the start
  // is a basis of the subspace, not the vectors themselves), niter 0 recovers the top q exactly.
  const rows = 30;
  const cols = 20;
  const q = 4;
  const a = decayingMatrix("float64", rows, cols) as Mat<Float64Array>;
  const exact = svd(a);
  const top = zerosLike(a.data, cols, q);
  for (let i = 0; i < cols; i++) {
    for (let j = 0; j < q; j++) top.data[i * q + j] = exact.vt.data[j * cols + i]!;
  }
  const rotation = qr({ rows: q, cols: q, data: randomArray("float64", q * q, 7) as Float64Array }).q;
  const start = matmul(top, rotation);
  const { s } = svdLowrank(denseOperator(a), q, 0, 0, new Generator(1), start);
  for (let j = 0; j < q; j++) assert.ok(Math.abs(s[j]! / exact.s[j]! - 1) < 1e-12, `s[${j}]`);
  // Without the start, one random draw and no power iteration is visibly off.
  const cold = svdLowrank(denseOperator(a), q, 0, 0, new Generator(1)).s;
  assert.ok(Math.abs(cold[q - 1]! / exact.s[q - 1]! - 1) > 1e-6);
  assert.throws(
    () => svdLowrank(denseOperator(a), q, 0, 0, new Generator(1), zerosLike(a.data, cols, q + 1)),
    /start must be 20 x \(at most 4\), got 20 x 5/,
  );
});
