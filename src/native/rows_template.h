/* Row kernels of the attention softmax and of dropout, instantiated for float and double by
 * cellarium_native.c (REAL, P(name), EXP, SOFTMAX_EXP). Sums run in double for both, as the
 * TypeScript fallback (src/tensor/kernels/rows-ts.ts) does, so the two agree to rounding of the
 * exponential. The softmax's exponentials are one loop on their own, which the compiler
 * vectorises with the float SOFTMAX_EXP (the attention softmax of a 2,048-token layer is
 * millions of them); the sum then runs over four double accumulators to break the add chain. */

CLONES
static void P(softmax_rows)(size_t rows, size_t len, REAL *x, const REAL *bias) {
  for (size_t r = 0; r < rows; r++) {
    REAL *row = x + r * len;
    if (bias != NULL)
      for (size_t j = 0; j < len; j++) row[j] += bias[j];
    REAL m = -INFINITY;
    for (size_t j = 0; j < len; j++) m = row[j] > m ? row[j] : m;
    if (m == -INFINITY) m = 0; /* an all -inf row gives NaN, as in torch */
    const REAL shift = m;
    for (size_t j = 0; j < len; j++) row[j] = SOFTMAX_EXP(row[j] - shift);
    double sums[4] = {0, 0, 0, 0};
    size_t j = 0;
    for (; j + 4 <= len; j += 4) {
      sums[0] += row[j];
      sums[1] += row[j + 1];
      sums[2] += row[j + 2];
      sums[3] += row[j + 3];
    }
    for (; j < len; j++) sums[0] += row[j];
    const double total = (sums[0] + sums[1]) + (sums[2] + sums[3]);
    const REAL inv = (REAL)(1 / total);
    for (size_t k = 0; k < len; k++) row[k] *= inv;
  }
}

CLONES
static void P(softmax_backward_rows)(size_t rows, size_t len, const REAL *p, REAL *g, const uint8_t *keep,
                                     double keep_scale) {
  for (size_t r = 0; r < rows; r++) {
    const REAL *pr = p + r * len;
    REAL *gr = g + r * len;
    const uint8_t *kr = keep == NULL ? NULL : keep + r * len;
    double dot = 0;
    if (kr != NULL) {
      const REAL scale = (REAL)keep_scale;
      for (size_t j = 0; j < len; j++) {
        gr[j] = kr[j] ? gr[j] * scale : 0;
        dot += (double)gr[j] * pr[j];
      }
    } else {
      for (size_t j = 0; j < len; j++) dot += (double)gr[j] * pr[j];
    }
    const REAL d = (REAL)dot;
    for (size_t j = 0; j < len; j++) gr[j] = pr[j] * (gr[j] - d);
  }
}

CLONES
static void P(masked_scale)(size_t n, const REAL *src, const uint8_t *keep, double scale, REAL *dst) {
  const REAL s = (REAL)scale;
  for (size_t i = 0; i < n; i++) dst[i] = keep[i] ? src[i] * s : 0;
}

/* Exact GELU, x Phi(x), with Phi(x) = erfc(-x / sqrt 2) / 2: for negative x, 1 + erf(x / sqrt 2)
 * would cancel to 0 in float long before Phi underflows. The backward takes Phi(x) = y / x from
 * the forward output y (1/2 near 0, where a float y may underflow). */
static void P(gelu)(size_t n, const REAL *x, REAL *y) {
  for (size_t i = 0; i < n; i++) y[i] = (REAL)0.5 * x[i] * ERFC(x[i] * (REAL)-0.70710678118654752);
}

static void P(gelu_backward)(size_t n, const REAL *g, const REAL *x, const REAL *y, REAL *dx) {
  for (size_t i = 0; i < n; i++) {
    const REAL v = x[i];
    const REAL cdf = FABS(v) < (REAL)1e-30 ? (REAL)0.5 : y[i] / v;
    dx[i] = g[i] * (cdf + v * (REAL)0.39894228040143268 * EXP((REAL)-0.5 * v * v));
  }
}

/* LayerNorm over rows of len values: two passes (mean, then the variance of centered values, which
 * does not cancel), statistics in double and saved per row for the backward. */
CLONES
static void P(layer_norm_rows)(size_t rows, size_t len, const REAL *x, const REAL *w, const REAL *b, double eps,
                               REAL *y, double *mean, double *rstd) {
  for (size_t r = 0; r < rows; r++) {
    const REAL *xr = x + r * len;
    REAL *yr = y + r * len;
    double total = 0;
    for (size_t j = 0; j < len; j++) total += xr[j];
    const double mu = total / (double)len;
    double sq = 0;
    for (size_t j = 0; j < len; j++) {
      const double c = xr[j] - mu;
      sq += c * c;
    }
    const double rs = 1 / sqrt(sq / (double)len + eps);
    mean[r] = mu;
    rstd[r] = rs;
    for (size_t j = 0; j < len; j++) {
      const double h = (xr[j] - mu) * rs;
      yr[j] = (REAL)((w != NULL ? h * w[j] : h) + (b != NULL ? b[j] : 0));
    }
  }
}

/* dx = rstd (gh - mean(gh) - xhat mean(gh xhat)) with gh = g w; dw += sum_rows g xhat; db += sum_rows g.
 * Any of dx, dw, db may be NULL (not needed). */
CLONES
static void P(layer_norm_backward_rows)(size_t rows, size_t len, const REAL *g, const REAL *x, const REAL *w,
                                        const double *mean, const double *rstd, REAL *dx, REAL *dw, REAL *db) {
  for (size_t r = 0; r < rows; r++) {
    const REAL *gr = g + r * len, *xr = x + r * len;
    const double mu = mean[r], rs = rstd[r];
    double mean_gh = 0, mean_gh_xhat = 0;
    for (size_t j = 0; j < len; j++) {
      const double gh = w != NULL ? (double)gr[j] * w[j] : gr[j];
      const double h = (xr[j] - mu) * rs;
      mean_gh += gh;
      mean_gh_xhat += gh * h;
      if (dw != NULL) dw[j] += (REAL)(gr[j] * h);
      if (db != NULL) db[j] += gr[j];
    }
    if (dx == NULL) continue;
    mean_gh /= (double)len;
    mean_gh_xhat /= (double)len;
    REAL *dxr = dx + r * len;
    for (size_t j = 0; j < len; j++) {
      const double gh = w != NULL ? (double)gr[j] * w[j] : gr[j];
      const double h = (xr[j] - mu) * rs;
      dxr[j] = (REAL)(rs * (gh - mean_gh - h * mean_gh_xhat));
    }
  }
}

/* dst (cols x rows) = the transpose of src (rows x cols), both row-major, tile by tile so that the
 * reads and the writes of a tile each stay within a few cache lines per row. */
CLONES
static void P(transpose)(size_t rows, size_t cols, const REAL *src, REAL *dst) {
  const size_t tile = 32;
  for (size_t r0 = 0; r0 < rows; r0 += tile) {
    const size_t r1 = r0 + tile < rows ? r0 + tile : rows;
    for (size_t c0 = 0; c0 < cols; c0 += tile) {
      const size_t c1 = c0 + tile < cols ? c0 + tile : cols;
      for (size_t r = r0; r < r1; r++)
        for (size_t c = c0; c < c1; c++) dst[c * rows + r] = src[r * cols + c];
    }
  }
}
