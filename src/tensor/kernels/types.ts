// The backend seam: every heavy kernel is declared once here, as a name, its named fields and the
// rules between them (spec.ts has the machinery). Each has a native implementation (src/native,
// OpenBLAS + LAPACK) and a TypeScript fallback (*-ts.ts). Matrices are row-major. A GEMM operand is
// a typed array view (use subarray for offsets: no copy) plus its leading dimension, as in CBLAS with
// CblasRowMajor. The decompositions take contiguous matrices (leading dimension = width) and write
// their results into arrays the caller allocates with the exact sizes given below; they never modify
// their input. All float arrays of one call share a dtype. Invalid sizes, mixed dtypes and failed
// factorizations (singular, not positive definite) throw ArgumentError.
//
// Adding a kernel: declare it in KERNELS below (its fields in the order the C entry point takes
// them, their lengths and any further relation); write the TypeScript fallback taking the argument
// object (KernelArgs<"name">) and register it in index.ts (the compiler reports it missing); add the
// N-API entry point to src/native/cellarium_native.c under the same name. The argument checks, the
// dispatch to either backend and the native wrapper follow from the declaration.

import { ArgumentError } from "../../errors.js";
import {
  type ArgsOf,
  atLeast,
  declare,
  describe,
  type FloatArray,
  f32,
  f64,
  flag,
  float,
  i32,
  type KernelFn,
  type KernelImpl,
  orNull,
  scalar,
  size,
  u8,
  u32,
} from "./spec.js";

export type { FloatArray } from "./spec.js";

const shape = (...dims: number[]) => dims.join(" x ");

/** Checks a row-major `rows` x `cols` operand with leading dimension `ld` that starts `last` elements in. */
function operand(
  kernel: string,
  name: string,
  array: FloatArray,
  rows: number,
  cols: number,
  ld: number,
  last: number,
): void {
  if (ld < Math.max(1, cols)) {
    throw new ArgumentError(`${kernel}: ld${name} = ${ld} is below the row width ${cols} of ${name}`);
  }
  const needed = rows === 0 || cols === 0 ? 0 : last + (rows - 1) * ld + cols;
  if (array.length < needed) {
    throw new ArgumentError(
      `${kernel}: ${name} (${rows} x ${cols}, ld ${ld}) needs ${needed} elements, got ${array.length}`,
    );
  }
}

/** The product gemm and gemmBatched compute: C = alpha op(A) op(B) + beta C, op(A) m x k, op(B) k x n. */
const gemmProduct = { transA: flag, transB: flag, m: size, n: size, k: size, alpha: scalar };
const gemmFields = {
  ...gemmProduct,
  a: float,
  lda: size,
  b: float,
  ldb: size,
  beta: scalar,
  c: float,
  ldc: size,
};

/** The operands of a gemm whose last product starts lastA, lastB and lastC elements in. */
function gemmOperands(
  kernel: string,
  g: ArgsOf<typeof gemmFields>,
  lastA: number,
  lastB: number,
  lastC: number,
): void {
  const { transA, transB, m, n, k } = g;
  // A and B are read only when the product is not empty.
  const reads = m > 0 && n > 0 && k > 0;
  operand(kernel, "a", g.a, reads ? (transA ? k : m) : 0, transA ? m : k, g.lda, lastA);
  operand(kernel, "b", g.b, reads ? (transB ? n : k) : 0, transB ? k : n, g.ldb, lastB);
  operand(kernel, "c", g.c, m, n, g.ldc, lastC);
}

/**
 * Checks the row pointers of `rows` rows (a CSR indptr: an Int32Array of rows + 1 entries,
 * non-decreasing from >= 0) and returns the number of values they span.
 */
function rowPointers(kernel: string, name: string, ptr: Int32Array, rows: number): number {
  if (ptr.length < rows + 1) {
    throw new ArgumentError(`${kernel}: ${name} must be an Int32Array of at least ${rows + 1} entries`);
  }
  for (let i = 0; i < rows; i++) {
    if (!(ptr[i]! >= 0 && ptr[i + 1]! >= ptr[i]!)) {
      throw new ArgumentError(`${kernel}: ${name} is not non-decreasing from 0 at row ${i}`);
    }
  }
  return rows === 0 ? 0 : ptr[rows]!;
}

