/* Kernels over the stored values of a batch (the data array of a CSR or dense block): NormalizeTotal's
 * row scaling, Log1p, the per-gene moments of OnePassMeanVarStd, and the data layer's scans for bad
 * values and column indices. They run on every value the
 * loader streams, so the first two are written for the vectoriser: no calls, no branches the
 * compiler cannot turn into selects. CLONES (cellarium_native.c) gives them AVX-512 and AVX2
 * versions chosen at load time: log1p takes 1.0 ns per value with AVX-512, 1.8 ns with AVX2 and
 * 4.3 ns with the default build's SSE2. */

/* NormalizeTotal: y[p] = (target * x[p]) / (total_i + eps) in float32 arithmetic, rounded after
 * each operation as torch does (IEEE division is correctly rounded, so these are torch's values bit
 * for bit). total_i is totals[i], or when totals is NULL the row's sum, added in double and rounded
 * once, in the same pass (the row is still in L1 when it is scaled). Row i is
 * [row_ptr[i], row_ptr[i+1]) when row_ptr is given (CSR), else [i*len, (i+1)*len). */
/* The bits of a float32, for branch-free tests the vectoriser keeps as integer compares. */
static inline uint32_t float_bits(float v) {
  uint32_t bits;
  memcpy(&bits, &v, sizeof bits);
  return bits;
}

/* NaN or +-inf: every exponent bit set. */
static inline uint32_t is_nonfinite_bits(uint32_t bits) { return (bits & 0x7f800000u) == 0x7f800000u; }

/* The sign tests below are float compares (x < 0: false for -0 and NaN), which vectorise to one
 * compare per vector; an unsigned integer compare of the bits doubled log1p's time under AVX2,
 * which has none. */

/* Position of the first negative of x[start..end), or end. */
static inline size_t first_negative(const float *x, size_t start, size_t end) {
  for (size_t p = start; p < end; p++) {
    if (x[p] < 0.0f) return p;
  }
  return end;
}

/* Returns the position of the first negative x (NormalizeTotal needs counts), having left its row
 * untouched (rows before it are scaled), or the number of values when there is none. Each row is
 * checked before it is scaled, by a branch-free OR that is fused into the row sum when there is
 * one and otherwise rereads the row from L1. */
CLONES
static size_t normalize_rows(size_t rows, const int32_t *row_ptr, size_t len, const float *x, float target,
                             float eps, const float *totals, float *y) {
  for (size_t i = 0; i < rows; i++) {
    const size_t start = row_ptr != NULL ? (size_t)row_ptr[i] : i * len;
    const size_t end = row_ptr != NULL ? (size_t)row_ptr[i + 1] : start + len;
    uint32_t negative = 0;
    float total;
    if (totals != NULL) {
      total = totals[i];
      for (size_t p = start; p < end; p++) negative |= x[p] < 0.0f;
    } else {
      double sum = 0;
      for (size_t p = start; p < end; p++) {
        negative |= x[p] < 0.0f;
        sum += x[p];
      }
      total = (float)sum;
    }
    if (negative != 0) return first_negative(x, start, end);
    const float d = total + eps;
    for (size_t p = start; p < end; p++) y[p] = (target * x[p]) / d;
  }
  return row_ptr != NULL ? (rows == 0 ? 0 : (size_t)row_ptr[rows]) : rows * len;
}

static inline double bits_to_double(uint64_t bits) {
  double d;
  memcpy(&d, &bits, sizeof d);
  return d;
}

static inline uint64_t double_to_bits(double d) {
  uint64_t bits;
  memcpy(&bits, &d, sizeof bits);
  return bits;
}

/* log1p of a float32, computed in double and rounded once, so the result is the correctly rounded
 * float32 log1p except when the exact value lies within ~1e-16 (relative) of a rounding boundary.
 * u = 1 + x is exact in double for |x| >= 2^-29; below 1e-4 the series x - x^2/2 + x^3/3 - x^4/4
 * is used instead (relative error < 2e-17). log(u): u = m 2^e with m in [sqrt(1/2), sqrt(2)),
 * log(m) = 2 atanh(s) with s = (m - 1) / (m + 1), |s| <= 0.1716, by its Taylor series to s^21
 * (truncation < 1e-18 relative), plus e ln 2 with ln 2 split so that e ln2_hi is exact. The exponent
 * is taken from the bits without an integer-to-double conversion (AVX2 has none for 64-bit
 * integers): OR-ing it under the exponent of 2^52 and subtracting 2^52 gives it as a double. */
