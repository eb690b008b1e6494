import assert from "node:assert/strict";
import { test } from "node:test";
import { ArgumentError } from "../../../src/errors.js";
import type { FloatArray } from "../../../src/tensor/kernels/index.js";
import {
  allocate,
  backend,
  backends,
  type Dtype,
  dtypes,
  orthogonalityError,
  randomArray,
  referenceGemm,
  relativeError,
  skipUnless,
  tolerance,
  transpose,
} from "../../helpers/matrices.js";

// Inputs and outputs are views 3 elements into larger buffers whose borders are checked afterwards:
// a kernel that ignored byteOffset or wrote past its output would fail.
const OFFSET = 3;

function view(dtype: Dtype, length: number, seed?: number): { buffer: FloatArray; data: FloatArray } {
  const buffer =
    seed === undefined ? allocate(dtype, length + 2 * OFFSET) : randomArray(dtype, length + 2 * OFFSET, seed);
  buffer.fill(7, 0, OFFSET);
  buffer.fill(7, OFFSET + length);
  return { buffer, data: buffer.subarray(OFFSET, OFFSET + length) };
}

function assertBordersIntact(buffer: FloatArray): void {
  for (let i = 0; i < OFFSET; i++) {
    assert.equal(buffer[i], 7);
    assert.equal(buffer[buffer.length - 1 - i], 7);
  }
}

/** A symmetric positive-definite n x n matrix M M^T + n I. */
function spd(dtype: Dtype, n: number, seed: number): FloatArray {
  const m = randomArray(dtype, n * n, seed);
  const a = allocate(dtype, n * n);
  a.set(referenceGemm(false, true, n, n, n, m, n, m, n));
  for (let i = 0; i < n; i++) a[i * n + i]! += n;
  return a;
}

/** Overwrites the strict upper triangle: kernels that read the lower triangle must not notice. */
function spoilUpper(a: FloatArray, n: number): FloatArray {
  const spoiled = a.slice();
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) spoiled[i * n + j] = 1e3 * (i - j);
  return spoiled;
}

