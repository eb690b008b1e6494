/* cellarium-ts native kernels: OpenBLAS (CBLAS) and the LAPACK routines inside libopenblas, on the
 * memory of the caller's Float32Array / Float64Array views (napi_get_typedarray_info gives the data
 * pointer already advanced by the view's byteOffset). Matrices are row-major. The TypeScript layer
 * (src/tensor/kernels/native.ts) validates arguments with readable messages first; the checks here
 * only keep a bad call from reading or writing outside the arrays. */
#define NAPI_VERSION 8
#include <cblas.h>
#include <math.h>
#include <node_api.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ERR_LEN 256

/* LAPACK's Fortran symbols (column-major). Character arguments carry a hidden length after the
 * regular arguments in gfortran's calling convention; OpenBLAS's own C versions ignore them. */
#define DECLARE_LAPACK(REAL, p)                                                                       \
  void p##gelqf_(const blasint *m, const blasint *n, REAL *a, const blasint *lda, REAL *tau, REAL *work, \
                 const blasint *lwork, blasint *info);                                                \
  void p##orglq_(const blasint *m, const blasint *n, const blasint *k, REAL *a, const blasint *lda,     \
                 const REAL *tau, REAL *work, const blasint *lwork, blasint *info);                    \
  void p##gesdd_(const char *jobz, const blasint *m, const blasint *n, REAL *a, const blasint *lda,     \
                 REAL *s, REAL *u, const blasint *ldu, REAL *vt, const blasint *ldvt, REAL *work,       \
                 const blasint *lwork, blasint *iwork, blasint *info, size_t jobz_len);               \
  void p##syevd_(const char *jobz, const char *uplo, const blasint *n, REAL *a, const blasint *lda,     \
                 REAL *w, REAL *work, const blasint *lwork, blasint *iwork, const blasint *liwork,      \
                 blasint *info, size_t jobz_len, size_t uplo_len);                                    \
  void p##getrf_(const blasint *m, const blasint *n, REAL *a, const blasint *lda, blasint *ipiv,        \
                 blasint *info);                                                                      \
  void p##getrs_(const char *trans, const blasint *n, const blasint *nrhs, const REAL *a,               \
                 const blasint *lda, const blasint *ipiv, REAL *b, const blasint *ldb, blasint *info,   \
                 size_t trans_len);                                                                   \
  void p##potrf_(const char *uplo, const blasint *n, REAL *a, const blasint *lda, blasint *info,        \
                 size_t uplo_len);

DECLARE_LAPACK(float, s)
DECLARE_LAPACK(double, d)

#define REAL float
#define P(name) s##name
#define PREFIX "s"
#include "lapack_template.h"
#undef REAL
#undef P
#undef PREFIX

#define REAL double
#define P(name) d##name
#define PREFIX "d"
#include "lapack_template.h"
#undef REAL
#undef P
#undef PREFIX

/* exp for float softmax rows, written so that the compiler can vectorise it (libm's expf is one
 * call per element): x = k ln 2 + r with k = round(x / ln 2) by the 1.5 * 2^23 rounding trick and
 * ln 2 split in two (Cody and Waite), exp(r) on |r| <= ln(2)/2 by Cephes' degree-5 minimax
 * polynomial (about 1 ulp), then 2^k put into the exponent bits. Below -87.3 the result would be
 * subnormal: it is 0 (so is -inf's, and a softmax never sees an argument above 0). */
static inline float softmax_expf(float x) {
  const float magic = 12582912.0f;
  const float t = x < -87.33f ? -87.33f : x;
  const float k = (t * 1.44269504088896341f + magic) - magic;
  const float r = (t - k * 0.693359375f) + k * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  union {
    float f;
    int32_t i;
  } scale;
  scale.i = ((int32_t)k + 127) << 23;
  return x < -87.33f ? 0.0f : p * scale.f;
}

/* Element-wise, sparse, optimizer and likelihood kernels get AVX-512 and AVX2 clones chosen at load
 * time on x86-64 (the default build targets plain x86-64, i.e. SSE2). Every clone computes the same
 * bits: binding.gyp turns FMA contraction off (-ffp-contract=off) and nothing reassociates (no
 * -ffast-math); -fno-math-errno lets sqrt vectorise (AdamW steps ~6x faster with AVX-512 than the
 * SSE2 build with errno). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CLONES
#endif

#define REAL float
#define P(name) s##name
#define EXP expf
#define SOFTMAX_EXP softmax_expf
#define ERFC erfcf
#define FABS fabsf
#include "rows_template.h"
#undef REAL
#undef P
#undef EXP
#undef SOFTMAX_EXP
#undef ERFC
#undef FABS

#define REAL double
#define P(name) d##name
#define EXP exp
#define SOFTMAX_EXP exp
#define ERFC erfc
#define FABS fabs
#include "rows_template.h"
#undef REAL
#undef P
#undef EXP
#undef SOFTMAX_EXP
#undef ERFC
#undef FABS

#define REAL float
#define P(name) s##name
#include "optim_template.h"
#include "csr.h"
#undef REAL
#undef P

#define REAL double
#define P(name) d##name
#include "optim_template.h"
#include "csr.h"
#undef REAL
#undef P

#include "values.h"
#include "largest.h"

/* ---- N-API helpers ---- */

static void throw_message(napi_env env, const char *format, ...) {
  char message[ERR_LEN];
  va_list args;
  va_start(args, format);
  vsnprintf(message, sizeof message, format, args);
  va_end(args);
  napi_throw_error(env, "CELLARIUM_NATIVE", message);
}

typedef struct {
  bool is_double;
  void *data;
  size_t length;
} array_t;

typedef struct {
  napi_env env;
  const char *fn;
  napi_value argv[17];
  size_t argc;
  bool failed;
} call_t;

static bool call_init(call_t *call, napi_env env, napi_callback_info info, const char *fn, size_t expected) {
  call->env = env;
  call->fn = fn;
  call->failed = false;
  call->argc = 17;
  if (napi_get_cb_info(env, info, &call->argc, call->argv, NULL, NULL) != napi_ok) {
    throw_message(env, "%s: cannot read the arguments", fn);
    return false;
  }
  if (call->argc != expected) {
    throw_message(env, "%s: expected %zu arguments, got %zu", fn, expected, call->argc);
    return false;
  }
  return true;
}

/* Each reader records the first failure (and throws once); later reads become no-ops. */
static blasint arg_int(call_t *call, size_t i, const char *name) {
  int32_t value = 0;
  if (call->failed) return 0;
  if (napi_get_value_int32(call->env, call->argv[i], &value) != napi_ok || value < 0) {
    throw_message(call->env, "%s: %s must be a non-negative integer", call->fn, name);
    call->failed = true;
  }
  return (blasint)value;
}

