/* scVI's reconstruction term (src/tensor/ops/count-likelihood.ts has the derivation; the TypeScript
 * fallback is src/tensor/kernels/count-nll-ts.ts and must agree with this to rounding):
 *   chi = softmax(logits_i), mu = exp(library_i) chi + relu(additive_i) + eps,
 *   nll_i = -sum_g log NB(x_ig | mu_ig, theta_g + eps) (cellarium-ml's form, Stirling's difference
 *           above theta 200), or -sum_g log Poisson(x_ig | mu_ig) when theta is NULL.
 * The counts are CSR with sorted, unrepeated columns per row; a zero count costs a log1p (no
 * lgamma), so lgamma and digamma run on the non-zeros only. theta is per gene (theta_len = genes)
 * or per cell and gene (rows * genes). The dense per-gene work is float and vectorised (the
 * softmax's exponentials by softmax_expf, log1p by log1p_nonnegative, both about 1 ulp); sums and
 * the non-zeros' terms are double. lgamma(x + 1) of whole counts below 4,096 comes from a table. */

#define NB_STIRLING_THETA 200.0

/* digamma for x > 0: the recurrence up to x >= 6, then the asymptotic series (absolute error below
 * 1e-13, ample for float gradients; the differences digamma(x + t) - digamma(t) need no more). */
static double digamma_positive(double x) {
  double shift = 0;
  while (x < 6) {
    shift -= 1 / x;
    x += 1;
  }
  const double r = 1 / x, r2 = r * r;
  const double series =
      r2 * (1.0 / 12 - r2 * (1.0 / 120 - r2 * (1.0 / 252 - r2 * (1.0 / 240 - r2 * (1.0 / 132)))));
  return shift + log(x) - 0.5 * r - series;
}

#define LGAMMA_TABLE 4096
static double lgamma_table[LGAMMA_TABLE];

/* Fills the table; called once when the addon loads (before any thread can use it). */
static void init_lgamma_table(void) {
  for (int k = 0; k < LGAMMA_TABLE; k++) lgamma_table[k] = lgamma((double)k + 1);
}

/* lgamma(x + 1), x >= 0: log(x!) from the table for whole x below LGAMMA_TABLE. */
static double log_factorial(double x) {
  if (x < LGAMMA_TABLE && x == (double)(int)x) return lgamma_table[(int)x];
  return lgamma(x + 1);
}

/* Counts up to this use the sums below instead of lgamma / digamma differences. */
#define SMALL_COUNT 16

/* delta = lgamma(x + t) - lgamma(t) - x log t: for a whole count x <= SMALL_COUNT it is
 * sum_{k=1}^{x-1} log1p(k / t) (the product (t + 1) ... (t + x - 1) / t^(x - 1)), exact where the
 * lgamma difference cancels; else the lgamma difference. */
static double nb_delta(double x, double t, double lgamma_t, double log_t) {
  if (x <= SMALL_COUNT && x == (double)(int)x) {
    double sum = 0;
    for (int k = 1; k < (int)x; k++) sum += log1p(k / t);
    return sum;
  }
  return lgamma(x + t) - lgamma_t - x * log_t;
}

/* d delta / d t = digamma(x + t) - digamma(t) - x / t = sum_{k=1}^{x-1} (1 / (t + k) - 1 / t) for a
 * whole count x <= SMALL_COUNT; else the digamma difference. */
static double nb_delta_dt(double x, double t, double digamma_t) {
  if (x <= SMALL_COUNT && x == (double)(int)x) {
    double sum = 0;
    for (int k = 1; k < (int)x; k++) sum += 1 / (t + k) - 1 / t;
    return sum;
  }
  return digamma_positive(x + t) - digamma_t - x / t;
}


