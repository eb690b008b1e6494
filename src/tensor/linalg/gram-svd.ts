import { ArgumentError } from "../../errors.js";
import { kernels } from "../kernels/index.js";
import { eigh } from "./eigh.js";
import { checkMat, type Mat } from "./mat.js";

/**
 * The top `q` singular values and right singular vectors of A (m x n, float64), exactly, through
 * the eigendecomposition of its smaller Gram matrix: A A^T = U diag(s^2) U^T and V^T = diag(1/s)
 * U^T A when m <= n, else A^T A = V diag(s^2) V^T. That is O(min(m, n)^2 max(m, n)) GEMM work,
 * cheaper than LAPACK's SVD of a wide matrix and than a randomized SVD's products when A has few
 * rows or columns. Squaring the singular values costs digits only in directions far below the top
 * one (the eigenvalues carry an absolute error of ~1e-16 s_1^2): directions with s_j < 1e-7 s_1
 * are returned with s_j = 0 and a zero row in Vt, as the rank-q summary of a rank-deficient A.
 * Each row of Vt has its largest-magnitude entry positive (the sign convention of svdLowrank's V).
 */
export function gramSvd(a: Mat<Float64Array>, q: number): { s: Float64Array; vt: Mat<Float64Array> } {
  checkMat("gramSvd", "a", a);
  const { rows: m, cols: n } = a;
  checkRank("gramSvd", q, Math.min(m, n));
  const small = Math.min(m, n);
  const gram = new Float64Array(small * small);
  // A A^T (small x small) for a wide A, A^T A for a tall one.
  const wide = m <= n;
  const k = Math.max(m, n);
  const [lda, ldb, ldc] = [n, n, small];
  kernels().gemm({
    transA: !wide,
    transB: wide,
    m: small,
    n: small,
    k,
    alpha: 1,
    a: a.data,
    lda,
    b: a.data,
    ldb,
    beta: 0,
    c: gram,
    ldc,
  });
  if (m > n) return svdOfGram({ rows: n, cols: n, data: gram }, q);
  const { s, rank, v } = topEigenpairs(gram, m, q);
  // V^T = diag(1/s) U^T A, as one GEMM with the scaled top eigenvectors.
  const coefficients = new Float64Array(rank * m);
  for (let j = 0; j < rank; j++) {
    for (let i = 0; i < m; i++) coefficients[j * m + i] = v[i * m + (m - 1 - j)]! / s[j]!;
  }
  const vt = new Float64Array(q * n);
  if (rank > 0)
    kernels().gemm({
      transA: false,
      transB: false,
      m: rank,
      n,
      k: m,
      alpha: 1,
      a: coefficients,
      lda: m,
      b: a.data,
      ldb: n,
      beta: 0,
      c: vt,
      ldc: n,
    });
  for (let j = 0; j < rank; j++) {
    const row = vt.subarray(j * n, (j + 1) * n);
    let largest = 0;
    for (const value of row) if (Math.abs(value) > Math.abs(largest)) largest = value;
    if (largest < 0) for (let c = 0; c < n; c++) row[c] = -row[c]!;
  }
  return { s, vt: { rows: q, cols: n, data: vt } };
}

/**
 * The top `q` singular values and right singular vectors of any A whose Gram matrix A^T A is
 * `gram` (n x n, symmetric positive semi-definite; only its lower triangle is read), as gramSvd
 * returns them: s_j = sqrt(eigenvalue j), the eigenvectors as rows of Vt (largest-magnitude entry
 * positive), and s_j = 0 with a zero row below 1e-7 s_1. IncrementalPCA's scatter matrix is such a
 * Gram matrix (of the centered data).
 */
export function svdOfGram(gram: Mat<Float64Array>, q: number): { s: Float64Array; vt: Mat<Float64Array> } {
  checkMat("svdOfGram", "gram", gram);
  const n = gram.rows;
  if (gram.cols !== n) throw new ArgumentError(`svdOfGram: gram must be square, got ${n} x ${gram.cols}`);
  checkRank("svdOfGram", q, n);
  const { s, rank, v } = topEigenpairs(gram.data, n, q);
  const vt = new Float64Array(q * n);
  for (let j = 0; j < rank; j++) for (let c = 0; c < n; c++) vt[j * n + c] = v[c * n + (n - 1 - j)]!;
  return { s, vt: { rows: q, cols: n, data: vt } };
}

function checkRank(operation: string, q: number, most: number): void {
  if (!Number.isInteger(q) || q < 1 || q > most) {
    throw new ArgumentError(`${operation}: q must be an integer in [1, ${most}], got ${q}`);
  }
}

/**
 * eigh of the small x small `gram` (ascending; eigenvector j in column j of v, largest-magnitude
 * entry positive) and the square roots of its top q eigenvalues, those above the floor counted by
 * `rank` (the rest 0).
 */
function topEigenpairs(
  gram: Float64Array,
  small: number,
  q: number,
): { s: Float64Array; rank: number; v: Float64Array } {
  const { w, v } = eigh({ rows: small, cols: small, data: gram });
  const floor = 1e-7 * Math.sqrt(Math.max(w[small - 1]!, 0));
  const s = new Float64Array(q);
  let rank = 0;
  while (rank < q) {
    const value = Math.sqrt(Math.max(w[small - 1 - rank]!, 0));
    if (!(value > floor)) break;
    s[rank++] = value;
  }
  return { s, rank, v: v.data };
}