static double arg_double(call_t *call, size_t i, const char *name) {
  double value = 0;
  if (call->failed) return 0;
  if (napi_get_value_double(call->env, call->argv[i], &value) != napi_ok) {
    throw_message(call->env, "%s: %s must be a number", call->fn, name);
    call->failed = true;
  }
  return value;
}

static bool arg_bool(call_t *call, size_t i, const char *name) {
  bool value = false;
  if (call->failed) return false;
  if (napi_get_value_bool(call->env, call->argv[i], &value) != napi_ok) {
    throw_message(call->env, "%s: %s must be a boolean", call->fn, name);
    call->failed = true;
  }
  return value;
}

static array_t arg_array(call_t *call, size_t i, const char *name) {
  array_t array = {false, NULL, 0};
  if (call->failed) return array;
  napi_typedarray_type type;
  napi_value buffer;
  size_t offset;
  bool is_typed = false;
  napi_is_typedarray(call->env, call->argv[i], &is_typed);
  if (!is_typed || napi_get_typedarray_info(call->env, call->argv[i], &type, &array.length, &array.data,
                                            &buffer, &offset) != napi_ok ||
      (type != napi_float32_array && type != napi_float64_array)) {
    throw_message(call->env, "%s: %s must be a Float32Array or Float64Array", call->fn, name);
    call->failed = true;
    return array;
  }
  array.is_double = type == napi_float64_array;
  return array;
}

static bool arg_is_null(call_t *call, size_t i) {
  napi_valuetype type = napi_undefined;
  napi_typeof(call->env, call->argv[i], &type);
  return type == napi_null;
}

/* A typed array of `type` with at least `needed` elements (its length in *length when not NULL), or
 * NULL when the argument is null and `nullable`. */
static void *arg_typed(call_t *call, size_t i, const char *name, napi_typedarray_type want, const char *want_name,
                       size_t needed, bool nullable, size_t *length_out) {
  if (call->failed) return NULL;
  if (nullable && arg_is_null(call, i)) return NULL;
  napi_typedarray_type type;
  napi_value buffer;
  size_t offset, length = 0;
  void *data = NULL;
  bool is_typed = false;
  napi_is_typedarray(call->env, call->argv[i], &is_typed);
  if (!is_typed || napi_get_typedarray_info(call->env, call->argv[i], &type, &length, &data, &buffer, &offset) != napi_ok ||
      type != want) {
    throw_message(call->env, "%s: %s must be a %s", call->fn, name, want_name);
    call->failed = true;
    return NULL;
  }
  if (length < needed) {
    throw_message(call->env, "%s: %s has %zu elements, needs %zu", call->fn, name, length, needed);
    call->failed = true;
    return NULL;
  }
  if (length_out != NULL) *length_out = length;
  return data;
}

/* A dropout keep mask. */
static const uint8_t *arg_bytes(call_t *call, size_t i, const char *name, size_t needed, bool nullable) {
  return arg_typed(call, i, name, napi_uint8_array, "Uint8Array", needed, nullable, NULL);
}

/* Fails unless `array` has the dtype of `first` and at least `needed` elements. */
static void require(call_t *call, const array_t *array, const array_t *first, size_t needed, const char *name) {
  if (call->failed) return;
  if (array->is_double != first->is_double) {
    throw_message(call->env, "%s: %s has a different dtype from the first array", call->fn, name);
    call->failed = true;
  } else if (array->length < needed) {
    throw_message(call->env, "%s: %s has %zu elements, needs %zu", call->fn, name, array->length, needed);
    call->failed = true;
  }
}

/* Elements spanned by a row-major rows x cols matrix with leading dimension ld. */
static size_t span(blasint rows, blasint cols, blasint ld) {
  return rows == 0 || cols == 0 ? 0 : (size_t)(rows - 1) * (size_t)ld + (size_t)cols;
}

static void check_ld(call_t *call, blasint ld, blasint cols, const char *name) {
  if (!call->failed && ld < (cols > 1 ? cols : 1)) {
    throw_message(call->env, "%s: %s = %d is below the row width %d", call->fn, name, (int)ld, (int)cols);
    call->failed = true;
  }
}

static napi_value finish(call_t *call, int status, const char *err) {
  if (!call->failed && status != 0) napi_throw_error(call->env, "CELLARIUM_LAPACK", err);
  return NULL;
}

/* ---- BLAS ---- */

typedef struct {
  bool trans_a, trans_b;
  blasint m, n, k, lda, ldb, ldc;
  double alpha, beta;
  array_t a, b, c;
} gemm_args_t;

/* Reads transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc. gemmBatched has a stride after
 * each leading dimension (stride_extra = 1), read by the caller. */
static void read_gemm(call_t *call, gemm_args_t *g, size_t stride_extra) {
  size_t i = 0;
  g->trans_a = arg_bool(call, i++, "transA");
  g->trans_b = arg_bool(call, i++, "transB");
  g->m = arg_int(call, i++, "m");
  g->n = arg_int(call, i++, "n");
  g->k = arg_int(call, i++, "k");
  g->alpha = arg_double(call, i++, "alpha");
  g->a = arg_array(call, i++, "a");
  g->lda = arg_int(call, i++, "lda");
  i += stride_extra;
  g->b = arg_array(call, i++, "b");
  g->ldb = arg_int(call, i++, "ldb");
  i += stride_extra;
  g->beta = arg_double(call, i++, "beta");
  g->c = arg_array(call, i++, "c");
  g->ldc = arg_int(call, i++, "ldc");
}

static void run_gemm(const gemm_args_t *g, size_t offset_a, size_t offset_b, size_t offset_c) {
  const enum CBLAS_TRANSPOSE ta = g->trans_a ? CblasTrans : CblasNoTrans;
  const enum CBLAS_TRANSPOSE tb = g->trans_b ? CblasTrans : CblasNoTrans;
  if (g->a.is_double) {
    cblas_dgemm(CblasRowMajor, ta, tb, g->m, g->n, g->k, g->alpha, (const double *)g->a.data + offset_a, g->lda,
                (const double *)g->b.data + offset_b, g->ldb, g->beta, (double *)g->c.data + offset_c, g->ldc);
  } else {
    cblas_sgemm(CblasRowMajor, ta, tb, g->m, g->n, g->k, (float)g->alpha, (const float *)g->a.data + offset_a,
                g->lda, (const float *)g->b.data + offset_b, g->ldb, (float)g->beta,
                (float *)g->c.data + offset_c, g->ldc);
  }
}

