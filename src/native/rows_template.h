/* Row kernels of the attention softmax and of dropout, instantiated for float and double by
 * cellarium_native.c (REAL, P(name), EXP). Sums run in double for both, as the TypeScript fallback
 * (src/tensor/kernels/rows-ts.ts) does, so the two agree to rounding of the exponential. */

static void P(softmax_rows)(size_t rows, size_t len, REAL *x, const REAL *bias) {
  for (size_t r = 0; r < rows; r++) {
    REAL *row = x + r * len;
    double m = -INFINITY;
    if (bias != NULL) {
      for (size_t j = 0; j < len; j++) {
        row[j] += bias[j];
        if (row[j] > m) m = row[j];
      }
    } else {
      for (size_t j = 0; j < len; j++)
        if (row[j] > m) m = row[j];
    }
    if (m == -INFINITY) m = 0; /* an all -inf row gives NaN, as in torch */
    double total = 0;
    for (size_t j = 0; j < len; j++) {
      const REAL e = EXP((REAL)(row[j] - m));
      row[j] = e;
      total += e;
    }
    const REAL inv = (REAL)(1 / total);
    for (size_t j = 0; j < len; j++) row[j] *= inv;
  }
}

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