for (const which of backends) {
  for (const dtype of dtypes) {
    const tol = 10 * tolerance(dtype);

    test(`qr (${which}, ${dtype}): A = QR, Q orthonormal, R upper, tall and wide`, skipUnless(which), () => {
      const kernels = backend(which);
      for (const [m, n] of [
        [9, 5],
        [4, 7],
        [6, 6],
      ] as const) {
        const k = Math.min(m, n);
        const a = view(dtype, m * n, m + n);
        const original = a.data.slice();
        const q = view(dtype, m * k);
        const r = view(dtype, k * n);
        kernels.qr({ m, n, a: a.data, q: q.data, r: r.data });
        assert.deepEqual(a.data, original, "the input is not modified");
        assert.ok(relativeError(referenceGemm(false, false, m, n, k, q.data, k, r.data, n), a.data) < tol);
        assert.ok(orthogonalityError(q.data, m, k) < tol);
        for (let i = 0; i < k; i++) for (let j = 0; j < i; j++) assert.equal(r.data[i * n + j], 0);
        for (const { buffer } of [a, q, r]) assertBordersIntact(buffer);
      }
    });

    test(
      `svd (${which}, ${dtype}): A = U diag(s) Vt, orthonormal factors, s descending`,
      skipUnless(which),
      () => {
        const kernels = backend(which);
        for (const [m, n] of [
          [8, 5],
          [3, 6],
        ] as const) {
          const k = Math.min(m, n);
          const a = view(dtype, m * n, 10 + m);
          const u = view(dtype, m * k);
          const s = view(dtype, k);
          const vt = view(dtype, k * n);
          kernels.svd({ m, n, a: a.data, u: u.data, s: s.data, vt: vt.data });
          const us = u.data.slice();
          for (let i = 0; i < m; i++) for (let j = 0; j < k; j++) us[i * k + j]! *= s.data[j]!;
          assert.ok(relativeError(referenceGemm(false, false, m, n, k, us, k, vt.data, n), a.data) < tol);
          assert.ok(orthogonalityError(u.data, m, k) < tol);
          assert.ok(orthogonalityError(transpose(vt.data, k, n), n, k) < tol);
          for (let j = 0; j + 1 < k; j++) assert.ok(s.data[j]! >= s.data[j + 1]! && s.data[j + 1]! >= 0);
          const values = allocate(dtype, k);
          kernels.svd({ m, n, a: a.data, u: null, s: values, vt: null });
          assert.ok(relativeError(values, s.data) < tol, "values alone equal the values with vectors");
          for (const { buffer } of [a, u, s, vt]) assertBordersIntact(buffer);
        }
      },
    );

    test(
      `eigh (${which}, ${dtype}): A = V diag(w) V^T from the lower triangle, w ascending`,
      skipUnless(which),
      () => {
        const kernels = backend(which);
        const n = 7;
        const a = spd(dtype, n, 20);
        for (let i = 0; i < n; i++) a[i * n + i]! -= 2 * n; // indefinite: negative eigenvalues too
        const input = view(dtype, n * n);
        input.data.set(spoilUpper(a, n));
        const w = view(dtype, n);
        const v = view(dtype, n * n);
        kernels.eigh({ n, a: input.data, w: w.data, v: v.data });
        const vw = v.data.slice();
        for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) vw[i * n + j]! *= w.data[j]!;
        assert.ok(relativeError(referenceGemm(false, true, n, n, n, vw, n, v.data, n), a) < tol);
        assert.ok(orthogonalityError(v.data, n, n) < tol);
        assert.ok(w.data[0]! < 0);
        for (let j = 0; j + 1 < n; j++) assert.ok(w.data[j]! <= w.data[j + 1]!);
        for (const { buffer } of [input, w, v]) assertBordersIntact(buffer);
      },
    );

    test(
      `solve (${which}, ${dtype}): small residual for one and several right-hand sides`,
      skipUnless(which),
      () => {
        const kernels = backend(which);
        const n = 6;
        const a = spd(dtype, n, 30);
        a[1] = a[1]! + 2; // not symmetric: exercises the transpose handling
        for (const nrhs of [1, 3]) {
          const b = view(dtype, n * nrhs, 31);
          const x = view(dtype, n * nrhs);
          kernels.solve({ n, nrhs, a, b: b.data, x: x.data });
          assert.ok(relativeError(referenceGemm(false, false, n, nrhs, n, a, n, x.data, nrhs), b.data) < tol);
          // In place: x is b.
          const inPlace = b.data.slice();
          kernels.solve({ n, nrhs, a, b: inPlace, x: inPlace });
          assert.deepEqual(inPlace, x.data);
          for (const { buffer } of [b, x]) assertBordersIntact(buffer);
        }
      },
    );

    test(
      `cholesky (${which}, ${dtype}): L L^T = A from the lower triangle, L lower`,
      skipUnless(which),
      () => {
        const kernels = backend(which);
        const n = 6;
        const a = spd(dtype, n, 40);
        const l = view(dtype, n * n);
        kernels.cholesky({ n, a: spoilUpper(a, n), l: l.data });
        assert.ok(relativeError(referenceGemm(false, true, n, n, n, l.data, n, l.data, n), a) < tol);
        for (let i = 0; i < n; i++) {
          assert.ok(l.data[i * n + i]! > 0);
          for (let j = i + 1; j < n; j++) assert.equal(l.data[i * n + j], 0);
        }
        assertBordersIntact(l.buffer);
      },
    );

    test(
      `decompositions (${which}, ${dtype}) report failures and bad sizes as ArgumentError`,
      skipUnless(which),
      () => {
        const kernels = backend(which);
        const singular = allocate(dtype, 4);
        singular.set([1, 2, 2, 4]);
        assert.throws(
          () => kernels.solve({ n: 2, nrhs: 1, a: singular, b: allocate(dtype, 2), x: allocate(dtype, 2) }),
          (error: Error) => {
            return (
              error instanceof ArgumentError && /^solve: the 2 x 2 matrix is singular/.test(error.message)
            );
          },
        );
        const indefinite = allocate(dtype, 4);
        indefinite.set([1, 2, 2, 1]);
        assert.throws(
          () => kernels.cholesky({ n: 2, a: indefinite, l: allocate(dtype, 4) }),
          (error: Error) => {
            return (
              error instanceof ArgumentError &&
              /^cholesky: the 2 x 2 matrix is not positive definite/.test(error.message)
            );
          },
        );
        assert.throws(
          () =>
            kernels.qr({ m: 3, n: 2, a: allocate(dtype, 6), q: allocate(dtype, 4), r: allocate(dtype, 4) }),
          /qr: q must have 6 elements \(3 x 2\), got 4/,
        );
        assert.throws(
          () =>
            kernels.svd({
              m: 3,
              n: 2,
              a: allocate(dtype, 6),
              u: allocate(dtype, 6),
              s: allocate(dtype, 2),
              vt: null,
            }),
          /both arrays or both null/,
        );
        assert.throws(
          () => kernels.eigh({ n: 3, a: allocate(dtype, 9), w: allocate(dtype, 3), v: allocate(dtype, 8) }),
          ArgumentError,
        );
        assert.throws(
          () =>
            kernels.solve({
              n: 2,
              nrhs: 2,
              a: allocate(dtype, 4),
              b: allocate(dtype, 2),
              x: allocate(dtype, 4),
            }),
          ArgumentError,
        );
        assert.throws(
          () => kernels.cholesky({ n: 2.5, a: allocate(dtype, 4), l: allocate(dtype, 4) }),
          ArgumentError,
        );
      },
    );
  }
}