/* Checks the shapes of one product and returns the elements spanned by A, B and C. */
static void check_gemm(call_t *call, const gemm_args_t *g, size_t spans[3]) {
  const blasint a_rows = g->trans_a ? g->k : g->m, a_cols = g->trans_a ? g->m : g->k;
  const blasint b_rows = g->trans_b ? g->n : g->k, b_cols = g->trans_b ? g->k : g->n;
  check_ld(call, g->lda, a_cols, "lda");
  check_ld(call, g->ldb, b_cols, "ldb");
  check_ld(call, g->ldc, g->n, "ldc");
  spans[0] = span(a_rows, a_cols, g->lda);
  spans[1] = span(b_rows, b_cols, g->ldb);
  spans[2] = span(g->m, g->n, g->ldc);
}

static bool gemm_is_empty(const gemm_args_t *g) { return g->m == 0 || g->n == 0; }

static napi_value gemm(napi_env env, napi_callback_info info) {
  call_t call;
  if (!call_init(&call, env, info, "gemm", 13)) return NULL;
  gemm_args_t g;
  read_gemm(&call, &g, 0);
  size_t spans[3];
  check_gemm(&call, &g, spans);
  require(&call, &g.a, &g.a, g.k == 0 ? 0 : spans[0], "a");
  require(&call, &g.b, &g.a, g.k == 0 ? 0 : spans[1], "b");
  require(&call, &g.c, &g.a, spans[2], "c");
  if (!call.failed && !gemm_is_empty(&g)) run_gemm(&g, 0, 0, 0);
  return NULL;
}

static napi_value gemm_batched(napi_env env, napi_callback_info info) {
  call_t call;
  if (!call_init(&call, env, info, "gemmBatched", 17)) return NULL;
  gemm_args_t g;
  read_gemm(&call, &g, 1);
  const blasint stride_a = arg_int(&call, 8, "strideA");
  const blasint stride_b = arg_int(&call, 11, "strideB");
  const blasint stride_c = arg_int(&call, 15, "strideC");
  const blasint batch = arg_int(&call, 16, "batch");
  size_t spans[3];
  check_gemm(&call, &g, spans);
  /* The last product of the batch reaches furthest. */
  const size_t last = batch == 0 ? 0 : (size_t)(batch - 1);
  const bool reads = batch > 0 && g.k > 0 && !gemm_is_empty(&g);
  require(&call, &g.a, &g.a, reads ? last * (size_t)stride_a + spans[0] : 0, "a");
  require(&call, &g.b, &g.a, reads ? last * (size_t)stride_b + spans[1] : 0, "b");
  require(&call, &g.c, &g.a, batch > 0 && !gemm_is_empty(&g) ? last * (size_t)stride_c + spans[2] : 0, "c");
  if (call.failed || gemm_is_empty(&g)) return NULL;
  for (blasint i = 0; i < batch; i++) {
    run_gemm(&g, (size_t)i * (size_t)stride_a, (size_t)i * (size_t)stride_b, (size_t)i * (size_t)stride_c);
  }
  return NULL;
}

/* ---- LAPACK ---- */

static napi_value qr(napi_env env, napi_callback_info info) {
  call_t call;
  if (!call_init(&call, env, info, "qr", 5)) return NULL;
  const blasint m = arg_int(&call, 0, "m"), n = arg_int(&call, 1, "n");
  const array_t a = arg_array(&call, 2, "a"), q = arg_array(&call, 3, "q"), r = arg_array(&call, 4, "r");
  const size_t k = (size_t)(m < n ? m : n);
  require(&call, &a, &a, (size_t)m * (size_t)n, "a");
  require(&call, &q, &a, (size_t)m * k, "q");
  require(&call, &r, &a, k * (size_t)n, "r");
  if (call.failed) return NULL;
  char err[ERR_LEN];
  const int status = a.is_double ? dqr_rowmajor(m, n, a.data, q.data, r.data, err)
                                 : sqr_rowmajor(m, n, a.data, q.data, r.data, err);
  return finish(&call, status, err);
}

static napi_value svd(napi_env env, napi_callback_info info) {
  call_t call;
  if (!call_init(&call, env, info, "svd", 6)) return NULL;
  const blasint m = arg_int(&call, 0, "m"), n = arg_int(&call, 1, "n");
  const array_t a = arg_array(&call, 2, "a"), s = arg_array(&call, 4, "s");
  /* u and vt are both null when only the singular values are wanted. */
  const bool values_only = arg_is_null(&call, 3) && arg_is_null(&call, 5);
  const array_t u = values_only ? a : arg_array(&call, 3, "u");
  const array_t vt = values_only ? a : arg_array(&call, 5, "vt");
  const size_t k = (size_t)(m < n ? m : n);
  require(&call, &a, &a, (size_t)m * (size_t)n, "a");
  require(&call, &s, &a, k, "s");
  if (!values_only) {
    require(&call, &u, &a, (size_t)m * k, "u");
    require(&call, &vt, &a, k * (size_t)n, "vt");
  }
  if (call.failed) return NULL;
  void *u_data = values_only ? NULL : u.data, *vt_data = values_only ? NULL : vt.data;
  char err[ERR_LEN];
  const int status = a.is_double ? dsvd_rowmajor(m, n, a.data, u_data, s.data, vt_data, err)
                                 : ssvd_rowmajor(m, n, a.data, u_data, s.data, vt_data, err);
  return finish(&call, status, err);
}

static napi_value eigh(napi_env env, napi_callback_info info) {
  call_t call;
  if (!call_init(&call, env, info, "eigh", 4)) return NULL;
  const blasint n = arg_int(&call, 0, "n");
  const array_t a = arg_array(&call, 1, "a"), w = arg_array(&call, 2, "w"), v = arg_array(&call, 3, "v");
  require(&call, &a, &a, (size_t)n * (size_t)n, "a");
  require(&call, &w, &a, (size_t)n, "w");
  require(&call, &v, &a, (size_t)n * (size_t)n, "v");
  if (call.failed) return NULL;
  char err[ERR_LEN];
  const int status =
      a.is_double ? deigh_rowmajor(n, a.data, w.data, v.data, err) : seigh_rowmajor(n, a.data, w.data, v.data, err);
  return finish(&call, status, err);
}

