/* Type-generic LAPACK kernels on row-major matrices, included twice by cellarium_native.c: once with
 * REAL = float, P(x) = s##x (sgelqf_, ...) and once with REAL = double, P(x) = d##x.
 *
 * LAPACK is column-major, and the row-major buffer of a matrix A (m x n) is the column-major buffer
 * of A^T (n x m). Every routine below factors that transpose and reads the factors of A from it
 * without a transposing copy, except solve with several right-hand sides (see there).
 *
 * Each routine returns 0, or -1 after writing a one-line message to err (ERR_LEN bytes). Inputs are
 * never modified; LAPACK works on a copy (it overwrites its input) or directly in the output. */

/* A (m x n) = Q R with Q (m x k) orthonormal columns, R (k x n) upper trapezoidal, k = min(m, n).
 * LQ of the column-major M = A^T (n x m): M = L W with W (k x m) orthonormal rows, so A = W^T L^T.
 * W^T row-major is W column-major (the output of orglq), and L^T row-major is the lower part of M
 * column-major read row by row: no transposition at all. */
static int P(qr_rowmajor)(blasint m, blasint n, const REAL *a, REAL *q, REAL *r, char *err) {
  const blasint k = m < n ? m : n;
  if (k == 0) return 0;
  const size_t mn = (size_t)m * (size_t)n;
  REAL *lq = malloc(mn * sizeof(REAL));
  REAL *tau = malloc((size_t)k * sizeof(REAL));
  REAL *work = NULL;
  int status = -1;
  if (lq == NULL || tau == NULL) goto out_of_memory;
  memcpy(lq, a, mn * sizeof(REAL));

  blasint info = 0, query = -1;
  REAL size_lq = 0, size_gen = 0;
  P(gelqf_)(&n, &m, lq, &n, tau, &size_lq, &query, &info);
  P(orglq_)(&k, &m, &k, q, &k, tau, &size_gen, &query, &info);
  blasint lwork = (blasint)(size_lq > size_gen ? size_lq : size_gen);
  if (lwork < 1) lwork = 1;
  work = malloc((size_t)lwork * sizeof(REAL));
  if (work == NULL) goto out_of_memory;

  P(gelqf_)(&n, &m, lq, &n, tau, work, &lwork, &info);
  if (info != 0) {
    snprintf(err, ERR_LEN, "qr: LAPACK %sgelqf failed with info %d", PREFIX, (int)info);
    goto done;
  }
  for (blasint i = 0; i < k; i++) {
    REAL *row = r + (size_t)i * (size_t)n;
    const REAL *src = lq + (size_t)i * (size_t)n;
    for (blasint j = 0; j < i; j++) row[j] = 0;
    memcpy(row + i, src + i, (size_t)(n - i) * sizeof(REAL));
  }
  /* The reflectors are the first k rows of M (column-major): the first k entries of each row-major row. */
  for (blasint i = 0; i < m; i++) {
    memcpy(q + (size_t)i * (size_t)k, lq + (size_t)i * (size_t)n, (size_t)k * sizeof(REAL));
  }
  P(orglq_)(&k, &m, &k, q, &k, tau, work, &lwork, &info);
  if (info != 0) {
    snprintf(err, ERR_LEN, "qr: LAPACK %sorglq failed with info %d", PREFIX, (int)info);
    goto done;
  }
  status = 0;
  goto done;
out_of_memory:
  snprintf(err, ERR_LEN, "qr: out of memory for a %d x %d matrix", (int)m, (int)n);
done:
  free(work);
  free(tau);
  free(lq);
  return status;
}

/* Thin SVD A (m x n) = U diag(s) Vt, U (m x k), Vt (k x n), s descending. gesdd factors the
 * column-major M = A^T = U' S V'^T, so A = V' S U'^T: U row-major is V'^T column-major (gesdd's VT
 * with ldvt = k) and Vt row-major is U' column-major (gesdd's U with ldu = n). With u = vt = NULL
 * only the singular values are computed (jobz "N", much less work). */