test(
  "the native and TypeScript decompositions agree up to the signs of the vectors",
  skipUnless("native"),
  () => {
    const [m, n] = [12, 8];
    const a = randomArray("float64", m * n, 50);
    const sym = spd("float64", n, 51);
    const results = backends.map((which) => {
      const kernels = backend(which);
      const r = new Float64Array(n * n);
      kernels.qr({ m, n, a, q: new Float64Array(m * n), r });
      const s = new Float64Array(n);
      kernels.svd({ m, n, a, u: null, s, vt: null });
      const w = new Float64Array(n);
      kernels.eigh({ n, a: sym, w, v: new Float64Array(n * n) });
      const x = new Float64Array(n);
      kernels.solve({ n, nrhs: 1, a: sym, b: a.subarray(0, n), x });
      const l = new Float64Array(n * n);
      kernels.cholesky({ n, a: sym, l });
      return { r: r.map(Math.abs), s, w, x, l };
    });
    for (const key of ["r", "s", "w", "x", "l"] as const) {
      assert.ok(relativeError(results[0]![key], results[1]![key]) < 1e-12, key);
    }
  },
);

test(
  "native decompositions stay exact on sizes that take LAPACK's blocked code paths",
  skipUnless("native"),
  () => {
    // LAPACK switches to blocked (BLAS-3) algorithms above a crossover near 128 columns.
    const kernels = backend("native");
    const [m, n] = [400, 200];
    const a = randomArray("float64", m * n, 60);
    const q = new Float64Array(m * n);
    const r = new Float64Array(n * n);
    kernels.qr({ m, n, a, q, r });
    assert.ok(relativeError(referenceGemm(false, false, m, n, n, q, n, r, n), a) < 1e-12);
    assert.ok(orthogonalityError(q, m, n) < 1e-12);
    const u = new Float64Array(n * m);
    const s = new Float64Array(n);
    const vt = new Float64Array(n * n);
    const wide = transpose(a, m, n); // 200 x 400
    kernels.svd({ m: n, n: m, a: wide, u: vt, s, vt: u });
    const us = vt.slice();
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) us[i * n + j]! *= s[j]!;
    assert.ok(relativeError(referenceGemm(false, false, n, m, n, us, n, u, m), wide) < 1e-12);
    const sym = referenceGemm(true, false, n, n, m, a, n, a, n);
    const w = new Float64Array(n);
    const v = new Float64Array(n * n);
    kernels.eigh({ n, a: sym, w, v });
    const vw = v.slice();
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) vw[i * n + j]! *= w[j]!;
    assert.ok(relativeError(referenceGemm(false, true, n, n, n, vw, n, v, n), sym) < 1e-12);
  },
);