static napi_value solve(napi_env env, napi_callback_info info) {
  call_t call;
  if (!call_init(&call, env, info, "solve", 5)) return NULL;
  const blasint n = arg_int(&call, 0, "n"), nrhs = arg_int(&call, 1, "nrhs");
  const array_t a = arg_array(&call, 2, "a"), b = arg_array(&call, 3, "b"), x = arg_array(&call, 4, "x");
  require(&call, &a, &a, (size_t)n * (size_t)n, "a");
  require(&call, &b, &a, (size_t)n * (size_t)nrhs, "b");
  require(&call, &x, &a, (size_t)n * (size_t)nrhs, "x");
  if (call.failed) return NULL;
  char err[ERR_LEN];
  const int status = a.is_double ? dsolve_rowmajor(n, nrhs, a.data, b.data, x.data, err)
                                 : ssolve_rowmajor(n, nrhs, a.data, b.data, x.data, err);
  return finish(&call, status, err);
}

static napi_value cholesky(napi_env env, napi_callback_info info) {
  call_t call;
  if (!call_init(&call, env, info, "cholesky", 3)) return NULL;
  const blasint n = arg_int(&call, 0, "n");
  const array_t a = arg_array(&call, 1, "a"), l = arg_array(&call, 2, "l");
  require(&call, &a, &a, (size_t)n * (size_t)n, "a");
  require(&call, &l, &a, (size_t)n * (size_t)n, "l");
  if (call.failed) return NULL;
  char err[ERR_LEN];
  const int status =
      a.is_double ? dcholesky_rowmajor(n, a.data, l.data, err) : scholesky_rowmajor(n, a.data, l.data, err);
  return finish(&call, status, err);
}

/* ---- Row kernels (attention softmax, dropout) ---- */

static napi_value softmax_rows(napi_env env, napi_callback_info info) {
  call_t call;
  if (!call_init(&call, env, info, "softmaxRows", 4)) return NULL;
  const size_t rows = (size_t)arg_int(&call, 0, "rows"), len = (size_t)arg_int(&call, 1, "len");
  const array_t x = arg_array(&call, 2, "x");
  const bool has_bias = !call.failed && !arg_is_null(&call, 3);
  const array_t bias = has_bias ? arg_array(&call, 3, "bias") : x;
  require(&call, &x, &x, rows * len, "x");
  if (has_bias) require(&call, &bias, &x, len, "bias");
  if (call.failed) return NULL;
  if (x.is_double) dsoftmax_rows(rows, len, x.data, has_bias ? bias.data : NULL);
  else ssoftmax_rows(rows, len, x.data, has_bias ? bias.data : NULL);
  return NULL;
}

static napi_value softmax_backward_rows(napi_env env, napi_callback_info info) {
  call_t call;
  if (!call_init(&call, env, info, "softmaxBackwardRows", 6)) return NULL;
  const size_t rows = (size_t)arg_int(&call, 0, "rows"), len = (size_t)arg_int(&call, 1, "len");
  const array_t p = arg_array(&call, 2, "p"), g = arg_array(&call, 3, "g");
  const uint8_t *keep = arg_bytes(&call, 4, "keep", rows * len, true);
  const double keep_scale = arg_double(&call, 5, "keepScale");
  require(&call, &p, &p, rows * len, "p");
  require(&call, &g, &p, rows * len, "g");
  if (call.failed) return NULL;
  if (p.is_double) dsoftmax_backward_rows(rows, len, p.data, g.data, keep, keep_scale);
  else ssoftmax_backward_rows(rows, len, p.data, g.data, keep, keep_scale);
  return NULL;
}

static napi_value masked_scale(napi_env env, napi_callback_info info) {
  call_t call;
  if (!call_init(&call, env, info, "maskedScale", 5)) return NULL;
  const size_t n = (size_t)arg_int(&call, 0, "n");
  const array_t src = arg_array(&call, 1, "src");
  const uint8_t *keep = arg_bytes(&call, 2, "keep", n, false);
  const double scale = arg_double(&call, 3, "scale");
  const array_t dst = arg_array(&call, 4, "dst");
  require(&call, &src, &src, n, "src");
  require(&call, &dst, &src, n, "dst");
  if (call.failed) return NULL;
  if (src.is_double) dmasked_scale(n, src.data, keep, scale, dst.data);
  else smasked_scale(n, src.data, keep, scale, dst.data);
  return NULL;
}

static napi_value transpose_napi(napi_env env, napi_callback_info info) {
  call_t call;
  if (!call_init(&call, env, info, "transpose", 4)) return NULL;
  const size_t rows = (size_t)arg_int(&call, 0, "rows"), cols = (size_t)arg_int(&call, 1, "cols");
  const array_t src = arg_array(&call, 2, "src"), dst = arg_array(&call, 3, "dst");
  require(&call, &src, &src, rows * cols, "src");
  require(&call, &dst, &src, rows * cols, "dst");
  if (call.failed) return NULL;
  if (src.is_double) dtranspose(rows, cols, src.data, dst.data);
  else stranspose(rows, cols, src.data, dst.data);
  return NULL;
}

static napi_value gelu(napi_env env, napi_callback_info info) {
  call_t call;
  if (!call_init(&call, env, info, "gelu", 3)) return NULL;
  const size_t n = (size_t)arg_int(&call, 0, "n");
  const array_t x = arg_array(&call, 1, "x"), y = arg_array(&call, 2, "y");
  require(&call, &x, &x, n, "x");
  require(&call, &y, &x, n, "y");
  if (call.failed) return NULL;
  if (x.is_double) dgelu(n, x.data, y.data);
  else sgelu(n, x.data, y.data);
  return NULL;
}

static napi_value gelu_backward(napi_env env, napi_callback_info info) {
  call_t call;
  if (!call_init(&call, env, info, "geluBackward", 5)) return NULL;
  const size_t n = (size_t)arg_int(&call, 0, "n");
  const array_t g = arg_array(&call, 1, "g"), x = arg_array(&call, 2, "x"), y = arg_array(&call, 3, "y");
  const array_t dx = arg_array(&call, 4, "dx");
  require(&call, &g, &g, n, "g");
  require(&call, &x, &g, n, "x");
  require(&call, &y, &g, n, "y");
  require(&call, &dx, &g, n, "dx");
  if (call.failed) return NULL;
  if (g.is_double) dgelu_backward(n, g.data, x.data, y.data, dx.data);
  else sgelu_backward(n, g.data, x.data, y.data, dx.data);
  return NULL;
}

/* An optional float array argument of x's dtype with at least `needed` elements: its data, or NULL. */
static void *arg_optional_like(call_t *call, size_t i, const char *name, const array_t *x, size_t needed) {
  if (call->failed || arg_is_null(call, i)) return NULL;
  const array_t a = arg_array(call, i, name);
  require(call, &a, x, needed, name);
  return call->failed ? NULL : a.data;
}