/* Whether every row's column indices increase strictly inside [0, genes) (canonical CSR). */
static bool count_nll_canonical(size_t rows, size_t genes, const int32_t *indptr, const int32_t *indices) {
  for (size_t i = 0; i < rows; i++) {
    int32_t previous = -1;
    for (int32_t p = indptr[i]; p < indptr[i + 1]; p++) {
      if (indices[p] <= previous || (size_t)indices[p] >= genes) return false;
      previous = indices[p];
    }
  }
  return true;
}

/* The small-count sums of nb_delta (log1p terms) or nb_delta_dt (reciprocal terms) for a per-gene
 * theta, cumulative in x and filled per gene only as far as the batch's counts need: a gene's row
 * holds the value at x = 0 .. SMALL_COUNT, the same additions in the same order as the loops. */
typedef struct {
  double *values;
  /* highest x filled in each row, minus one (calloc's 0: x = 0 and 1, both 0) */
  uint8_t *filled;
  bool reciprocal;
} small_counts_t;

static bool small_counts_init(small_counts_t *table, size_t genes, bool reciprocal) {
  table->values = calloc(genes * (SMALL_COUNT + 1), sizeof(double));
  table->filled = calloc(genes, 1);
  table->reciprocal = reciprocal;
  return table->values != NULL && table->filled != NULL;
}

static void small_counts_free(small_counts_t *table) {
  free(table->values);
  free(table->filled);
}

static double small_counts_at(small_counts_t *table, size_t j, int x, double t) {
  double *row = table->values + j * (SMALL_COUNT + 1);
  for (int k = table->filled[j] + 1; k < x; k++) {
    row[k + 1] = row[k] + (table->reciprocal ? 1 / (t + k) - 1 / t : log1p(k / t));
    table->filled[j] = (uint8_t)k;
  }
  return row[x];
}

/* log x for a finite x >= 1 in float, written so that the compiler can vectorise it (libm's log1pf
 * is one call per element): x = f 2^e with f in [sqrt(1/2), sqrt(2)), log f by Cephes' logf
 * polynomial in f - 1 (about 1 ulp), e ln 2 with ln 2 split in two. */
static inline float log_at_least_one(float x) {
  union {
    float f;
    int32_t i;
  } bits = {x};
  int32_t e = ((bits.i >> 23) & 0xff) - 127;
  bits.i = (bits.i & 0x007fffff) | 0x3f800000;
  float f = bits.f;
  const int32_t big = f > 1.41421356f;
  f = big ? f * 0.5f : f;
  e += big;
  f -= 1.0f;
  const float z = f * f;
  float y = 7.0376836292e-2f;
  y = y * f - 1.1514610310e-1f;
  y = y * f + 1.1676998740e-1f;
  y = y * f - 1.2420140846e-1f;
  y = y * f + 1.4249322787e-1f;
  y = y * f - 1.6668057665e-1f;
  y = y * f + 2.0000714765e-1f;
  y = y * f - 2.4999993993e-1f;
  y = y * f + 3.3333331174e-1f;
  y = y * f * z;
  y += -2.12194440e-4f * (float)e;
  y += -0.5f * z;
  return f + y + 0.693359375f * (float)e;
}

/* log1p(z) for z >= 0 in float: log(1 + z) z / ((1 + z) - 1) recovers the digits that rounding
 * 1 + z loses (Goldberg), and is z itself where 1 + z rounds to 1. */
static inline float log1p_nonnegative(float z) {
  const float u = 1.0f + z;
  const float d = u - 1.0f;
  return d == 0.0f ? z : log_at_least_one(u) * (z / d);
}

/* Each row first as if every count were 0 (dense, vectorised: the NB term t log1p(mu / t), or mu
 * for Poisson), then corrected at the row's non-zeros (CSR, no repeated column in a row). */
