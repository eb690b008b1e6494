/* scVI's reconstruction term (src/tensor/ops/count-likelihood.ts has the derivation; the TypeScript
 * fallback is src/tensor/kernels/count-nll-ts.ts and must agree with this to rounding):
 *   chi = softmax(logits_i), mu = exp(library_i) chi + relu(additive_i) + eps,
 *   nll_i = -sum_g log NB(x_ig | mu_ig, theta_g + eps) (cellarium-ml's form, Stirling's difference
 *           above theta 200), or -sum_g log Poisson(x_ig | mu_ig) when theta is NULL.
 * The counts are CSR; a zero count costs a log1p (no lgamma), so lgamma and digamma run on the
 * non-zeros only. theta is per gene (theta_len = genes) or per cell and gene (rows * genes). A row of
 * x is scattered into a dense double scratch row and cleared after. The softmax's exponentials are
 * softmax_expf (vectorised, about 1 ulp of float) and log1p(mu / theta) is log1pf: both are stored
 * as float anyway (chi, ratio); the rest is double. lgamma(x + 1) of whole counts below 4,096 comes
 * from a table. */

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

/* Adds row i of the CSR counts into a zeroed dense row (repeated columns add up, as scipy's). */
static void scatter_row(const int32_t *indptr, const int32_t *indices, const float *values, size_t i, double *row) {
  for (int32_t p = indptr[i]; p < indptr[i + 1]; p++) row[indices[p]] += (double)values[p];
}

/* Returns the index of the first column index outside [0, genes), or nnz when all are inside. */
static size_t count_nll_check(size_t rows, size_t genes, const int32_t *indptr, const int32_t *indices) {
  const size_t nnz = (size_t)indptr[rows];
  for (size_t p = (size_t)indptr[0]; p < nnz; p++)
    if (indices[p] < 0 || (size_t)indices[p] >= genes) return p;
  return nnz;
}

static void count_nll_forward(size_t rows, size_t genes, const float *logits, const float *log_library,
                              const float *additive, const float *theta, size_t theta_len,
                              const int32_t *indptr, const int32_t *indices, const float *values, double eps,
                              float *chi, float *mu, float *ratio, float *nll) {
  const bool per_cell = theta != NULL && theta_len == rows * genes;
  double *x = calloc(genes, sizeof(double));
  double *gene_t = NULL, *gene_lgamma = NULL, *gene_log = NULL;
  if (theta != NULL && !per_cell) {
    gene_t = malloc(3 * genes * sizeof(double));
    gene_lgamma = gene_t + genes;
    gene_log = gene_t + 2 * genes;
    for (size_t j = 0; j < genes; j++) {
      gene_t[j] = (double)theta[j] + eps;
      gene_lgamma[j] = lgamma(gene_t[j]);
      gene_log[j] = log(gene_t[j]);
    }
  }
  for (size_t i = 0; i < rows; i++) {
    const float *u = logits + i * genes;
    float *c = chi + i * genes;
    float *m_row = mu + i * genes;
    float max = -INFINITY;
    for (size_t j = 0; j < genes; j++) max = u[j] > max ? u[j] : max;
    for (size_t j = 0; j < genes; j++) c[j] = softmax_expf(u[j] - max);
    double sums[4] = {0, 0, 0, 0};
    size_t k = 0;
    for (; k + 4 <= genes; k += 4) {
      sums[0] += c[k];
      sums[1] += c[k + 1];
      sums[2] += c[k + 2];
      sums[3] += c[k + 3];
    }
    for (; k < genes; k++) sums[0] += c[k];
    const double total = (sums[0] + sums[1]) + (sums[2] + sums[3]);
    const double inv = 1 / total, scale = exp((double)log_library[i]);
    scatter_row(indptr, indices, values, i, x);
    double sum = 0;
    for (size_t j = 0; j < genes; j++) {
      const float cj = (float)((double)c[j] * inv);
      c[j] = cj;
      const double a = additive == NULL ? 0 : (additive[i * genes + j] > 0 ? additive[i * genes + j] : 0);
      const double m = scale * cj + a + eps;
      m_row[j] = (float)m;
      const double xv = x[j];
      if (theta == NULL) {
        sum += m - (xv == 0 ? 0 : xv * log(m) - log_factorial(xv));
        continue;
      }
      const double t = per_cell ? (double)theta[i * genes + j] + eps : gene_t[j];
      const double r = log1pf((float)(m / t));
      ratio[i * genes + j] = (float)r;
      if (xv == 0) {
        sum += t * r;
        continue;
      }
      double delta;
      if (t > NB_STIRLING_THETA) delta = (xv + t - 0.5) * log1p(xv / t) - xv;
      else delta = nb_delta(xv, t, per_cell ? lgamma(t) : gene_lgamma[j], per_cell ? log(t) : gene_log[j]);
      sum -= delta - (xv + t) * r - log_factorial(xv) + xv * log(m);
    }
    for (int32_t p = indptr[i]; p < indptr[i + 1]; p++) x[indices[p]] = 0;
    nll[i] = (float)sum;
  }
  free(x);
  free(gene_t);
}

