import assert from "node:assert/strict";
import { matmul } from "../../../src/tensor/linalg/mat.js";
import { tallQr } from "../../../src/tensor/linalg/tall-qr.js";
import { Generator } from "../../../src/tensor/random.js";
import { test } from "../../helpers/backends.js";
import { orthogonalityError, relativeError } from "../../helpers/matrices.js";

function randomTall(rows: number, cols: number, seed: number, scaleColumn?: (j: number) => number) {
  const data = new Float64Array(rows * cols);
  new Generator(seed).fillNormal(data);
  if (scaleColumn)
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) data[i * cols + j]! *= scaleColumn(j);
  return { rows, cols, data };
}

function assertQr(y: { rows: number; cols: number; data: Float64Array }, tolerance: number): void {
  const { q, r } = tallQr(y);
  assert.equal(q.rows, y.rows);
  assert.equal(q.cols, y.cols);
  assert.ok(
    orthogonalityError(q.data, q.rows, q.cols) < tolerance,
    `Q^T Q - I: ${orthogonalityError(q.data, q.rows, q.cols)}`,
  );
  for (let i = 0; i < r.rows; i++)
    for (let j = 0; j < i; j++) assert.equal(r.data[i * r.cols + j], 0, `R[${i}][${j}]`);
  const product = matmul(q, r);
  assert.ok(
    relativeError(product.data, y.data) < tolerance,
    `QR - Y: ${relativeError(product.data, y.data)}`,
  );
}

test("tallQr (CholeskyQR2) factors well- and badly-scaled tall matrices to machine precision", () => {
  assertQr(randomTall(2000, 30, 1), 1e-13);
  // Column scales from 1 to 1e6: cond ~ 1e6, where one CholeskyQR pass alone loses orthogonality.
  assertQr(
    randomTall(2000, 30, 2, (j) => 10 ** ((6 * j) / 29)),
    1e-12,
  );
});

test("tallQr falls back to Householder when Y^T Y is not positive definite", () => {
  // A zero column 3 makes pivot 3 of the Gram matrix's Cholesky exactly 0.
  const y = randomTall(500, 8, 3);
  for (let i = 0; i < y.rows; i++) y.data[i * 8 + 3] = 0;
  assertQr(y, 1e-12);
  // === rather than Object.is: the TypeScript Householder QR gives -0 there, LAPACK 0.
  assert.ok(tallQr(y).r.data[3 * 8 + 3] === 0);
});

test("tallQr with one pass gives Y = Q R and a basis orthonormal to ~cond(Y)^2 1e-16", () => {
  // cond ~ 1e3: one CholeskyQR pass leaves an orthogonality error around 1e-10.
  const y = randomTall(2000, 30, 4, (j) => 10 ** ((3 * j) / 29));
  const { q, r } = tallQr(y, 1);
  const error = orthogonalityError(q.data, q.rows, q.cols);
  assert.ok(error < 1e-8, `Q^T Q - I: ${error}`);
  assert.ok(relativeError(matmul(q, r).data, y.data) < 1e-13);
  for (let i = 0; i < r.rows; i++) for (let j = 0; j < i; j++) assert.equal(r.data[i * r.cols + j], 0);
});
