/* Products of a CSR block X (rows x cols; indptr, indices, float32 values) with dense row-major
 * float32 matrices, for IncrementalPCA's randomized SVD: C = X B and C = X^T Y with B, Y and C of
 * l columns. The work is O(nnz l) instead of the O(rows cols l) of GEMM on a densified X: on the
 * 7%-dense benchmark batches (1,000 x 20,000, l = 60) 14x fewer flops and no 80 MB dense copy per
 * batch. Each stored value updates one row of l outputs, a loop the compiler vectorises; the rows
 * of B (or of C for X^T Y) it touches are picked by the column index, so the l-wide rows stay
 * contiguous. float32 like the GEMM it replaces (the randomized range finder's products need no
 * more; its QR and SVD run in float64).
 *
 * csr_product_run returns the position of the first stored value whose column index is outside [0, cols),
 * having stopped before using it, or nnz when all are inside (the caller checked indptr). */

/* C = X B (transpose false) or C = X^T Y (true). Single-threaded: a second thread measured slower
 * inside a fit, where OpenBLAS's pool spins on the cores for a while after each GEMM. */
CLONES
static size_t csr_product_run(bool transpose, size_t rows, size_t cols, const int32_t *indptr,
                              const int32_t *indices, const float *values, const float *dense, size_t l, float *c) {
  if (transpose) memset(c, 0, cols * l * sizeof(float));
  for (size_t i = 0; i < rows; i++) {
    float *out_row = c + i * l;
    const float *in_row = dense + i * l;
    if (!transpose)
      for (size_t j = 0; j < l; j++) out_row[j] = 0;
    for (size_t p = (size_t)indptr[i]; p < (size_t)indptr[i + 1]; p++) {
      const uint32_t col = (uint32_t)indices[p];
      if (col >= cols) return p;
      const float v = values[p];
      /* X B: row i of C gathers row col of B; X^T Y: row col of C gathers row i of Y. */
      float *out = transpose ? c + (size_t)col * l : out_row;
      const float *in = transpose ? in_row : dense + (size_t)col * l;
      for (size_t j = 0; j < l; j++) out[j] += v * in[j];
    }
  }
  return rows == 0 ? 0 : (size_t)indptr[rows];
}