static napi_value layer_norm_rows(napi_env env, napi_callback_info info) {
  call_t call;
  if (!call_init(&call, env, info, "layerNormRows", 9)) return NULL;
  const size_t rows = (size_t)arg_int(&call, 0, "rows"), len = (size_t)arg_int(&call, 1, "len");
  const array_t x = arg_array(&call, 2, "x");
  require(&call, &x, &x, rows * len, "x");
  const void *w = arg_optional_like(&call, 3, "weight", &x, len);
  const void *b = arg_optional_like(&call, 4, "bias", &x, len);
  const double eps = arg_double(&call, 5, "eps");
  const array_t y = arg_array(&call, 6, "y");
  require(&call, &y, &x, rows * len, "y");
  double *mean = arg_typed(&call, 7, "mean", napi_float64_array, "Float64Array", rows, false, NULL);
  double *rstd = arg_typed(&call, 8, "rstd", napi_float64_array, "Float64Array", rows, false, NULL);
  if (call.failed) return NULL;
  if (x.is_double) dlayer_norm_rows(rows, len, x.data, w, b, eps, y.data, mean, rstd);
  else slayer_norm_rows(rows, len, x.data, w, b, eps, y.data, mean, rstd);
  return NULL;
}

static napi_value layer_norm_backward_rows(napi_env env, napi_callback_info info) {
  call_t call;
  if (!call_init(&call, env, info, "layerNormBackwardRows", 10)) return NULL;
  const size_t rows = (size_t)arg_int(&call, 0, "rows"), len = (size_t)arg_int(&call, 1, "len");
  const array_t g = arg_array(&call, 2, "g"), x = arg_array(&call, 3, "x");
  require(&call, &g, &g, rows * len, "g");
  require(&call, &x, &g, rows * len, "x");
  const void *w = arg_optional_like(&call, 4, "weight", &g, len);
  const double *mean = arg_typed(&call, 5, "mean", napi_float64_array, "Float64Array", rows, false, NULL);
  const double *rstd = arg_typed(&call, 6, "rstd", napi_float64_array, "Float64Array", rows, false, NULL);
  void *dx = arg_optional_like(&call, 7, "dx", &g, rows * len);
  void *dw = arg_optional_like(&call, 8, "dw", &g, len);
  void *db = arg_optional_like(&call, 9, "db", &g, len);
  if (call.failed) return NULL;
  if (g.is_double) dlayer_norm_backward_rows(rows, len, g.data, x.data, w, mean, rstd, dx, dw, db);
  else slayer_norm_backward_rows(rows, len, g.data, x.data, w, mean, rstd, dx, dw, db);
  return NULL;
}

/* ---- Philox4x32-10 (src/tensor/kernels/philox-ts.ts is the reference) ---- */

static void philox_blocks_c(const uint32_t *key, uint32_t *counter, uint32_t *out, size_t blocks) {
  for (size_t b = 0; b < blocks; b++) {
    for (int w = 0; w < 4; w++)
      if (++counter[w] != 0) break;
    uint32_t c0 = counter[0], c1 = counter[1], c2 = counter[2], c3 = counter[3], k0 = key[0], k1 = key[1];
    for (int round = 0; round < 10; round++) {
      const uint64_t p0 = (uint64_t)0xd2511f53u * c0, p1 = (uint64_t)0xcd9e8d57u * c2;
      c0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
      c1 = (uint32_t)p1;
      c2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
      c3 = (uint32_t)p0;
      k0 += 0x9e3779b9u;
      k1 += 0xbb67ae85u;
    }
    out[4 * b] = c0;
    out[4 * b + 1] = c1;
    out[4 * b + 2] = c2;
    out[4 * b + 3] = c3;
  }
}

static napi_value philox_blocks(napi_env env, napi_callback_info info) {
  call_t call;
  if (!call_init(&call, env, info, "philoxBlocks", 3)) return NULL;
  size_t length = 0;
  const uint32_t *key = arg_typed(&call, 0, "key", napi_uint32_array, "Uint32Array", 2, false, NULL);
  uint32_t *counter = arg_typed(&call, 1, "counter", napi_uint32_array, "Uint32Array", 4, false, NULL);
  uint32_t *out = arg_typed(&call, 2, "out", napi_uint32_array, "Uint32Array", 0, false, &length);
  if (call.failed) return NULL;
  philox_blocks_c(key, counter, out, length / 4);
  return NULL;
}

static napi_value dropout_keep(napi_env env, napi_callback_info info) {
  call_t call;
  if (!call_init(&call, env, info, "dropoutKeep", 4)) return NULL;
  const size_t n = (size_t)arg_int(&call, 0, "n");
  const uint32_t *words = arg_typed(&call, 1, "words", napi_uint32_array, "Uint32Array", (n + 1) / 2, false, NULL);
  const uint32_t threshold = (uint32_t)arg_int(&call, 2, "threshold");
  uint8_t *keep = arg_typed(&call, 3, "keep", napi_uint8_array, "Uint8Array", n, false, NULL);
  if (call.failed) return NULL;
  for (size_t i = 0; i < n; i++) {
    const uint32_t half = i & 1 ? words[i >> 1] >> 16 : words[i >> 1] & 0xffffu;
    keep[i] = half >= threshold;
  }
  return NULL;
}

/* ---- Values of a batch ---- */

static float *arg_float32(call_t *call, size_t i, const char *name, size_t needed) {
  return arg_typed(call, i, name, napi_float32_array, "Float32Array", needed, false, NULL);
}

/* Fails unless ptr (rows + 1 row pointers) is non-decreasing from 0 and ends at or below limit, so
 * that every row it delimits lies inside arrays of limit elements. */
static void check_row_ptr(call_t *call, const char *name, const int32_t *ptr, size_t rows, size_t limit) {
  if (call->failed) return;
  for (size_t i = 0; i < rows; i++) {
    if (ptr[i] < 0 || ptr[i + 1] < ptr[i] || (size_t)ptr[i + 1] > limit) {
      throw_message(call->env, "%s: %s is not non-decreasing from 0 within the values at row %zu", call->fn, name, i);
      call->failed = true;
      return;
    }
  }
}