static void count_nll_backward(size_t rows, size_t genes, const float *grad, const float *chi, const float *mu,
                               const float *ratio, const float *log_library, const float *additive,
                               const float *theta, size_t theta_len, const int32_t *indptr,
                               const int32_t *indices, const float *values, double eps, float *g_logits,
                               float *g_additive, double *g_theta) {
  const bool per_cell = theta != NULL && theta_len == rows * genes;
  double *x = calloc(genes, sizeof(double));
  double *dm = malloc(genes * sizeof(double));
  double *gene_t = NULL, *gene_digamma = NULL;
  if (theta != NULL && !per_cell) {
    gene_t = malloc(2 * genes * sizeof(double));
    gene_digamma = gene_t + genes;
    for (size_t j = 0; j < genes; j++) {
      gene_t[j] = (double)theta[j] + eps;
      gene_digamma[j] = g_theta == NULL ? 0 : digamma_positive(gene_t[j]);
    }
  }
  for (size_t i = 0; i < rows; i++) {
    const double gi = grad[i];
    const float *m_row = mu + i * genes;
    scatter_row(indptr, indices, values, i, x);
    for (size_t j = 0; j < genes; j++) {
      const double m = m_row[j], xv = x[j];
      if (theta == NULL) {
        dm[j] = gi * (1 - xv / m);
        continue;
      }
      const double t = per_cell ? (double)theta[i * genes + j] + eps : gene_t[j];
      /* d nll / d mu = (x + t) / (t + m) - x / m */
      dm[j] = gi * ((xv + t) / (t + m) - (xv == 0 ? 0 : xv / m));
      if (g_theta != NULL) {
        /* d nll / d t = log1p(m / t) - (x + t) m / (t (t + m)) - d delta / d t */
        double d_delta = 0;
        if (xv != 0) {
          d_delta = t > NB_STIRLING_THETA
                        ? log1p(xv / t) - (xv + t - 0.5) * xv / (t * (t + xv))
                        : nb_delta_dt(xv, t, per_cell ? digamma_positive(t) : gene_digamma[j]);
        }
        g_theta[per_cell ? i * genes + j : j] +=
            gi * ((double)ratio[i * genes + j] - (xv + t) * m / (t * (t + m)) - d_delta);
      }
    }
    for (int32_t p = indptr[i]; p < indptr[i + 1]; p++) x[indices[p]] = 0;
    if (g_additive != NULL) {
      const float *pre = additive + i * genes;
      for (size_t j = 0; j < genes; j++) g_additive[i * genes + j] = pre[j] > 0 ? (float)dm[j] : 0;
    }
    if (g_logits != NULL) {
      /* softmax: du = chi exp(library) (dm - sum_k chi_k dm_k) */
      const float *c = chi + i * genes;
      const double scale = exp((double)log_library[i]);
      double dot = 0;
      for (size_t j = 0; j < genes; j++) dot += (double)c[j] * dm[j];
      for (size_t j = 0; j < genes; j++) g_logits[i * genes + j] = (float)((double)c[j] * scale * (dm[j] - dot));
    }
  }
  free(x);
  free(dm);
  free(gene_t);
}
