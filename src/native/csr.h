/* Products of a CSR block X (rows x cols; indptr, indices, values) with dense row-major matrices of
 * the values' type, instantiated for float and double by cellarium_native.c (REAL, P(name)), for IncrementalPCA's
 * randomized SVD: C = X B and C = X^T Y with B, Y and C of
 * l columns. The work is O(nnz l) instead of the O(rows cols l) of GEMM on a densified X: on the
 * 7%-dense benchmark batches (1,000 x 20,000, l = 60) 14x fewer flops and no 80 MB dense copy per
 * batch. Each stored value updates one row of l outputs, a loop the compiler vectorises; the rows
 * of B (or of C for X^T Y) it touches are picked by the column index, so the l-wide rows stay
 * contiguous. float32 like the GEMM it replaces (the randomized range finder's products need no
 * more; its QR and SVD run in float64); float64 for ops/sparse.ts's csrMatmul on float64 weights.
 * Single-threaded: a second thread measured slower inside a fit, where OpenBLAS's pool spins on the
 * cores for a while after each GEMM. The caller has checked indptr. */

/* For X^T Y: stored values ahead of the current one whose row of C is prefetched. The rows are
 * picked by column index, so the hardware prefetcher cannot see them coming (~15% faster on the
 * benchmark batches; X B, whose four rows per pass keep enough loads in flight, gains nothing). */
#ifndef CSR_PREFETCH_AHEAD
#define CSR_PREFETCH_AHEAD 16
#endif

/* Prefetches the l-value row of `matrix` that stored value p selects, if p < nnz and it is valid. */
static inline void P(prefetch_row)(const REAL *matrix, const int32_t *indices, size_t p, size_t nnz, size_t cols,
                                size_t l) {
  if (p >= nnz) return;
  const uint32_t col = (uint32_t)indices[p];
  if (col >= cols) return;
  const char *row = (const char *)(matrix + (size_t)col * l);
  for (size_t b = 0; b < l * sizeof(REAL); b += 64) __builtin_prefetch(row + b, 0, 3);
}

/* C = X B for a CSR X (rows x cols) and a dense B (cols x l), returning the position of the first
 * stored value whose column index is outside [0, cols) (having stopped before using it), or nnz.
 * Row i of C accumulates the rows of B that row i of X selects. Four stored values are folded into
 * each pass over the output row: with one per pass, every pass waits for the previous pass's stores
 * to be forwarded to its loads (measured ~5 ns per stored value, at any vector width). */
CLONES
static size_t P(csr_matmul)(size_t rows, size_t cols, const int32_t *indptr, const int32_t *indices,
                            const REAL *values, const REAL *b, size_t l, REAL *c) {
  const size_t nnz = rows == 0 ? 0 : (size_t)indptr[rows];
  for (size_t i = 0; i < rows; i++) {
    REAL *restrict out = c + i * l;
    for (size_t j = 0; j < l; j++) out[j] = 0;
    const size_t end = (size_t)indptr[i + 1];
    size_t p = (size_t)indptr[i];
    for (; p + 4 <= end; p += 4) {
      const uint32_t c0 = (uint32_t)indices[p], c1 = (uint32_t)indices[p + 1];
      const uint32_t c2 = (uint32_t)indices[p + 2], c3 = (uint32_t)indices[p + 3];
      if (c0 >= cols) return p;
      if (c1 >= cols) return p + 1;
      if (c2 >= cols) return p + 2;
      if (c3 >= cols) return p + 3;
      const REAL v0 = values[p], v1 = values[p + 1], v2 = values[p + 2], v3 = values[p + 3];
      const REAL *restrict b0 = b + (size_t)c0 * l, *restrict b1 = b + (size_t)c1 * l;
      const REAL *restrict b2 = b + (size_t)c2 * l, *restrict b3 = b + (size_t)c3 * l;
      for (size_t j = 0; j < l; j++) out[j] += (v0 * b0[j] + v1 * b1[j]) + (v2 * b2[j] + v3 * b3[j]);
    }
    for (; p < end; p++) {
      const uint32_t col = (uint32_t)indices[p];
      if (col >= cols) return p;
      const REAL v = values[p];
      const REAL *restrict row = b + (size_t)col * l;
      for (size_t j = 0; j < l; j++) out[j] += v * row[j];
    }
  }
  return nnz;
}

/* C = X^T Y for X as in csr_matmul and a dense Y (rows x l): row i of Y is added, times each stored
 * value of row i of X, to the row of C its column index selects. Same return value. */
CLONES
static size_t P(csr_transpose_matmul)(size_t rows, size_t cols, const int32_t *indptr, const int32_t *indices,
                                      const REAL *values, const REAL *y, size_t l, REAL *c) {
  const size_t nnz = rows == 0 ? 0 : (size_t)indptr[rows];
  memset(c, 0, cols * l * sizeof(REAL));
  for (size_t i = 0; i < rows; i++) {
    const REAL *restrict in = y + i * l;
    for (size_t p = (size_t)indptr[i]; p < (size_t)indptr[i + 1]; p++) {
      P(prefetch_row)(c, indices, p + CSR_PREFETCH_AHEAD, nnz, cols, l);
      const uint32_t col = (uint32_t)indices[p];
      if (col >= cols) return p;
      const REAL v = values[p];
      REAL *restrict out = c + (size_t)col * l;
      for (size_t j = 0; j < l; j++) out[j] += v * in[j];
    }
  }
  return rows == 0 ? 0 : (size_t)indptr[rows];
}