static napi_value normalize_rows_napi(napi_env env, napi_callback_info info) {
  call_t call;
  if (!call_init(&call, env, info, "normalizeRows", 8)) return NULL;
  const size_t rows = (size_t)arg_int(&call, 0, "rows");
  const int32_t *row_ptr = arg_typed(&call, 1, "rowPtr", napi_int32_array, "Int32Array", rows + 1, true, NULL);
  const size_t len = (size_t)arg_int(&call, 2, "rowLen");
  if (call.failed) return NULL;
  size_t n = rows * len;
  if (row_ptr != NULL) {
    /* The rows must lie inside x and y, whose lengths are then required to cover them. */
    check_row_ptr(&call, "rowPtr", row_ptr, rows, SIZE_MAX);
    if (call.failed) return NULL;
    n = rows == 0 ? 0 : (size_t)row_ptr[rows];
  }
  const float *x = arg_float32(&call, 3, "x", n);
  const double target = arg_double(&call, 4, "target");
  const double eps = arg_double(&call, 5, "eps");
  const float *totals = arg_typed(&call, 6, "totals", napi_float32_array, "Float32Array", rows, true, NULL);
  float *y = arg_float32(&call, 7, "y", n);
  if (call.failed) return NULL;
  napi_value result;
  napi_create_double(env, (double)normalize_rows(rows, row_ptr, len, x, (float)target, (float)eps, totals, y),
                     &result);
  return result;
}

static napi_value log1p_napi(napi_env env, napi_callback_info info) {
  call_t call;
  if (!call_init(&call, env, info, "log1p", 3)) return NULL;
  const size_t n = (size_t)arg_int(&call, 0, "n");
  const float *x = arg_float32(&call, 1, "x", n);
  float *y = arg_float32(&call, 2, "y", n);
  if (call.failed) return NULL;
  napi_value result;
  napi_create_double(env, (double)log1p_values(n, x, y), &result);
  return result;
}

static napi_value find_bad_value_napi(napi_env env, napi_callback_info info) {
  call_t call;
  if (!call_init(&call, env, info, "findBadValue", 4)) return NULL;
  const size_t n = (size_t)arg_int(&call, 0, "n");
  const float *x = arg_float32(&call, 1, "x", n);
  const bool nonnegative = arg_bool(&call, 2, "nonnegative");
  float *copy_to = arg_typed(&call, 3, "copyTo", napi_float32_array, "Float32Array", n, true, NULL);
  if (call.failed) return NULL;
  napi_value result;
  napi_create_double(env, (double)find_bad_value(n, x, nonnegative, copy_to), &result);
  return result;
}

static napi_value first_non_integer_napi(napi_env env, napi_callback_info info) {
  call_t call;
  if (!call_init(&call, env, info, "firstNonInteger", 2)) return NULL;
  const size_t n = (size_t)arg_int(&call, 0, "n");
  const float *x = arg_float32(&call, 1, "x", n);
  if (call.failed) return NULL;
  napi_value result;
  napi_create_double(env, (double)first_non_integer(n, x), &result);
  return result;
}

static napi_value find_bad_index_napi(napi_env env, napi_callback_info info) {
  call_t call;
  if (!call_init(&call, env, info, "findBadIndex", 5)) return NULL;
  const size_t rows = (size_t)arg_int(&call, 0, "rows");
  const int32_t *indptr = arg_typed(&call, 1, "indptr", napi_int32_array, "Int32Array", rows + 1, false, NULL);
  size_t n_indices = 0;
  const int32_t *indices = arg_typed(&call, 2, "indices", napi_int32_array, "Int32Array", 0, false, &n_indices);
  const size_t cols = (size_t)arg_int(&call, 3, "cols");
  check_row_ptr(&call, "indptr", indptr, rows, n_indices);
  if (call.failed) return NULL;
  const size_t nnz = rows == 0 ? 0 : (size_t)indptr[rows];
  int32_t *copy_to = arg_typed(&call, 4, "copyTo", napi_int32_array, "Int32Array", nnz, true, NULL);
  if (call.failed) return NULL;
  napi_value result;
  napi_create_double(env, (double)find_bad_index(rows, indptr, indices, cols, copy_to), &result);
  return result;
}

static napi_value csr_column_moments_napi(napi_env env, napi_callback_info info) {
  call_t call;
  if (!call_init(&call, env, info, "csrColumnMoments", 4)) return NULL;
  size_t nnz = 0, n_moments = 0;
  const int32_t *indices = arg_typed(&call, 0, "indices", napi_int32_array, "Int32Array", 0, false, &nnz);
  const float *values = arg_float32(&call, 1, "values", nnz);
  double *moments = arg_typed(&call, 3, "moments", napi_float64_array, "Float64Array", 0, false, &n_moments);
  const size_t n_genes = n_moments / 3;
  const double *shift = arg_typed(&call, 2, "shift", napi_float64_array, "Float64Array", n_genes, true, NULL);
  if (call.failed) return NULL;
  const size_t stop = csr_column_moments(nnz, indices, values, n_genes, shift, moments);
  napi_value result;
  napi_create_double(env, (double)stop, &result);
  return result;
}

static napi_value keep_largest_napi(napi_env env, napi_callback_info info) {
  call_t call;
  if (!call_init(&call, env, info, "keepLargest", 8)) return NULL;
  size_t nnz = 0;
  const int32_t *indices = arg_typed(&call, 0, "indices", napi_int32_array, "Int32Array", 0, false, &nnz);
  const float *values = arg_float32(&call, 1, "values", nnz);
  const size_t cols = (size_t)arg_int(&call, 2, "cols");
  const size_t base = (size_t)arg_int(&call, 3, "base");
  const size_t kept = (size_t)arg_int(&call, 4, "kept");
  float *minima = arg_float32(&call, 5, "minima", base + cols);
  float *heaps = arg_float32(&call, 6, "heaps", (base + cols) * kept);
  double *moments = arg_typed(&call, 7, "moments", napi_float64_array, "Float64Array", 3 * cols, true, NULL);
  if (call.failed) return NULL;
  napi_value result;
  napi_create_double(env, (double)keep_largest(nnz, indices, values, cols, base, kept, minima, heaps, moments),
                     &result);
  return result;
}

/* ---- Optimizers ---- */

/* adamUpdate(param, grad, expAvg, expAvgSq, maxExpAvgSq, stepSize, biasCorrection2Sqrt, beta1, beta2,
 * eps, decay, l2): n is param's length. */