/** The CSR operand of csrMatmul and csrTransposeMatmul. */
const csrFields = { rows: size, cols: size, indptr: i32, indices: i32, values: float };

function csrProductCheck(a: ArgsOf<typeof csrFields>, kernel: string): void {
  const nnz = rowPointers(kernel, "indptr", a.indptr, a.rows);
  atLeast(kernel, "indices", a.indices, nnz);
  atLeast(kernel, "values", a.values, nnz);
}

/** What the CSR products share beyond their fields: the row pointers' check and the raw result's conversion. */
const csrProductRules = { returns: "raw", check: csrProductCheck, finish: csrProductFinish } as const;

function csrProductFinish(a: ArgsOf<typeof csrFields>, stop: number, kernel: string): void {
  if (stop < (a.rows === 0 ? 0 : a.indptr[a.rows]!)) {
    throw new ArgumentError(
      `${kernel}: indices[${stop}] = ${a.indices[stop]} is outside the ${a.cols} columns`,
    );
  }
}

/** The fields both directions of countNll share, after the rows and genes and the direction's first array. */
const countNllCounts = {
  /** log library size per row. */
  logLibrary: f32,
  /** The additive bias before its ReLU, rows x genes, or null. */
  additive: orNull(f32),
  /** Inverse overdispersion per gene (genes) or per row and gene (rows x genes); null: Poisson. */
  theta: orNull(f32),
  /** The counts, CSR: each row's column indices increase strictly (canonical, as the data layer's). */
  indptr: i32,
  indices: i32,
  values: f32,
  /** Added to mu and theta. */
  eps: scalar,
};

type CountNllShared = ArgsOf<typeof countNllCounts> & {
  readonly rows: number;
  readonly genes: number;
  readonly ratio: Float32Array | null;
};

/** The lengths of the row kernels' operands: rows x len values, one row of len, one value per row. */
const allRows = (s: { rows: number; len: number }) => s.rows * s.len;
const oneRow = (s: { len: number }) => s.len;

const rowsText = () => "rows";
const cellsText = () => "rows x genes";
const rowsLength = (a: { rows: number }) => a.rows;
const cellsLength = (a: { rows: number; genes: number }) => a.rows * a.genes;

/** The lengths both countNll directions check: per row, or per row and gene. */
const perRow = [rowsLength, rowsText] as const;
const perCell = [cellsLength, cellsText] as const;
const countNllLengths = { logLibrary: perRow, additive: perCell, chi: perCell, mu: perCell, ratio: perCell };

/**
 * The relations both countNll directions share. The column indices are the backends' to check
 * (each scans them while it reads them: count-nll-ts.ts, count_nll.h).
 */
function countNllCheck(a: CountNllShared, kernel: string): void {
  const cells = a.rows * a.genes;
  if (a.theta !== null && a.theta.length !== a.genes && a.theta.length !== cells) {
    throw new ArgumentError(
      `${kernel}: theta must have genes or rows x genes elements, got ${a.theta.length}`,
    );
  }
  if (a.ratio === null && a.theta !== null) throw new ArgumentError(`${kernel}: ratio is needed`);
  if (a.indptr.length !== a.rows + 1) {
    throw new ArgumentError(`${kernel}: indptr must be an Int32Array of rows + 1 = ${a.rows + 1} entries`);
  }
  const limit = Math.min(a.indices.length, a.values.length);
  for (let i = 0; i < a.rows; i++) {
    if (a.indptr[i]! < 0 || a.indptr[i + 1]! < a.indptr[i]! || a.indptr[i + 1]! > limit) {
      throw new ArgumentError(`${kernel}: indptr is not non-decreasing from 0 within the values at row ${i}`);
    }
  }
}

