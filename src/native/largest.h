/* The largest stored values per gene, as HVGSeuratV3's first pass keeps them
 * (src/models/hvg-seurat-v3.ts; keepLargest in src/tensor/kernels/types.ts): slot base + column
 * holds a min-heap of `kept` values at heaps[slot * kept ...], and minima[slot] its minimum, apart from the heaps so that the common case
 * (a value at or below its gene's minimum, nearly every value once the heaps fill) is one compare
 * against an array that stays in cache. */

/* Replaces the minimum of the min-heap heap[0..size) by v (larger than it) and restores the heap
 * order; returns the new minimum. */
static inline float replace_minimum(float *heap, size_t size, float v) {
  size_t i = 0;
  for (;;) {
    const size_t left = 2 * i + 1;
    if (left >= size) break;
    const size_t right = left + 1;
    const size_t child = right < size && heap[right] < heap[left] ? right : left;
    if (heap[child] >= v) break;
    heap[i] = heap[child];
    i = child;
  }
  heap[i] = v;
  return heap[0];
}

/* Every stored value [0, nnz) into the heap of its slot base + column; with moments, also the
 * value, its square and 1 added to moments[3 column ...] in the same pass (HVGSeuratV3's first pass
 * needs both, and one read of the block instead of two saves a third of their time). Returns the
 * position of the first column index outside [0, cols), having kept the values before it, or nnz. */
static size_t keep_largest(size_t nnz, const int32_t *indices, const float *values, size_t cols,
                           size_t base, size_t kept, float *minima, float *heaps, double *moments) {
  for (size_t p = 0; p < nnz; p++) {
    const int32_t col = indices[p];
    if (col < 0 || (size_t)col >= cols) return p;
    const size_t slot = base + (size_t)col;
    const float v = values[p];
    if (moments != NULL) {
      const double d = v;
      double *m = moments + 3 * (size_t)col;
      m[0] += d;
      m[1] += d * d;
      m[2] += 1;
    }
    if (v > minima[slot]) minima[slot] = replace_minimum(heaps + slot * kept, kept, v);
  }
  return nnz;
}