static int P(svd_rowmajor)(blasint m, blasint n, const REAL *a, REAL *u, REAL *s, REAL *vt, char *err) {
  const blasint k = m < n ? m : n;
  if (k == 0) return 0;
  const size_t mn = (size_t)m * (size_t)n;
  REAL *copy = malloc(mn * sizeof(REAL));
  blasint *iwork = malloc(8 * (size_t)k * sizeof(blasint));
  REAL *work = NULL;
  int status = -1;
  if (copy == NULL || iwork == NULL) goto out_of_memory;
  memcpy(copy, a, mn * sizeof(REAL));

  const char *jobz = u == NULL ? "N" : "S";
  const blasint ldu = u == NULL ? 1 : n, ldvt = u == NULL ? 1 : k;
  blasint info = 0, lwork = -1;
  REAL size = 0;
  P(gesdd_)(jobz, &n, &m, copy, &n, s, vt, &ldu, u, &ldvt, &size, &lwork, iwork, &info, 1);
  lwork = (blasint)size;
  if (lwork < 1) lwork = 1;
  work = malloc((size_t)lwork * sizeof(REAL));
  if (work == NULL) goto out_of_memory;
  P(gesdd_)(jobz, &n, &m, copy, &n, s, vt, &ldu, u, &ldvt, work, &lwork, iwork, &info, 1);
  if (info > 0) {
    snprintf(err, ERR_LEN, "svd: LAPACK %sgesdd did not converge (info %d) on a %d x %d matrix", PREFIX,
             (int)info, (int)m, (int)n);
  } else if (info < 0) {
    snprintf(err, ERR_LEN, "svd: LAPACK %sgesdd rejected argument %d", PREFIX, (int)-info);
  } else {
    status = 0;
  }
  goto done;
out_of_memory:
  snprintf(err, ERR_LEN, "svd: out of memory for a %d x %d matrix", (int)m, (int)n);
done:
  free(work);
  free(iwork);
  free(copy);
  return status;
}

/* Symmetric eigendecomposition A = V diag(w) V^T, w ascending, eigenvectors in the columns of V.
 * Reads the row-major lower triangle, which is the column-major upper one ("U"). syevd leaves the
 * eigenvectors in column-major columns, i.e. in row-major rows: one in-place square transpose. */
static int P(eigh_rowmajor)(blasint n, const REAL *a, REAL *w, REAL *v, char *err) {
  if (n == 0) return 0;
  const size_t nn = (size_t)n * (size_t)n;
  memcpy(v, a, nn * sizeof(REAL));
  blasint info = 0, lwork = -1, liwork = -1, iwork_size = 0;
  REAL size = 0;
  P(syevd_)("V", "U", &n, v, &n, w, &size, &lwork, &iwork_size, &liwork, &info, 1, 1);
  lwork = (blasint)size;
  liwork = iwork_size;
  if (lwork < 1) lwork = 1;
  if (liwork < 1) liwork = 1;
  REAL *work = malloc((size_t)lwork * sizeof(REAL));
  blasint *iwork = malloc((size_t)liwork * sizeof(blasint));
  int status = -1;
  if (work == NULL || iwork == NULL) {
    snprintf(err, ERR_LEN, "eigh: out of memory for a %d x %d matrix", (int)n, (int)n);
    goto done;
  }
  P(syevd_)("V", "U", &n, v, &n, w, work, &lwork, iwork, &liwork, &info, 1, 1);
  if (info != 0) {
    snprintf(err, ERR_LEN, "eigh: LAPACK %ssyevd failed with info %d on a %d x %d matrix", PREFIX, (int)info,
             (int)n, (int)n);
    goto done;
  }
  for (blasint i = 0; i < n; i++) {
    for (blasint j = i + 1; j < n; j++) {
      const REAL t = v[(size_t)i * (size_t)n + (size_t)j];
      v[(size_t)i * (size_t)n + (size_t)j] = v[(size_t)j * (size_t)n + (size_t)i];
      v[(size_t)j * (size_t)n + (size_t)i] = t;
    }
  }
  status = 0;
done:
  free(iwork);
  free(work);
  return status;
}