/** The declarations: the name, the fields (in the native entry point's order) and their rules. */
export const KERNELS = {
  /** C = alpha op(A) op(B) + beta C; op(A) is m x k, op(B) is k x n, C is m x n. A, B, C share a dtype. */
  gemm: declare(gemmFields, { check: (g, kernel) => gemmOperands(kernel, g, 0, 0, 0) }),
  /**
   * `batch` independent gemm calls: product i reads A at element i * strideA of `a`, B at
   * i * strideB of `b` and updates C at i * strideC of `c`. A stride of 0 reuses one operand for
   * every product (a shared weight matrix).
   */
  gemmBatched: declare(
    {
      ...gemmProduct,
      a: float,
      lda: size,
      strideA: size,
      b: float,
      ldb: size,
      strideB: size,
      beta: scalar,
      c: float,
      ldc: size,
      strideC: size,
      batch: size,
    },
    {
      check(g, kernel) {
        // The last product of the batch reaches furthest into each array.
        const last = g.batch - 1;
        if (last >= 0) gemmOperands(kernel, g, last * g.strideA, last * g.strideB, last * g.strideC);
      },
    },
  ),
  /**
   * Thin QR: A (m x n) = Q R with Q (m x k) orthonormal columns and R (k x n) upper trapezoidal,
   * k = min(m, n). The signs of R's diagonal are the implementation's (linalg.qr normalizes them).
   */
  qr: declare(
    { m: size, n: size, a: float, q: float, r: float },
    {
      exact: {
        a: [(x) => x.m * x.n, (x) => shape(x.m, x.n)],
        q: [(x) => x.m * Math.min(x.m, x.n), (x) => shape(x.m, Math.min(x.m, x.n))],
        r: [(x) => Math.min(x.m, x.n) * x.n, (x) => shape(Math.min(x.m, x.n), x.n)],
      },
    },
  ),
  /**
   * Thin SVD: A (m x n) = U diag(s) Vt with U (m x k), s (k, descending, >= 0), Vt (k x n),
   * k = min(m, n). Pass u = vt = null for the singular values alone. The signs of the singular
   * vector pairs are the implementation's (linalg.svd normalizes them).
   */
  svd: declare(
    { m: size, n: size, a: float, u: orNull(float), s: float, vt: orNull(float) },
    {
      exact: {
        a: [(x) => x.m * x.n, (x) => shape(x.m, x.n)],
        u: [(x) => x.m * Math.min(x.m, x.n), (x) => shape(x.m, Math.min(x.m, x.n))],
        s: [(x) => Math.min(x.m, x.n), (x) => shape(Math.min(x.m, x.n))],
        vt: [(x) => Math.min(x.m, x.n) * x.n, (x) => shape(Math.min(x.m, x.n), x.n)],
      },
      check(x) {
        if ((x.u === null) !== (x.vt === null)) {
          throw new ArgumentError("svd: u and vt must be both arrays or both null");
        }
      },
    },
  ),
  /**
   * Symmetric eigendecomposition A = V diag(w) V^T of A (n x n), read from its lower triangle:
   * w (n) ascending as in numpy.linalg.eigh, eigenvector j in column j of V (n x n).
   */
  eigh: declare(
    { n: size, a: float, w: float, v: float },
    {
      exact: {
        a: [(x) => x.n * x.n, (x) => shape(x.n, x.n)],
        w: [(x) => x.n, (x) => shape(x.n)],
        v: [(x) => x.n * x.n, (x) => shape(x.n, x.n)],
      },
    },
  ),
  /** Solves A X = B for A (n x n), B and X (n x nrhs) by LU with partial pivoting; x may be b. */
  solve: declare(
    { n: size, nrhs: size, a: float, b: float, x: float },
    {
      exact: {
        a: [(s) => s.n * s.n, (s) => shape(s.n, s.n)],
        b: [(s) => s.n * s.nrhs, (s) => shape(s.n, s.nrhs)],
        x: [(s) => s.n * s.nrhs, (s) => shape(s.n, s.nrhs)],
      },
    },
  ),
  /** Cholesky A = L L^T of a symmetric positive-definite A (n x n), read from its lower triangle; L (n x n) is lower triangular. */
  cholesky: declare(
    { n: size, a: float, l: float },
    {
      exact: {
        a: [(s) => s.n * s.n, (s) => shape(s.n, s.n)],
        l: [(s) => s.n * s.n, (s) => shape(s.n, s.n)],
      },
    },
  ),
  /**
   * In place on `rows` rows of `len` values of x: adds `bias` (one row of len values shared by
   * every row; null for none), then replaces each row by its softmax. Sums run in double. A row
   * of all -inf becomes NaN, as in torch. (The attention softmax with its additive mask.)
   */
  softmaxRows: declare(
    { rows: size, len: size, x: float, bias: orNull(float) },
    { atLeast: { x: allRows, bias: oneRow } },
  ),
  /**
   * The softmax backward in place on g (rows x len), from the softmax output p: with
   * gm = keep ? g * keepScale : 0 (every element kept when keep is null), g = p (gm - rowsum(gm p)).
   * The keep mask folds a dropout applied after the softmax into the same pass.
   */
  softmaxBackwardRows: declare(
    { rows: size, len: size, p: float, g: float, keep: orNull(u8), keepScale: scalar },
    {
      atLeast: {
        p: allRows,
        g: allRows,
        keep: allRows,
      },
    },
  ),
  /** dst[i] = keep[i] ? src[i] * scale : 0 for i < n (dropout forward and backward); dst may be src. */
  maskedScale: declare(
    { n: size, src: float, keep: u8, scale: scalar, dst: float },
    { atLeast: { src: (s) => s.n, keep: (s) => s.n, dst: (s) => s.n } },
  ),
  /** dst (cols x rows) = the transpose of src (rows x cols), both row-major and contiguous. */
  transpose: declare(
    { rows: size, cols: size, src: float, dst: float },
    { atLeast: { src: (s) => s.rows * s.cols, dst: (s) => s.rows * s.cols } },
  ),
  /** y = x Phi(x) for i < n: the exact GELU, Phi(x) = (1 + erf(x / sqrt 2)) / 2. */
  gelu: declare({ n: size, x: float, y: float }, { atLeast: { x: (s) => s.n, y: (s) => s.n } }),
  /**
   * dx = g (Phi(x) + x phi(x)) for i < n, given the forward output y = gelu(x): Phi(x) is taken as
   * y / x (1/2 for |x| < 1e-30, where a float32 y may underflow), saving a second erf.
   */
  geluBackward: declare(
    { n: size, g: float, x: float, y: float, dx: float },
    { atLeast: { g: (s) => s.n, x: (s) => s.n, y: (s) => s.n, dx: (s) => s.n } },
  ),
  /**
   * LayerNorm of `rows` rows of `len` values: y = (x - mean) rstd w + b per row (w, b null: 1, 0),
   * rstd = 1 / sqrt(biased variance + eps), statistics in double; each row's mean and rstd are
   * written to `mean` and `rstd` for the backward.
   */
  layerNormRows: declare(
    {
      rows: size,
      len: size,
      x: float,
      w: orNull(float),
      b: orNull(float),
      eps: scalar,
      y: float,
      mean: f64,
      rstd: f64,
    },
    {
      atLeast: {
        x: allRows,
        w: oneRow,
        b: oneRow,
        y: allRows,
        mean: rowsLength,
        rstd: rowsLength,
      },
    },
  ),
  /**
   * LayerNorm's backward from the saved mean and rstd: dx = rstd (gh - mean(gh) - xhat mean(gh xhat))
   * with gh = g w and xhat = (x - mean) rstd; dw += sum over rows of g xhat; db += sum of g. A null
   * dx, dw or db is not computed.
   */
  layerNormBackwardRows: declare(
    {
      rows: size,
      len: size,
      g: float,
      x: float,
      w: orNull(float),
      mean: f64,
      rstd: f64,
      dx: orNull(float),
      dw: orNull(float),
      db: orNull(float),
    },
    {
      atLeast: {
        g: allRows,
        x: allRows,
        w: oneRow,
        mean: rowsLength,
        rstd: rowsLength,
        dx: allRows,
        dw: oneRow,
        db: oneRow,
      },
    },
  ),
  /**
   * keep[i] = 1 when the i-th 16-bit draw is >= threshold, else 0, for i < n; draw 2j is the low
   * half of words[j], draw 2j + 1 its high half (dropout's mask from the Generator's words).
   */
  dropoutKeep: declare(
    { n: size, words: u32, threshold: size, keep: u8 },
    { atLeast: { words: (s) => Math.ceil(s.n / 2), keep: (s) => s.n } },
  ),
  /**
   * Philox4x32-10 blocks for the Generator's bulk draws: for each of the out.length / 4 blocks
   * (out.length a multiple of 4), increments the 128-bit counter (four little-endian words, updated
   * in place) and writes the encryption of the counter under `key` (two words) to the next 4 words.
   */
  philoxBlocks: declare(
    { key: u32, counter: u32, out: u32 },
    {
      exact: { key: [() => 2, () => "2 words"], counter: [() => 4, () => "4 words"] },
      check(s) {
        if (s.out.length % 4 !== 0) {
          throw new ArgumentError(
            `philoxBlocks: out must be a Uint32Array whose length is a multiple of 4, got ${describe(s.out)}(${s.out.length})`,
          );
        }
      },
    },
  ),
  /**
   * NormalizeTotal on a block's stored values: y[p] = fl32(fl32(target x[p]) / fl32(total_i + eps))
   * for the values p of row i, float32 rounding after each operation as in torch; total_i is
   * totals[i], or with totals null the row's sum (added in double, rounded once to float32). Row i
   * spans [rowPtr[i], rowPtr[i + 1]) of x (a CSR indptr, non-decreasing from >= 0) or, when rowPtr
   * is null, [i rowLen, (i + 1) rowLen) (dense rows). y may be x. NormalizeTotal needs counts:
   * returns the position of the first negative x, its row and the rows after it left unscaled
   * (x intact there even in place), or the number of values when none is negative.
   */
  normalizeRows: declare(
    {
      rows: size,
      rowPtr: orNull(i32),
      rowLen: size,
      x: f32,
      target: scalar,
      eps: scalar,
      totals: orNull(f32),
      y: f32,
    },
    {
      returns: "number",
      atLeast: { totals: (s) => s.rows },
      check(s, kernel) {
        const values =
          s.rowPtr === null ? s.rows * s.rowLen : rowPointers(kernel, "rowPtr", s.rowPtr, s.rows);
        atLeast(kernel, "x", s.x, values);
        atLeast(kernel, "y", s.y, values);
      },
    },
  ),
  /**
   * y[i] = log1p(x[i]) for i < n, rounded once to float32 from a double computation (the correctly
   * rounded float32 log1p except within ~1e-16 relative of a rounding boundary). y may be x.
   * Log1p is for counts: returns the position of the first negative x, having stopped before the
   * block of values that holds it (x intact from there on even in place), or n when none is.
   */
  log1p: declare(
    { n: size, x: f32, y: f32 },
    { returns: "number", atLeast: { x: (s) => s.n, y: (s) => s.n } },
  ),
  /**
   * The position of the first of x[0..n) that is NaN or infinite or, with `nonnegative`, below 0
   * (-0 passes); n when there is none. The data layer's check of every block it reads. With
   * `copyTo`, x[0..n) is also copied there, whole, in the same pass (a read that checks what it
   * copies).
   */
  findBadValue: declare(
    { n: size, x: f32, nonnegative: flag, copyTo: orNull(f32) },
    { returns: "number", atLeast: { x: (s) => s.n, copyTo: (s) => s.n } },
  ),
  /**
   * The position of the first of x[0..n) that is not a whole number (NaN included; +-infinity
   * counts as whole, as for Math.trunc), or n: the count models' check for raw counts.
   */
  firstNonInteger: declare({ n: size, x: f32 }, { returns: "number", atLeast: { x: (s) => s.n } }),
  /**
   * The position of the first column index of a CSR block (rows + 1 row pointers, non-decreasing
   * from >= 0 within indices) that is outside [0, cols) or not above the index before it in its
   * row (unsorted or duplicated); indptr[rows] when every row is strictly increasing in range.
   * With `copyTo`, the indices [0, indptr[rows]) are also copied there, whole, in the same pass.
   */
  findBadIndex: declare(
    { rows: size, indptr: i32, indices: i32, cols: size, copyTo: orNull(i32) },
    {
      returns: "number",
      check(s, kernel) {
        const nnz = rowPointers(kernel, "indptr", s.indptr, s.rows);
        atLeast(kernel, "indices", s.indices, nnz);
        if (s.copyTo !== null) atLeast(kernel, "copyTo", s.copyTo, nnz);
      },
    },
  ),
  /**
   * Per-gene sums over a CSR block's stored values (the running moments of OnePassMeanVarStd):
   * moments holds three numbers per gene, [sum of d, sum of d^2, count] at 3g, 3g + 1, 3g + 2
   * (interleaved: one cache line per entry instead of three). For each p < indices.length, with
   * g = indices[p] and d = values[p] - shift[g] (shift null: 0), they grow by d, d^2 and 1. An
   * index outside [0, moments.length / 3) throws ArgumentError, after the entries before it were
   * added.
   */
  csrColumnMoments: declare(
    { indices: i32, values: f32, shift: orNull(f64), moments: f64 },
    {
      returns: "raw",
      atLeast: { values: (s) => s.indices.length },
      check(s) {
        if (s.moments.length % 3 !== 0) {
          throw new ArgumentError("csrColumnMoments: moments must be a Float64Array of 3 values per gene");
        }
        if (s.shift !== null && s.shift.length !== s.moments.length / 3) {
          throw new ArgumentError(
            `csrColumnMoments: shift must be a Float64Array of ${s.moments.length / 3} values`,
          );
        }
      },
      finish(s, stop) {
        if (stop < s.indices.length) {
          throw new ArgumentError(
            `csrColumnMoments: indices[${stop}] = ${s.indices[stop]} is outside the ${s.moments.length / 3} genes`,
          );
        }
      },
    },
  ),
  /**
   * The largest values per gene, as HVGSeuratV3's first pass keeps them: each stored value
   * values[p] of column indices[p] goes into the min-heap of slot base + indices[p], the heaps
   * holding `kept` values per slot at heaps[slot * kept, (slot + 1) * kept) and minima their
   * minima (kept apart, so that the common case, a value at or below its slot's minimum, is one
   * compare against an array that stays in cache); a value above its slot's minimum replaces it.
   * Heaps start as zeros. With `moments` (3 per column, as csrColumnMoments without a shift), each
   * value, its square and 1 are also added to moments[3 col], [3 col + 1], [3 col + 2] in the same
   * pass, in the same order as csrColumnMoments adds them. A column index outside [0, cols) throws
   * ArgumentError, after the values before it were kept.
   */
  keepLargest: declare(
    {
      indices: i32,
      values: f32,
      cols: size,
      base: size,
      kept: size,
      minima: f32,
      heaps: f32,
      moments: orNull(f64),
    },
    {
      returns: "raw",
      atLeast: {
        values: (s) => s.indices.length,
        minima: (s) => s.base + s.cols,
        heaps: (s) => (s.base + s.cols) * s.kept,
        moments: (s) => 3 * s.cols,
      },
      finish(s, stop) {
        if (stop < s.indices.length) {
          throw new ArgumentError(
            `keepLargest: indices[${stop}] = ${s.indices[stop]} is outside the ${s.cols} columns`,
          );
        }
      },
    },
  ),
  /**
   * C = X B for a CSR X (rows x cols: indptr of rows + 1 entries, non-decreasing from >= 0;
   * column indices; float values) and a dense row-major B (cols x l) of the values' dtype; C
   * (rows x l) is overwritten. O(nnz l): the sparse counterpart of GEMM on a densified X (float32
   * for IncrementalPCA's range finder, float64 for gradient checks of ops/sparse.ts). Duplicate
   * column entries add up. A column index outside [0, cols) throws ArgumentError.
   */
  csrMatmul: declare(
    { ...csrFields, b: float, l: size, c: float },
    { ...csrProductRules, atLeast: { b: (s) => s.cols * s.l, c: (s) => s.rows * s.l } },
  ),
  /** C = X^T Y for X as in csrMatmul, Y (rows x l) and C (cols x l, overwritten). */
  csrTransposeMatmul: declare(
    { ...csrFields, y: float, l: size, c: float },
    { ...csrProductRules, atLeast: { y: (s) => s.rows * s.l, c: (s) => s.cols * s.l } },
  ),
  /** One Adam / AdamW step, in place on param and the moments (src/optim/adam.ts has the formulas). */
  adamUpdate: declare(
    {
      param: float,
      grad: float,
      expAvg: float,
      expAvgSq: float,
      /** amsgrad's running maximum of expAvgSq, or null. */
      maxExpAvgSq: orNull(float),
      /** lr / (1 - beta1^step) and sqrt(1 - beta2^step). */
      stepSize: scalar,
      biasCorrection2Sqrt: scalar,
      beta1: scalar,
      beta2: scalar,
      eps: scalar,
      /** AdamW's decoupled decay 1 - lr weight_decay (1 for Adam), and Adam's L2 weight_decay (0 for AdamW). */
      decay: scalar,
      l2: scalar,
    },
    {
      exact: {
        grad: [(s) => s.param.length, () => "as param"],
        expAvg: [(s) => s.param.length, () => "as param"],
        expAvgSq: [(s) => s.param.length, () => "as param"],
        maxExpAvgSq: [(s) => s.param.length, () => "as param"],
      },
    },
  ),
  /** sum of x[i]^2 for i < n, in double. */
  sumSquares: declare({ n: size, x: float }, { returns: "number", atLeast: { x: (s) => s.n } }),
  /**
   * scVI's reconstruction term on a batch (src/tensor/ops/count-likelihood.ts): chi =
   * softmax(logits), mu = exp(logLibrary) chi + relu(additive) + eps and each row's NB (or Poisson)
   * negative log-likelihood.
   */
  countNllForward: declare(
    {
      rows: size,
      genes: size,
      logits: f32,
      ...countNllCounts,
      /** Out: the softmax of the logits, mu, and log1p(mu / theta) (null for Poisson), rows x genes. */
      chi: f32,
      mu: f32,
      ratio: orNull(f32),
      /** Out: the negative log-likelihood per row. */
      nll: f32,
    },
    {
      exact: {
        logits: perCell,
        ...countNllLengths,
        nll: perRow,
      },
      check: countNllCheck,
    },
  ),
  /** The gradients of countNllForward's nll. */
  countNllBackward: declare(
    {
      rows: size,
      genes: size,
      /** d loss / d nll per row. */
      grad: f32,
      ...countNllCounts,
      /** The forward's chi, mu and ratio. */
      chi: f32,
      mu: f32,
      ratio: orNull(f32),
      /** Out (null: not needed): the gradients of the logits, of the additive bias (before its ReLU), and, added into, of theta. */
      gLogits: orNull(f32),
      gAdditive: orNull(f32),
      gTheta: orNull(f64),
    },
    {
      exact: {
        grad: perRow,
        ...countNllLengths,
        gLogits: perCell,
        gAdditive: perCell,
      },
      check(s, kernel) {
        countNllCheck(s, kernel);
        if (s.gAdditive !== null && s.additive === null) {
          throw new ArgumentError("countNllBackward: gAdditive needs additive");
        }
        if (s.gTheta !== null && (s.theta === null || s.gTheta.length !== s.theta.length)) {
          throw new ArgumentError("countNllBackward: gTheta must be a Float64Array as long as theta");
        }
      },
    },
  ),
};

export type KernelName = keyof typeof KERNELS;

/** The argument object of a kernel, its float arrays of dtype T. */
export type KernelArgs<K extends KernelName, T extends FloatArray = FloatArray> = ArgsOf<
  (typeof KERNELS)[K]["fields"],
  T
>;

export type AdamUpdateArgs<T extends FloatArray = FloatArray> = KernelArgs<"adamUpdate", T>;
export type CountNllForwardArgs = KernelArgs<"countNllForward">;
export type CountNllBackwardArgs = KernelArgs<"countNllBackward">;
/** The fields both countNll directions share. */
export type CountNllData = Omit<CountNllForwardArgs, "logits" | "chi" | "mu" | "ratio" | "nll">;

/** One backend's implementations of every declared kernel (the "raw" ones return where they stopped). */
export type Implementations = { readonly [K in KernelName]: KernelImpl<(typeof KERNELS)[K]> };

export type Kernels = { readonly [K in KernelName]: KernelFn<(typeof KERNELS)[K]> } & {
  readonly name: "native" | "typescript";
  /** Threads used by the kernels (OpenBLAS's pool; the TypeScript kernels always use 1). */
  setNumThreads(threads: number): void;
  getNumThreads(): number;
};