static inline float log1p_value(float xf) {
  const double x = xf;
  const double u = 1.0 + x;
  const uint64_t bits = double_to_bits(u);
  const double biased = bits_to_double((bits >> 52) | 0x4330000000000000ULL) - 4503599627370496.0;
  double m = bits_to_double((bits & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL);
  const bool high = m > 1.4142135623730951;
  m = high ? 0.5 * m : m;
  const double e = biased - 1023.0 + (high ? 1.0 : 0.0);
  const double f = m - 1.0;
  const double s = f / (2.0 + f);
  const double s2 = s * s;
  double p = 1.0 / 21;
  p = p * s2 + 1.0 / 19;
  p = p * s2 + 1.0 / 17;
  p = p * s2 + 1.0 / 15;
  p = p * s2 + 1.0 / 13;
  p = p * s2 + 1.0 / 11;
  p = p * s2 + 1.0 / 9;
  p = p * s2 + 1.0 / 7;
  p = p * s2 + 1.0 / 5;
  p = p * s2 + 1.0 / 3;
  const double log_m = 2.0 * s + 2.0 * s * s2 * p;
  const double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
  const double log_u = e * ln2_hi + (log_m + e * ln2_lo);
  const double series = x * (1.0 - x * (0.5 - x * (1.0 / 3 - x * 0.25)));
  /* u == 0 (x = -1): -inf; u < 0: NaN; u = inf or NaN: itself. The polynomial's value on those
   * inputs is discarded by the selects. */
  const double special = u == 0.0 ? -INFINITY : (u < 0.0 ? NAN : u);
  const double regular = (x < 1e-4 && x > -1e-4) ? series : log_u;
  return (float)((u > 0.0 && u < INFINITY) ? regular : special);
}

/* Values a block scan tests at a time before locating: long enough for the vectorised OR to pay,
 * short enough that locating the bad value rescans little (and, in log1p, that the chunk is still
 * in L1 when it is transformed). */
#define SCAN_CHUNK 1024

/* Returns the position of the first negative x (Log1p is for counts), having left its chunk and
 * everything after untouched, or n when there is none. Each chunk is checked, then transformed. */
CLONES
static size_t log1p_values(size_t n, const float *x, float *y) {
  for (size_t start = 0; start < n; start += SCAN_CHUNK) {
    const size_t end = n - start > SCAN_CHUNK ? start + SCAN_CHUNK : n;
    uint32_t negative = 0;
    for (size_t p = start; p < end; p++) negative |= x[p] < 0.0f;
    if (negative != 0) return first_negative(x, start, end);
    for (size_t p = start; p < end; p++) y[p] = log1p_value(x[p]);
  }
  return n;
}

/* Position of the first of x[0..n) that is NaN or infinite, or (nonnegative) negative; n when none is.
 * The data layer runs it on every block it reads, so the common all-valid case is a branch-free
 * OR over each chunk. With copy_to, x is also copied there, whole, in the same pass: the read from
 * the wasm heap into the batch's buffer checks what it copies. */
CLONES
static size_t find_bad_value(size_t n, const float *x, bool nonnegative, float *copy_to) {
  /* -inf is found as non-finite; below it, a negative finite value only when asked for. */
  const float lowest = nonnegative ? 0.0f : -INFINITY;
  size_t found = n;
  for (size_t start = 0; start < n; start += SCAN_CHUNK) {
    const size_t end = n - start > SCAN_CHUNK ? start + SCAN_CHUNK : n;
    uint32_t bad = 0;
    if (copy_to != NULL) {
      for (size_t p = start; p < end; p++) {
        const float v = x[p];
        copy_to[p] = v;
        bad |= is_nonfinite_bits(float_bits(v)) | (v < lowest);
      }
    } else {
      for (size_t p = start; p < end; p++) bad |= is_nonfinite_bits(float_bits(x[p])) | (x[p] < lowest);
    }
    if (bad == 0 || found < n) continue;
    for (size_t p = start; p < end; p++) {
      if (is_nonfinite_bits(float_bits(x[p])) | (x[p] < lowest)) {
        found = p;
        break;
      }
    }
    if (copy_to == NULL) return found;
  }
  return found;
}

/* Position of the first of x[0..n) that is not a whole number (NaN included; +-inf counts as whole,
 * as in JavaScript's Math.trunc), or n: the count models' check that they were given raw counts,
 * which runs on every value of the first epoch. Each chunk is a branch-free OR of x != trunc(x)
 * (one rounding instruction per vector under SSE4.1 and later), rescanned only when it holds one. */
CLONES
static size_t first_non_integer(size_t n, const float *x) {
  for (size_t start = 0; start < n; start += SCAN_CHUNK) {
    const size_t end = n - start > SCAN_CHUNK ? start + SCAN_CHUNK : n;
    uint32_t fractional = 0;
    for (size_t p = start; p < end; p++) fractional |= x[p] != truncf(x[p]);
    if (fractional == 0) continue;
    for (size_t p = start; p < end; p++) {
      if (x[p] != truncf(x[p])) return p;
    }
  }
  return n;
}

/* Position of the first column index of a CSR block that is outside [0, cols), or not above the
 * index before it in its row (unsorted, or a duplicate); nnz = indptr[rows] when none is. indptr
 * is non-decreasing from indptr[0] = 0 (checked by the caller). With copy_to, the indices are also
 * copied there, whole, in the same pass. */
CLONES
static size_t find_bad_index(size_t rows, const int32_t *indptr, const int32_t *indices, size_t cols,
                             int32_t *copy_to) {
  const size_t nnz = rows == 0 ? 0 : (size_t)indptr[rows];
  size_t found = nnz;
  for (size_t i = 0; i < rows; i++) {
    const size_t start = (size_t)indptr[i], end = (size_t)indptr[i + 1];
    if (start == end) continue;
    uint32_t bad = (uint32_t)indices[start] >= cols;
    if (copy_to != NULL) {
      copy_to[start] = indices[start];
      for (size_t p = start + 1; p < end; p++) {
        const int32_t c = indices[p];
        copy_to[p] = c;
        bad |= ((uint32_t)c >= cols) | (c <= indices[p - 1]);
      }
    } else {
      for (size_t p = start + 1; p < end; p++) bad |= ((uint32_t)indices[p] >= cols) | (indices[p] <= indices[p - 1]);
    }
    if (bad == 0 || found < nnz) continue;
    if ((uint32_t)indices[start] >= cols) {
      found = start;
    } else {
      for (size_t p = start + 1; p < end; p++) {
        if ((uint32_t)indices[p] >= cols || indices[p] <= indices[p - 1]) {
          found = p;
          break;
        }
      }
    }
    if (copy_to == NULL) return found;
  }
  return found;
}

/* Per-gene sums of a CSR block's stored values (OnePassMeanVarStd's inner loop): for each stored
 * value x of gene g, d = x - shift[g] (shift NULL: d = x) is added to moments[3g], d^2 to
 * moments[3g + 1] and 1 to moments[3g + 2]. The three sums of a gene share a cache line (mostly):
 * 0.84 ns per value against 1.27 ns with three separate arrays, on 20,000 genes. Returns the
 * position of the first gene index outside [0, n_genes), before touching anything at or after it,
 * or nnz when all are inside. */
static size_t csr_column_moments(size_t nnz, const int32_t *indices, const float *values, size_t n_genes,
                                 const double *shift, double *moments) {
  for (size_t p = 0; p < nnz; p++) {
    const uint32_t g = (uint32_t)indices[p];
    if (g >= n_genes) return p;
    const double d = shift != NULL ? (double)values[p] - shift[g] : (double)values[p];
    double *m = moments + 3 * (size_t)g;
    m[0] += d;
    m[1] += d * d;
    m[2] += 1;
  }
  return nnz;
}