/* Solves A X = B for A (n x n), B and X (n x nrhs). getrf factors the column-major A^T (the buffer of A
 * as is); getrs with "T" then solves (A^T)^T X = B. The right-hand sides must be column-major: a
 * single one is a plain vector, several are transposed into a work buffer and back. X may alias B. */
static int P(solve_rowmajor)(blasint n, blasint nrhs, const REAL *a, const REAL *b, REAL *x, char *err) {
  if (n == 0 || nrhs == 0) return 0;
  const size_t nn = (size_t)n * (size_t)n;
  const size_t nb = (size_t)n * (size_t)nrhs;
  REAL *lu = malloc(nn * sizeof(REAL));
  blasint *ipiv = malloc((size_t)n * sizeof(blasint));
  REAL *rhs = nrhs == 1 ? x : malloc(nb * sizeof(REAL));
  int status = -1;
  if (lu == NULL || ipiv == NULL || rhs == NULL) {
    snprintf(err, ERR_LEN, "solve: out of memory for a %d x %d system", (int)n, (int)n);
    goto done;
  }
  memcpy(lu, a, nn * sizeof(REAL));
  blasint info = 0;
  P(getrf_)(&n, &n, lu, &n, ipiv, &info);
  if (info > 0) {
    snprintf(err, ERR_LEN, "solve: the %d x %d matrix is singular (zero pivot at %d)", (int)n, (int)n,
             (int)info);
    goto done;
  }
  if (nrhs == 1) {
    if (x != b) memcpy(x, b, nb * sizeof(REAL));
  } else {
    for (blasint i = 0; i < n; i++)
      for (blasint j = 0; j < nrhs; j++) rhs[(size_t)j * (size_t)n + (size_t)i] = b[(size_t)i * (size_t)nrhs + (size_t)j];
  }
  P(getrs_)("T", &n, &nrhs, lu, &n, ipiv, rhs, &n, &info, 1);
  if (info != 0) {
    snprintf(err, ERR_LEN, "solve: LAPACK %sgetrs failed with info %d", PREFIX, (int)info);
    goto done;
  }
  if (nrhs > 1) {
    for (blasint i = 0; i < n; i++)
      for (blasint j = 0; j < nrhs; j++) x[(size_t)i * (size_t)nrhs + (size_t)j] = rhs[(size_t)j * (size_t)n + (size_t)i];
  }
  status = 0;
done:
  if (rhs != x) free(rhs);
  free(ipiv);
  free(lu);
  return status;
}

/* Cholesky A = L L^T, L lower triangular, from the row-major lower triangle of A. That triangle is
 * the column-major upper one, and potrf's column-major U with A = U^T U is L row-major. */
static int P(cholesky_rowmajor)(blasint n, const REAL *a, REAL *l, char *err) {
  if (n == 0) return 0;
  memcpy(l, a, (size_t)n * (size_t)n * sizeof(REAL));
  blasint info = 0;
  P(potrf_)("U", &n, l, &n, &info, 1);
  if (info > 0) {
    snprintf(err, ERR_LEN,
             "cholesky: the %d x %d matrix is not positive definite (leading minor of order %d)", (int)n,
             (int)n, (int)info);
    return -1;
  }
  if (info < 0) {
    snprintf(err, ERR_LEN, "cholesky: LAPACK %spotrf rejected argument %d", PREFIX, (int)-info);
    return -1;
  }
  for (blasint i = 0; i < n; i++) {
    REAL *row = l + (size_t)i * (size_t)n;
    for (blasint j = i + 1; j < n; j++) row[j] = 0;
  }
  return 0;
}
