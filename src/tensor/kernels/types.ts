// The backend seam: every heavy kernel has one signature here, a native implementation
// (src/native, OpenBLAS + LAPACK) and a TypeScript fallback. Matrices are row-major. A GEMM operand
// is a typed array view (use subarray for offsets: no copy) plus its leading dimension, as in CBLAS
// with CblasRowMajor. The decompositions take contiguous matrices (leading dimension = width) and
// write their results into arrays the caller allocates with the exact sizes given below; they never
// modify their input. All arrays of one call share a dtype. Invalid sizes, mixed dtypes and failed
// factorizations (singular, not positive definite) throw ArgumentError.

export type FloatArray = Float32Array | Float64Array;

/**
 * scVI's reconstruction term on a batch (src/tensor/ops/count-likelihood.ts): the decoder's logits
 * and the counts as CSR, with named fields rather than a list of positions.
 */
export interface CountNllData {
  readonly rows: number;
  readonly genes: number;
  /** log library size per row. */
  readonly logLibrary: Float32Array;
  /** The additive bias before its ReLU, rows x genes, or null. */
  readonly additive: Float32Array | null;
  /** Inverse overdispersion per gene (genes) or per row and gene (rows x genes); null: Poisson. */
  readonly theta: Float32Array | null;
  /** The counts, CSR: each row's column indices increase strictly (canonical, as the data layer's). */
  readonly indptr: Int32Array;
  readonly indices: Int32Array;
  readonly values: Float32Array;
  /** Added to mu and theta. */
  readonly eps: number;
}

/** One Adam / AdamW step on a parameter (src/optim/adam.ts has the formulas); all arrays of one dtype and length. */
export interface AdamUpdateArgs<T extends FloatArray> {
  readonly param: T;
  readonly grad: T;
  readonly expAvg: T;
  readonly expAvgSq: T;
  /** amsgrad's running maximum of expAvgSq, or null. */
  readonly maxExpAvgSq: T | null;
  /** lr / (1 - beta1^step) and sqrt(1 - beta2^step). */
  readonly stepSize: number;
  readonly biasCorrection2Sqrt: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  /** AdamW's decoupled decay 1 - lr weight_decay (1 for Adam), and Adam's L2 weight_decay (0 for AdamW). */
  readonly decay: number;
  readonly l2: number;
}

export interface CountNllForwardArgs extends CountNllData {
  readonly logits: Float32Array;
  /** Out: the softmax of the logits, mu, and log1p(mu / theta) (null for Poisson), rows x genes. */
  readonly chi: Float32Array;
  readonly mu: Float32Array;
  readonly ratio: Float32Array | null;
  /** Out: the negative log-likelihood per row. */
  readonly nll: Float32Array;
}

export interface CountNllBackwardArgs extends CountNllData {
  /** d loss / d nll per row. */
  readonly grad: Float32Array;
  /** The forward's chi, mu and ratio. */
  readonly chi: Float32Array;
  readonly mu: Float32Array;
  readonly ratio: Float32Array | null;
  /** Out (null: not needed): the gradients of the logits, of the additive bias (before its ReLU), and, added into, of theta. */
  readonly gLogits: Float32Array | null;
  readonly gAdditive: Float32Array | null;
  readonly gTheta: Float64Array | null;
}