static napi_value adam_update_napi(napi_env env, napi_callback_info info) {
  call_t call;
  if (!call_init(&call, env, info, "adamUpdate", 12)) return NULL;
  const array_t param = arg_array(&call, 0, "param"), grad = arg_array(&call, 1, "grad");
  const array_t exp_avg = arg_array(&call, 2, "expAvg"), exp_avg_sq = arg_array(&call, 3, "expAvgSq");
  array_t max_sq = {false, NULL, 0};
  const bool amsgrad = !arg_is_null(&call, 4);
  if (amsgrad) max_sq = arg_array(&call, 4, "maxExpAvgSq");
  const double step_size = arg_double(&call, 5, "stepSize"), correction = arg_double(&call, 6, "biasCorrection2Sqrt");
  const double beta1 = arg_double(&call, 7, "beta1"), beta2 = arg_double(&call, 8, "beta2");
  const double eps = arg_double(&call, 9, "eps"), decay = arg_double(&call, 10, "decay"), l2 = arg_double(&call, 11, "l2");
  const size_t n = param.length;
  require(&call, &param, &param, n, "param");
  require(&call, &grad, &param, n, "grad");
  require(&call, &exp_avg, &param, n, "expAvg");
  require(&call, &exp_avg_sq, &param, n, "expAvgSq");
  if (amsgrad) require(&call, &max_sq, &param, n, "maxExpAvgSq");
  if (call.failed) return NULL;
  if (param.is_double)
    dadam_update(n, param.data, grad.data, exp_avg.data, exp_avg_sq.data, max_sq.data, step_size, correction, beta1,
                 beta2, eps, decay, l2);
  else
    sadam_update(n, param.data, grad.data, exp_avg.data, exp_avg_sq.data, max_sq.data, step_size, correction, beta1,
                 beta2, eps, decay, l2);
  return NULL;
}

static napi_value sum_squares_napi(napi_env env, napi_callback_info info) {
  call_t call;
  if (!call_init(&call, env, info, "sumSquares", 2)) return NULL;
  const size_t n = (size_t)arg_int(&call, 0, "n");
  const array_t x = arg_array(&call, 1, "x");
  require(&call, &x, &x, n, "x");
  if (call.failed) return NULL;
  napi_value result;
  napi_create_double(env, x.is_double ? dsum_squares(n, x.data) : ssum_squares(n, x.data), &result);
  return result;
}

/* ---- scVI's reconstruction term ---- */

#include "count_nll.h"

/* The arguments both directions share: rows, genes (0, 1), then at `at` logLibrary, additive,
 * theta, indptr, indices, values, eps; the CSR is checked (row pointers and column indices). */
typedef struct {
  size_t rows, genes, theta_len;
  const float *log_library, *additive, *theta, *values;
  const int32_t *indptr, *indices;
  double eps;
} count_nll_args_t;

static bool count_nll_args(call_t *call, size_t at, count_nll_args_t *a) {
  a->rows = (size_t)arg_int(call, 0, "rows");
  a->genes = (size_t)arg_int(call, 1, "genes");
  const size_t cells = a->rows * a->genes;
  a->log_library = arg_float32(call, at, "logLibrary", a->rows);
  a->additive = arg_typed(call, at + 1, "additive", napi_float32_array, "Float32Array", cells, true, NULL);
  a->theta_len = 0;
  a->theta = arg_typed(call, at + 2, "theta", napi_float32_array, "Float32Array", a->genes, true, &a->theta_len);
  if (a->theta != NULL && a->theta_len != a->genes && a->theta_len != cells && !call->failed) {
    throw_message(call->env, "%s: theta must have genes or rows x genes elements, got %zu", call->fn, a->theta_len);
    call->failed = true;
  }
  a->indptr = arg_typed(call, at + 3, "indptr", napi_int32_array, "Int32Array", a->rows + 1, false, NULL);
  size_t n_indices = 0, n_values = 0;
  a->indices = arg_typed(call, at + 4, "indices", napi_int32_array, "Int32Array", 0, false, &n_indices);
  a->values = arg_typed(call, at + 5, "values", napi_float32_array, "Float32Array", 0, false, &n_values);
  a->eps = arg_double(call, at + 6, "eps");
  check_row_ptr(call, "indptr", a->indptr, a->rows, n_indices < n_values ? n_indices : n_values);
  if (!call->failed && !count_nll_canonical(a->rows, a->genes, a->indptr, a->indices)) {
    throw_message(call->env, "%s: a row's column indices do not increase strictly inside [0, %zu)", call->fn, a->genes);
    call->failed = true;
  }
  return !call->failed;
}

/* countNllForward(rows, genes, logits, logLibrary, additive, theta, indptr, indices, values, eps, chi, mu,
 * ratio, nll) */
static napi_value count_nll_forward_napi(napi_env env, napi_callback_info info) {
  call_t call;
  if (!call_init(&call, env, info, "countNllForward", 14)) return NULL;
  count_nll_args_t a;
  if (!count_nll_args(&call, 3, &a)) return NULL;
  const size_t cells = a.rows * a.genes;
  const float *logits = arg_float32(&call, 2, "logits", cells);
  float *chi = arg_float32(&call, 10, "chi", cells);
  float *mu = arg_float32(&call, 11, "mu", cells);
  float *ratio = arg_typed(&call, 12, "ratio", napi_float32_array, "Float32Array", cells, a.theta == NULL, NULL);
  float *nll = arg_float32(&call, 13, "nll", a.rows);
  if (call.failed) return NULL;
  count_nll_forward(a.rows, a.genes, logits, a.log_library, a.additive, a.theta, a.theta_len, a.indptr, a.indices,
                    a.values, a.eps, chi, mu, ratio, nll);
  return NULL;
}

/* countNllBackward(rows, genes, grad, logLibrary, additive, theta, indptr, indices, values, eps, chi, mu,
 * ratio, gLogits, gAdditive, gTheta) */
static napi_value count_nll_backward_napi(napi_env env, napi_callback_info info) {
  call_t call;
  if (!call_init(&call, env, info, "countNllBackward", 16)) return NULL;
  count_nll_args_t a;
  if (!count_nll_args(&call, 3, &a)) return NULL;
  const size_t cells = a.rows * a.genes;
  const float *grad = arg_float32(&call, 2, "grad", a.rows);
  const float *chi = arg_float32(&call, 10, "chi", cells);
  const float *mu = arg_float32(&call, 11, "mu", cells);
  const float *ratio = arg_typed(&call, 12, "ratio", napi_float32_array, "Float32Array", cells, a.theta == NULL, NULL);
  float *g_logits = arg_typed(&call, 13, "gLogits", napi_float32_array, "Float32Array", cells, true, NULL);
  float *g_additive = arg_typed(&call, 14, "gAdditive", napi_float32_array, "Float32Array", cells, true, NULL);
  double *g_theta =
      arg_typed(&call, 15, "gTheta", napi_float64_array, "Float64Array", a.theta_len, true, NULL);
  if (!call.failed && g_additive != NULL && a.additive == NULL) {
    throw_message(env, "countNllBackward: gAdditive needs additive");
    return NULL;
  }
  if (call.failed) return NULL;
  count_nll_backward(a.rows, a.genes, grad, chi, mu, ratio, a.log_library, a.additive, a.theta, a.theta_len,
                     a.indptr, a.indices, a.values, a.eps, g_logits, g_additive, g_theta);
  return NULL;
}

