/* Optimizer kernels, instantiated for float and double by cellarium_native.c (REAL, P(name)). Each
 * element's arithmetic is in double and rounded once when stored, exactly as the TypeScript rule
 * (src/optim/adam.ts) does, so that both backends step to the same bits. */

/* torch.optim.Adam / AdamW's single-tensor step on n elements (src/optim/adam.ts has the formulas):
 * decay multiplies the parameter first (AdamW's 1 - lr weight_decay, else 1), l2 adds weight_decay p
 * to the gradient (Adam), max_exp_avg_sq is amsgrad's running maximum (NULL without amsgrad). */
CLONES
static void P(adam_update)(size_t n, REAL *param, const REAL *grad, REAL *exp_avg, REAL *exp_avg_sq,
                           REAL *max_exp_avg_sq, double step_size, double bias_correction2_sqrt, double beta1,
                           double beta2, double eps, double decay, double l2) {
  if (max_exp_avg_sq == NULL) {
    /* without amsgrad the loop has no branch, and the compiler vectorises it */
    for (size_t i = 0; i < n; i++) {
      const double p = (double)param[i] * decay;
      const double g = l2 == 0 ? (double)grad[i] : (double)grad[i] + l2 * p;
      exp_avg[i] = (REAL)(beta1 * exp_avg[i] + (1 - beta1) * g);
      exp_avg_sq[i] = (REAL)(beta2 * exp_avg_sq[i] + (1 - beta2) * g * g);
      param[i] = (REAL)(p - step_size * exp_avg[i] / (sqrt((double)exp_avg_sq[i]) / bias_correction2_sqrt + eps));
    }
    return;
  }
  for (size_t i = 0; i < n; i++) {
    const double p = (double)param[i] * decay;
    const double g = l2 == 0 ? (double)grad[i] : (double)grad[i] + l2 * p;
    exp_avg[i] = (REAL)(beta1 * exp_avg[i] + (1 - beta1) * g);
    exp_avg_sq[i] = (REAL)(beta2 * exp_avg_sq[i] + (1 - beta2) * g * g);
    if (exp_avg_sq[i] > max_exp_avg_sq[i]) max_exp_avg_sq[i] = exp_avg_sq[i];
    param[i] = (REAL)(p - step_size * exp_avg[i] / (sqrt((double)max_exp_avg_sq[i]) / bias_correction2_sqrt + eps));
  }
}

/* sum of x_i^2 in double (gradient-norm clipping), over four accumulators. */
CLONES
static double P(sum_squares)(size_t n, const REAL *x) {
  double sums[4] = {0, 0, 0, 0};
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    sums[0] += (double)x[i] * x[i];
    sums[1] += (double)x[i + 1] * x[i + 1];
    sums[2] += (double)x[i + 2] * x[i + 2];
    sums[3] += (double)x[i + 3] * x[i + 3];
  }
  for (; i < n; i++) sums[0] += (double)x[i] * x[i];
  return (sums[0] + sums[1]) + (sums[2] + sums[3]);
}