CLONES
static void count_nll_forward(size_t rows, size_t genes, const float *logits, const float *log_library,
                              const float *additive, const float *theta, size_t theta_len,
                              const int32_t *indptr, const int32_t *indices, const float *values, double eps,
                              float *chi, float *mu, float *ratio, float *nll) {
  const bool per_cell = theta != NULL && theta_len == rows * genes;
  const float epsf = (float)eps;
  float *t_row = malloc(genes * sizeof(float));
  double *gene_lgamma = NULL, *gene_log = NULL;
  small_counts_t small = {NULL, NULL, false};
  const bool tabled = theta != NULL && !per_cell && small_counts_init(&small, genes, false);
  if (theta != NULL && !per_cell) {
    gene_lgamma = malloc(2 * genes * sizeof(double));
    gene_log = gene_lgamma + genes;
    for (size_t j = 0; j < genes; j++) {
      const double t = (double)theta[j] + eps;
      gene_lgamma[j] = lgamma(t);
      gene_log[j] = log(t);
    }
  }
  for (size_t i = 0; i < rows; i++) {
    const float *u = logits + i * genes;
    float *c = chi + i * genes, *m_row = mu + i * genes;
    float max = -INFINITY;
    for (size_t j = 0; j < genes; j++) max = u[j] > max ? u[j] : max;
    for (size_t j = 0; j < genes; j++) c[j] = softmax_expf(u[j] - max);
    double total = 0;
    for (size_t j = 0; j < genes; j++) total += c[j];
    const float inv = (float)(1 / total), scale = (float)exp((double)log_library[i]);
    const float *a_row = additive == NULL ? NULL : additive + i * genes;
    for (size_t j = 0; j < genes; j++) {
      c[j] *= inv;
      const float a = a_row == NULL ? 0.0f : (a_row[j] > 0.0f ? a_row[j] : 0.0f);
      m_row[j] = scale * c[j] + a + epsf;
    }
    double sum = 0;
    if (theta == NULL) {
      for (size_t j = 0; j < genes; j++) sum += m_row[j];
      for (int32_t p = indptr[i]; p < indptr[i + 1]; p++) {
        const double xv = values[p];
        sum -= xv * log((double)m_row[indices[p]]) - log_factorial(xv);
      }
      nll[i] = (float)sum;
      continue;
    }
    float *r_row = ratio + i * genes;
    for (size_t j = 0; j < genes; j++) t_row[j] = (per_cell ? theta[i * genes + j] : theta[j]) + epsf;
    for (size_t j = 0; j < genes; j++) r_row[j] = log1p_nonnegative(m_row[j] / t_row[j]);
    for (size_t j = 0; j < genes; j++) sum += (double)t_row[j] * r_row[j];
    for (int32_t p = indptr[i]; p < indptr[i + 1]; p++) {
      const size_t j = (size_t)indices[p];
      const double xv = values[p], t = t_row[j], r = r_row[j], m = m_row[j];
      double delta;
      if (t > NB_STIRLING_THETA) delta = (xv + t - 0.5) * log1p(xv / t) - xv;
      else if (tabled && xv <= SMALL_COUNT && xv == (double)(int)xv) delta = small_counts_at(&small, j, (int)xv, t);
      else delta = nb_delta(xv, t, per_cell ? lgamma(t) : gene_lgamma[j], per_cell ? log(t) : gene_log[j]);
      /* the full term replaces the zero-count one, t r */
      sum += -(delta - (xv + t) * r - log_factorial(xv) + xv * log(m)) - t * r;
    }
    nll[i] = (float)sum;
  }
  free(t_row);
  free(gene_lgamma);
  small_counts_free(&small);
}