export interface Kernels {
  readonly name: "native" | "typescript";
  /** C = alpha op(A) op(B) + beta C; op(A) is m x k, op(B) is k x n, C is m x n. A, B, C share a dtype. */
  gemm<T extends FloatArray>(
    transA: boolean,
    transB: boolean,
    m: number,
    n: number,
    k: number,
    alpha: number,
    a: T,
    lda: number,
    b: T,
    ldb: number,
    beta: number,
    c: T,
    ldc: number,
  ): void;
  /**
   * `batch` independent gemm calls: product i reads A at element i * strideA of `a`, B at
   * i * strideB of `b` and updates C at i * strideC of `c`. A stride of 0 reuses one operand for
   * every product (a shared weight matrix).
   */
  gemmBatched<T extends FloatArray>(
    transA: boolean,
    transB: boolean,
    m: number,
    n: number,
    k: number,
    alpha: number,
    a: T,
    lda: number,
    strideA: number,
    b: T,
    ldb: number,
    strideB: number,
    beta: number,
    c: T,
    ldc: number,
    strideC: number,
    batch: number,
  ): void;
  /**
   * Thin QR: A (m x n) = Q R with Q (m x k) orthonormal columns and R (k x n) upper trapezoidal,
   * k = min(m, n). The signs of R's diagonal are the implementation's (linalg.qr normalizes them).
   */
  qr<T extends FloatArray>(m: number, n: number, a: T, q: T, r: T): void;
  /**
   * Thin SVD: A (m x n) = U diag(s) Vt with U (m x k), s (k, descending, >= 0), Vt (k x n),
   * k = min(m, n). Pass u = vt = null for the singular values alone. The signs of the singular
   * vector pairs are the implementation's (linalg.svd normalizes them).
   */
  svd<T extends FloatArray>(m: number, n: number, a: T, u: T | null, s: T, vt: T | null): void;
  /**
   * Symmetric eigendecomposition A = V diag(w) V^T of A (n x n), read from its lower triangle:
   * w (n) ascending as in numpy.linalg.eigh, eigenvector j in column j of V (n x n).
   */
  eigh<T extends FloatArray>(n: number, a: T, w: T, v: T): void;
  /** Solves A X = B for A (n x n), B and X (n x nrhs) by LU with partial pivoting; x may be b. */
  solve<T extends FloatArray>(n: number, nrhs: number, a: T, b: T, x: T): void;
  /** Cholesky A = L L^T of a symmetric positive-definite A (n x n), read from its lower triangle; L (n x n) is lower triangular. */
  cholesky<T extends FloatArray>(n: number, a: T, l: T): void;
  /**
   * In place on `rows` rows of `len` values of x: adds `bias` (one row of len values shared by
   * every row; null for none), then replaces each row by its softmax. Sums run in double. A row
   * of all -inf becomes NaN, as in torch. (The attention softmax with its additive mask.)
   */
  softmaxRows<T extends FloatArray>(rows: number, len: number, x: T, bias: T | null): void;
  /**
   * The softmax backward in place on g (rows x len), from the softmax output p: with
   * gm = keep ? g * keepScale : 0 (every element kept when keep is null), g = p (gm - rowsum(gm p)).
   * The keep mask folds a dropout applied after the softmax into the same pass.
   */
  softmaxBackwardRows<T extends FloatArray>(
    rows: number,
    len: number,
    p: T,
    g: T,
    keep: Uint8Array | null,
    keepScale: number,
  ): void;
  /** dst[i] = keep[i] ? src[i] * scale : 0 for i < n (dropout forward and backward); dst may be src. */
  maskedScale<T extends FloatArray>(n: number, src: T, keep: Uint8Array, scale: number, dst: T): void;
  /** dst (cols x rows) = the transpose of src (rows x cols), both row-major and contiguous. */
  transpose<T extends FloatArray>(rows: number, cols: number, src: T, dst: T): void;
  /** y = x Phi(x) for i < n: the exact GELU, Phi(x) = (1 + erf(x / sqrt 2)) / 2. */
  gelu<T extends FloatArray>(n: number, x: T, y: T): void;
  /**
   * dx = g (Phi(x) + x phi(x)) for i < n, given the forward output y = gelu(x): Phi(x) is taken as
   * y / x (1/2 for |x| < 1e-30, where a float32 y may underflow), saving a second erf.
   */
  geluBackward<T extends FloatArray>(n: number, g: T, x: T, y: T, dx: T): void;
  /**
   * LayerNorm of `rows` rows of `len` values: y = (x - mean) rstd w + b per row (w, b null: 1, 0),
   * rstd = 1 / sqrt(biased variance + eps), statistics in double; each row's mean and rstd are
   * written to `mean` and `rstd` for the backward.
   */
  layerNormRows<T extends FloatArray>(
    rows: number,
    len: number,
    x: T,
    w: T | null,
    b: T | null,
    eps: number,
    y: T,
    mean: Float64Array,
    rstd: Float64Array,
  ): void;
  /**
   * LayerNorm's backward from the saved mean and rstd: dx = rstd (gh - mean(gh) - xhat mean(gh xhat))
   * with gh = g w and xhat = (x - mean) rstd; dw += sum over rows of g xhat; db += sum of g. A null
   * dx, dw or db is not computed.
   */
  layerNormBackwardRows<T extends FloatArray>(
    rows: number,
    len: number,
    g: T,
    x: T,
    w: T | null,
    mean: Float64Array,
    rstd: Float64Array,
    dx: T | null,
    dw: T | null,
    db: T | null,
  ): void;
  /**
   * keep[i] = 1 when the i-th 16-bit draw is >= threshold, else 0, for i < n; draw 2j is the low
   * half of words[j], draw 2j + 1 its high half (dropout's mask from the Generator's words).
   */
  dropoutKeep(n: number, words: Uint32Array, threshold: number, keep: Uint8Array): void;
  /**
   * Philox4x32-10 blocks for the Generator's bulk draws: for each of the out.length / 4 blocks
   * (out.length a multiple of 4), increments the 128-bit counter (four little-endian words, updated
   * in place) and writes the encryption of the counter under `key` (two words) to the next 4 words.
   */
  philoxBlocks(key: Uint32Array, counter: Uint32Array, out: Uint32Array): void;
  /**
   * NormalizeTotal on a block's stored values: y[p] = fl32(fl32(target x[p]) / fl32(total_i + eps))
   * for the values p of row i, float32 rounding after each operation as in torch; total_i is
   * totals[i], or with totals null the row's sum (added in double, rounded once to float32). Row i
   * spans [rowPtr[i], rowPtr[i + 1]) of x (a CSR indptr, non-decreasing from >= 0) or, when rowPtr
   * is null, [i rowLen, (i + 1) rowLen) (dense rows). y may be x. NormalizeTotal needs counts:
   * returns the position of the first negative x, its row and the rows after it left unscaled
   * (x intact there even in place), or the number of values when none is negative.
   */
  normalizeRows(
    rows: number,
    rowPtr: Int32Array | null,
    rowLen: number,
    x: Float32Array,
    target: number,
    eps: number,
    totals: Float32Array | null,
    y: Float32Array,
  ): number;
  /**
   * y[i] = log1p(x[i]) for i < n, rounded once to float32 from a double computation (the correctly
   * rounded float32 log1p except within ~1e-16 relative of a rounding boundary). y may be x.
   * Log1p is for counts: returns the position of the first negative x, having stopped before the
   * block of values that holds it (x intact from there on even in place), or n when none is.
   */
  log1p(n: number, x: Float32Array, y: Float32Array): number;
  /**
   * The position of the first of x[0..n) that is NaN or infinite or, with `nonnegative`, below 0
   * (-0 passes); n when there is none. The data layer's check of every block it reads. With
   * `copyTo`, x[0..n) is also copied there, whole, in the same pass (a read that checks what it
   * copies).
   */
  findBadValue(n: number, x: Float32Array, nonnegative: boolean, copyTo: Float32Array | null): number;
  /**
   * The position of the first column index of a CSR block (rows + 1 row pointers, non-decreasing
   * from >= 0 within indices) that is outside [0, cols) or not above the index before it in its
   * row (unsorted or duplicated); indptr[rows] when every row is strictly increasing in range.
   * With `copyTo`, the indices [0, indptr[rows]) are also copied there, whole, in the same pass.
   */
  findBadIndex(
    rows: number,
    indptr: Int32Array,
    indices: Int32Array,
    cols: number,
    copyTo: Int32Array | null,
  ): number;
  /**
   * Per-gene sums over a CSR block's stored values (the running moments of OnePassMeanVarStd):
   * moments holds three numbers per gene, [sum of d, sum of d^2, count] at 3g, 3g + 1, 3g + 2
   * (interleaved: one cache line per entry instead of three). For each p < indices.length, with
   * g = indices[p] and d = values[p] - shift[g] (shift null: 0), they grow by d, d^2 and 1. An
   * index outside [0, moments.length / 3) throws ArgumentError, after the entries before it were
   * added.
   */
  csrColumnMoments(
    indices: Int32Array,
    values: Float32Array,
    shift: Float64Array | null,
    moments: Float64Array,
  ): void;
  /**
   * C = X B for a CSR X (rows x cols: indptr of rows + 1 entries, non-decreasing from >= 0;
   * column indices; float32 values) and a dense row-major B (cols x l); C (rows x l) is
   * overwritten. O(nnz l): the sparse counterpart of GEMM on a densified X, in float32 like it.
   * A column index outside [0, cols) throws ArgumentError.
   */
  csrMatmul(
    rows: number,
    cols: number,
    indptr: Int32Array,
    indices: Int32Array,
    values: Float32Array,
    b: Float32Array,
    l: number,
    c: Float32Array,
  ): void;
  /** C = X^T Y for X as in csrMatmul, Y (rows x l) and C (cols x l, overwritten). */
  csrTransposeMatmul(
    rows: number,
    cols: number,
    indptr: Int32Array,
    indices: Int32Array,
    values: Float32Array,
    y: Float32Array,
    l: number,
    c: Float32Array,
  ): void;
  /** One Adam / AdamW step, in place on param and the moments. */
  adamUpdate<T extends FloatArray>(args: AdamUpdateArgs<T>): void;
  /** sum of x[i]^2 for i < n, in double. */
  sumSquares(n: number, x: FloatArray): number;
  /** chi = softmax(logits), mu = exp(logLibrary) chi + relu(additive) + eps and each row's NB (or Poisson) negative log-likelihood. */
  countNllForward(args: CountNllForwardArgs): void;
  /** The gradients of countNllForward's nll. */
  countNllBackward(args: CountNllBackwardArgs): void;
  /** Threads used by the kernels (OpenBLAS's pool; the TypeScript kernels always use 1). */
  setNumThreads(threads: number): void;
  getNumThreads(): number;
}