/* ---- CSR products ---- */

/* The shared arguments of csrMatmul and csrTransposeMatmul: rows, cols, indptr (checked to be
 * non-decreasing from >= 0 and to stay inside indices and values), indices, values (float32 or
 * float64), the dense operand and the output (of the values' dtype), l. */
static napi_value csr_product(napi_env env, napi_callback_info info, const char *fn, bool transpose) {
  call_t call;
  if (!call_init(&call, env, info, fn, 8)) return NULL;
  const size_t rows = (size_t)arg_int(&call, 0, "rows");
  const size_t cols = (size_t)arg_int(&call, 1, "cols");
  const int32_t *indptr = arg_typed(&call, 2, "indptr", napi_int32_array, "Int32Array", rows + 1, false, NULL);
  size_t n_indices = 0;
  const int32_t *indices = arg_typed(&call, 3, "indices", napi_int32_array, "Int32Array", 0, false, &n_indices);
  const array_t values = arg_array(&call, 4, "values");
  const size_t l = (size_t)arg_int(&call, 6, "l");
  const array_t dense = arg_array(&call, 5, transpose ? "y" : "b");
  const array_t c = arg_array(&call, 7, "c");
  require(&call, &dense, &values, (transpose ? rows : cols) * l, transpose ? "y" : "b");
  require(&call, &c, &values, (transpose ? cols : rows) * l, "c");
  check_row_ptr(&call, "indptr", indptr, rows, n_indices < values.length ? n_indices : values.length);
  if (call.failed) return NULL;
  size_t stop;
  if (values.is_double)
    stop = transpose ? dcsr_transpose_matmul(rows, cols, indptr, indices, values.data, dense.data, l, c.data)
                     : dcsr_matmul(rows, cols, indptr, indices, values.data, dense.data, l, c.data);
  else
    stop = transpose ? scsr_transpose_matmul(rows, cols, indptr, indices, values.data, dense.data, l, c.data)
                     : scsr_matmul(rows, cols, indptr, indices, values.data, dense.data, l, c.data);
  napi_value result;
  napi_create_double(env, (double)stop, &result);
  return result;
}

static napi_value csr_matmul_napi(napi_env env, napi_callback_info info) {
  return csr_product(env, info, "csrMatmul", false);
}

static napi_value csr_transpose_matmul_napi(napi_env env, napi_callback_info info) {
  return csr_product(env, info, "csrTransposeMatmul", true);
}

/* ---- Threads ---- */

static napi_value set_num_threads(napi_env env, napi_callback_info info) {
  call_t call;
  if (!call_init(&call, env, info, "setNumThreads", 1)) return NULL;
  const blasint threads = arg_int(&call, 0, "threads");
  if (!call.failed && threads < 1) throw_message(env, "setNumThreads: threads must be at least 1, got 0");
  else if (!call.failed) openblas_set_num_threads(threads);
  return NULL;
}

static napi_value get_num_threads(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value result;
  napi_create_int32(env, openblas_get_num_threads(), &result);
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  init_lgamma_table();
  const napi_property_descriptor properties[] = {
      {"gemm", NULL, gemm, NULL, NULL, NULL, napi_enumerable, NULL},
      {"gemmBatched", NULL, gemm_batched, NULL, NULL, NULL, napi_enumerable, NULL},
      {"qr", NULL, qr, NULL, NULL, NULL, napi_enumerable, NULL},
      {"svd", NULL, svd, NULL, NULL, NULL, napi_enumerable, NULL},
      {"eigh", NULL, eigh, NULL, NULL, NULL, napi_enumerable, NULL},
      {"solve", NULL, solve, NULL, NULL, NULL, napi_enumerable, NULL},
      {"cholesky", NULL, cholesky, NULL, NULL, NULL, napi_enumerable, NULL},
      {"softmaxRows", NULL, softmax_rows, NULL, NULL, NULL, napi_enumerable, NULL},
      {"softmaxBackwardRows", NULL, softmax_backward_rows, NULL, NULL, NULL, napi_enumerable, NULL},
      {"maskedScale", NULL, masked_scale, NULL, NULL, NULL, napi_enumerable, NULL},
      {"transpose", NULL, transpose_napi, NULL, NULL, NULL, napi_enumerable, NULL},
      {"countNllForward", NULL, count_nll_forward_napi, NULL, NULL, NULL, napi_enumerable, NULL},
      {"adamUpdate", NULL, adam_update_napi, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sumSquares", NULL, sum_squares_napi, NULL, NULL, NULL, napi_enumerable, NULL},
      {"countNllBackward", NULL, count_nll_backward_napi, NULL, NULL, NULL, napi_enumerable, NULL},
      {"gelu", NULL, gelu, NULL, NULL, NULL, napi_enumerable, NULL},
      {"geluBackward", NULL, gelu_backward, NULL, NULL, NULL, napi_enumerable, NULL},
      {"layerNormRows", NULL, layer_norm_rows, NULL, NULL, NULL, napi_enumerable, NULL},
      {"layerNormBackwardRows", NULL, layer_norm_backward_rows, NULL, NULL, NULL, napi_enumerable, NULL},
      {"dropoutKeep", NULL, dropout_keep, NULL, NULL, NULL, napi_enumerable, NULL},
      {"philoxBlocks", NULL, philox_blocks, NULL, NULL, NULL, napi_enumerable, NULL},
      {"normalizeRows", NULL, normalize_rows_napi, NULL, NULL, NULL, napi_enumerable, NULL},
      {"log1p", NULL, log1p_napi, NULL, NULL, NULL, napi_enumerable, NULL},
      {"csrColumnMoments", NULL, csr_column_moments_napi, NULL, NULL, NULL, napi_enumerable, NULL},
      {"keepLargest", NULL, keep_largest_napi, NULL, NULL, NULL, napi_enumerable, NULL},
      {"findBadValue", NULL, find_bad_value_napi, NULL, NULL, NULL, napi_enumerable, NULL},
      {"firstNonInteger", NULL, first_non_integer_napi, NULL, NULL, NULL, napi_enumerable, NULL},
      {"findBadIndex", NULL, find_bad_index_napi, NULL, NULL, NULL, napi_enumerable, NULL},
      {"csrMatmul", NULL, csr_matmul_napi, NULL, NULL, NULL, napi_enumerable, NULL},
      {"csrTransposeMatmul", NULL, csr_transpose_matmul_napi, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setNumThreads", NULL, set_num_threads, NULL, NULL, NULL, napi_enumerable, NULL},
      {"getNumThreads", NULL, get_num_threads, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof properties / sizeof properties[0], properties);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