/* As the forward: every gene's gradient as if its count were 0, then the non-zeros corrected. */
CLONES
static void count_nll_backward(size_t rows, size_t genes, const float *grad, const float *chi, const float *mu,
                               const float *ratio, const float *log_library, const float *additive,
                               const float *theta, size_t theta_len, const int32_t *indptr,
                               const int32_t *indices, const float *values, double eps, float *g_logits,
                               float *g_additive, double *g_theta) {
  const bool per_cell = theta != NULL && theta_len == rows * genes;
  const float epsf = (float)eps;
  float *dm = malloc(genes * sizeof(float));
  float *t_row = malloc(genes * sizeof(float));
  double *gene_digamma = NULL;
  small_counts_t small = {NULL, NULL, true};
  const bool tabled = theta != NULL && !per_cell && g_theta != NULL && small_counts_init(&small, genes, true);
  if (theta != NULL && !per_cell && g_theta != NULL) {
    gene_digamma = malloc(genes * sizeof(double));
    for (size_t j = 0; j < genes; j++) gene_digamma[j] = digamma_positive((double)theta[j] + eps);
  }
  for (size_t i = 0; i < rows; i++) {
    const float gi = grad[i];
    const float *m_row = mu + i * genes;
    if (theta == NULL) {
      for (size_t j = 0; j < genes; j++) dm[j] = gi;
      for (int32_t p = indptr[i]; p < indptr[i + 1]; p++) {
        const size_t j = (size_t)indices[p];
        dm[j] = (float)(gi * (1 - (double)values[p] / m_row[j]));
      }
    } else {
      const float *r_row = ratio + i * genes;
      double *gt_row = g_theta == NULL ? NULL : g_theta + (per_cell ? i * genes : 0);
      for (size_t j = 0; j < genes; j++) t_row[j] = (per_cell ? theta[i * genes + j] : theta[j]) + epsf;
      /* zero count: d nll / d mu = t / (t + mu), d nll / d t = log1p(mu / t) - mu / (t + mu) */
      for (size_t j = 0; j < genes; j++) dm[j] = gi * t_row[j] / (t_row[j] + m_row[j]);
      if (gt_row != NULL)
        for (size_t j = 0; j < genes; j++)
          gt_row[j] += (double)gi * (r_row[j] - m_row[j] / (t_row[j] + m_row[j]));
      for (int32_t p = indptr[i]; p < indptr[i + 1]; p++) {
        const size_t j = (size_t)indices[p];
        const double xv = values[p], t = t_row[j], m = m_row[j];
        /* d nll / d mu = (x + t) / (t + mu) - x / mu */
        dm[j] = (float)(gi * ((xv + t) / (t + m) - xv / m));
        if (gt_row != NULL) {
          /* d nll / d t = log1p(mu / t) - (x + t) mu / (t (t + mu)) - d delta / d t: the zero-count
           * value plus - x mu / (t (t + mu)) - d delta / d t */
          const double d_delta = t > NB_STIRLING_THETA
                                     ? log1p(xv / t) - (xv + t - 0.5) * xv / (t * (t + xv))
                                 : tabled && xv <= SMALL_COUNT && xv == (double)(int)xv
                                     ? small_counts_at(&small, j, (int)xv, t)
                                     : nb_delta_dt(xv, t, per_cell ? digamma_positive(t) : gene_digamma[j]);
          gt_row[j] += gi * (-xv * m / (t * (t + m)) - d_delta);
        }
      }
    }
    if (g_additive != NULL) {
      const float *pre = additive + i * genes;
      float *ga = g_additive + i * genes;
      for (size_t j = 0; j < genes; j++) ga[j] = pre[j] > 0 ? dm[j] : 0;
    }
    if (g_logits != NULL) {
      /* softmax: du = chi exp(library) (dm - sum_k chi_k dm_k) */
      const float *c = chi + i * genes;
      float *gu = g_logits + i * genes;
      const float scale = (float)exp((double)log_library[i]);
      double dot = 0;
      for (size_t j = 0; j < genes; j++) dot += (double)c[j] * dm[j];
      const float d = (float)dot;
      for (size_t j = 0; j < genes; j++) gu[j] = c[j] * scale * (dm[j] - d);
    }
  }
  free(dm);
  free(t_row);
  free(gene_digamma);
  small_counts_free(&small);
}
