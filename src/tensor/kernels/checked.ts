// Argument validation in front of either backend, so that both throw the same ArgumentError for the
// same mistake and the kernels themselves can assume consistent sizes. (The C addon keeps its own
// bounds checks as well: a direct call must never touch memory outside the arrays.)

import { ArgumentError } from "../../errors.js";
import type { CountNllData, FloatArray, Kernels } from "./types.js";

function count(kernel: string, name: string, value: number): void {
  if (!Number.isInteger(value) || value < 0 || value > 2147483647) {
    throw new ArgumentError(`${kernel}: ${name} must be an integer in [0, 2^31), got ${value}`);
  }
}

function sameDtype(kernel: string, first: FloatArray, name: string, other: FloatArray): void {
  if (!(first instanceof Float32Array || first instanceof Float64Array)) {
    throw new ArgumentError(`${kernel}: arrays must be Float32Array or Float64Array, got ${describe(first)}`);
  }
  if (other.constructor !== first.constructor) {
    throw new ArgumentError(`${kernel}: ${name} is a ${describe(other)}, expected ${first.constructor.name}`);
  }
}

function float32(kernel: string, name: string, array: unknown): void {
  if (!(array instanceof Float32Array)) {
    throw new ArgumentError(`${kernel}: ${name} must be a Float32Array, got ${describe(array)}`);
  }
}

/**
 * The fields both directions of countNll share; returns rows x genes. The column indices are the
 * backends' to check (each scans them while it reads them: count-nll-ts.ts, count_nll.h).
 */
function checkCountNll(kernel: string, a: CountNllData): number {
  count(kernel, "rows", a.rows);
  count(kernel, "genes", a.genes);
  const cells = a.rows * a.genes;
  float32(kernel, "logLibrary", a.logLibrary);
  exactLength(kernel, "logLibrary", a.logLibrary, a.rows, "rows");
  optionalCells(kernel, "additive", a.additive, cells, true);
  if (a.theta !== null) {
    float32(kernel, "theta", a.theta);
    if (a.theta.length !== a.genes && a.theta.length !== cells) {
      throw new ArgumentError(
        `${kernel}: theta must have genes or rows x genes elements, got ${a.theta.length}`,
      );
    }
  }
  if (!(a.indptr instanceof Int32Array) || a.indptr.length !== a.rows + 1) {
    throw new ArgumentError(`${kernel}: indptr must be an Int32Array of rows + 1 = ${a.rows + 1} entries`);
  }
  if (!(a.indices instanceof Int32Array)) throw new ArgumentError(`${kernel}: indices must be an Int32Array`);
  float32(kernel, "values", a.values);
  const limit = Math.min(a.indices.length, a.values.length);
  for (let i = 0; i < a.rows; i++) {
    if (a.indptr[i]! < 0 || a.indptr[i + 1]! < a.indptr[i]! || a.indptr[i + 1]! > limit) {
      throw new ArgumentError(`${kernel}: indptr is not non-decreasing from 0 within the values at row ${i}`);
    }
  }
  return cells;
}

/** A Float32Array of rows x genes, or null where `nullable`. */
function optionalCells(
  kernel: string,
  name: string,
  array: Float32Array | null,
  cells: number,
  nullable: boolean,
): void {
  if (array === null) {
    if (!nullable) throw new ArgumentError(`${kernel}: ${name} is needed`);
    return;
  }
  float32(kernel, name, array);
  exactLength(kernel, name, array, cells, "rows x genes");
}

function describe(value: unknown): string {
  return (value as { constructor?: { name?: string } })?.constructor?.name ?? String(value);
}

function exactLength(kernel: string, name: string, array: FloatArray, length: number, shape: string): void {
  if (array.length !== length) {
    throw new ArgumentError(
      `${kernel}: ${name} must have ${length} elements (${shape}), got ${array.length}`,
    );
  }
}

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
  count(kernel, `ld${name}`, ld);
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

function checkGemm(
  kernel: string,
  transA: boolean,
  transB: boolean,
  m: number,
  n: number,
  k: number,
  a: FloatArray,
  lda: number,
  lastA: number,
  b: FloatArray,
  ldb: number,
  lastB: number,
  c: FloatArray,
  ldc: number,
  lastC: number,
): void {
  count(kernel, "m", m);
  count(kernel, "n", n);
  count(kernel, "k", k);
  sameDtype(kernel, a, "b", b);
  sameDtype(kernel, a, "c", c);
  // A and B are read only when the product is not empty.
  const reads = m > 0 && n > 0 && k > 0;
  operand(kernel, "a", a, reads ? (transA ? k : m) : 0, transA ? m : k, lda, lastA);
  operand(kernel, "b", b, reads ? (transB ? n : k) : 0, transB ? k : n, ldb, lastB);
  operand(kernel, "c", c, m, n, ldc, lastC);
}

/** Checks that `array` (float, or the Uint8Array keep mask) has at least `needed` elements. */
function atLeast(kernel: string, name: string, array: ArrayLike<number>, needed: number): void {
  if (array.length < needed) {
    throw new ArgumentError(`${kernel}: ${name} needs ${needed} elements, got ${array.length}`);
  }
}

function keepMask(kernel: string, keep: Uint8Array, needed: number): void {
  if (!(keep instanceof Uint8Array)) {
    throw new ArgumentError(`${kernel}: keep must be a Uint8Array, got ${describe(keep)}`);
  }
  atLeast(kernel, "keep", keep, needed);
}

/** Checks the first float operand and the others (null: absent) for dtype and minimum length. */
function floatOperands(
  kernel: string,
  first: FloatArray,
  firstLength: number,
  others: ReadonlyArray<readonly [string, FloatArray | null, number]>,
): void {
  sameDtype(kernel, first, "first operand", first);
  atLeast(kernel, "first operand", first, firstLength);
  for (const [name, array, length] of others) {
    if (array === null) continue;
    sameDtype(kernel, first, name, array);
    atLeast(kernel, name, array, length);
  }
}

function statistics(kernel: string, mean: Float64Array, rstd: Float64Array, rows: number): void {
  for (const [name, array] of [
    ["mean", mean],
    ["rstd", rstd],
  ] as const) {
    if (!(array instanceof Float64Array)) {
      throw new ArgumentError(`${kernel}: ${name} must be a Float64Array, got ${describe(array)}`);
    }
    atLeast(kernel, name, array, rows);
  }
}

/**
 * Checks the row pointers of `rows` rows (a CSR indptr: an Int32Array of rows + 1 entries,
 * non-decreasing from >= 0) and returns the number of values they span.
 */
function rowPointers(kernel: string, name: string, ptr: Int32Array, rows: number): number {
  if (!(ptr instanceof Int32Array) || ptr.length < rows + 1) {
    throw new ArgumentError(`${kernel}: ${name} must be an Int32Array of at least ${rows + 1} entries`);
  }
  for (let i = 0; i < rows; i++) {
    if (!(ptr[i]! >= 0 && ptr[i + 1]! >= ptr[i]!)) {
      throw new ArgumentError(`${kernel}: ${name} is not non-decreasing from 0 at row ${i}`);
    }
  }
  return rows === 0 ? 0 : ptr[rows]!;
}

function checkCsrProduct(
  kernel: string,
  rows: number,
  cols: number,
  indptr: Int32Array,
  indices: Int32Array,
  values: Float32Array,
  dense: Float32Array,
  denseLength: number,
  denseName: string,
  l: number,
  c: Float32Array,
  cLength: number,
): void {
  count(kernel, "rows", rows);
  count(kernel, "cols", cols);
  count(kernel, "l", l);
  const nnz = rowPointers(kernel, "indptr", indptr, rows);
  if (!(indices instanceof Int32Array)) {
    throw new ArgumentError(`${kernel}: indices must be an Int32Array, got ${describe(indices)}`);
  }
  float32(kernel, "values", values);
  float32(kernel, denseName, dense);
  float32(kernel, "c", c);
  atLeast(kernel, "indices", indices, nnz);
  atLeast(kernel, "values", values, nnz);
  atLeast(kernel, denseName, dense, denseLength);
  atLeast(kernel, "c", c, cLength);
}

/** The same kernels with every argument validated first. */
export function checked(impl: Kernels): Kernels {
  return {
    name: impl.name,
    gemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) {
      checkGemm("gemm", transA, transB, m, n, k, a, lda, 0, b, ldb, 0, c, ldc, 0);
      impl.gemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    },
    gemmBatched(
      transA,
      transB,
      m,
      n,
      k,
      alpha,
      a,
      lda,
      strideA,
      b,
      ldb,
      strideB,
      beta,
      c,
      ldc,
      strideC,
      batch,
    ) {
      count("gemmBatched", "batch", batch);
      count("gemmBatched", "strideA", strideA);
      count("gemmBatched", "strideB", strideB);
      count("gemmBatched", "strideC", strideC);
      // The last product of the batch reaches furthest into each array.
      const last = Math.max(0, batch - 1);
      if (batch > 0) {
        checkGemm(
          "gemmBatched",
          transA,
          transB,
          m,
          n,
          k,
          a,
          lda,
          last * strideA,
          b,
          ldb,
          last * strideB,
          c,
          ldc,
          last * strideC,
        );
      }
      impl.gemmBatched(
        transA,
        transB,
        m,
        n,
        k,
        alpha,
        a,
        lda,
        strideA,
        b,
        ldb,
        strideB,
        beta,
        c,
        ldc,
        strideC,
        batch,
      );
    },
    qr(m, n, a, q, r) {
      count("qr", "m", m);
      count("qr", "n", n);
      const k = Math.min(m, n);
      sameDtype("qr", a, "q", q);
      sameDtype("qr", a, "r", r);
      exactLength("qr", "a", a, m * n, `${m} x ${n}`);
      exactLength("qr", "q", q, m * k, `${m} x ${k}`);
      exactLength("qr", "r", r, k * n, `${k} x ${n}`);
      impl.qr(m, n, a, q, r);
    },
    svd(m, n, a, u, s, vt) {
      count("svd", "m", m);
      count("svd", "n", n);
      const k = Math.min(m, n);
      sameDtype("svd", a, "s", s);
      exactLength("svd", "a", a, m * n, `${m} x ${n}`);
      exactLength("svd", "s", s, k, `${k}`);
      if ((u === null) !== (vt === null))
        throw new ArgumentError("svd: u and vt must be both arrays or both null");
      if (u !== null && vt !== null) {
        sameDtype("svd", a, "u", u);
        sameDtype("svd", a, "vt", vt);
        exactLength("svd", "u", u, m * k, `${m} x ${k}`);
        exactLength("svd", "vt", vt, k * n, `${k} x ${n}`);
      }
      impl.svd(m, n, a, u, s, vt);
    },
    eigh(n, a, w, v) {
      count("eigh", "n", n);
      sameDtype("eigh", a, "w", w);
      sameDtype("eigh", a, "v", v);
      exactLength("eigh", "a", a, n * n, `${n} x ${n}`);
      exactLength("eigh", "w", w, n, `${n}`);
      exactLength("eigh", "v", v, n * n, `${n} x ${n}`);
      impl.eigh(n, a, w, v);
    },
    solve(n, nrhs, a, b, x) {
      count("solve", "n", n);
      count("solve", "nrhs", nrhs);
      sameDtype("solve", a, "b", b);
      sameDtype("solve", a, "x", x);
      exactLength("solve", "a", a, n * n, `${n} x ${n}`);
      exactLength("solve", "b", b, n * nrhs, `${n} x ${nrhs}`);
      exactLength("solve", "x", x, n * nrhs, `${n} x ${nrhs}`);
      impl.solve(n, nrhs, a, b, x);
    },
    cholesky(n, a, l) {
      count("cholesky", "n", n);
      sameDtype("cholesky", a, "l", l);
      exactLength("cholesky", "a", a, n * n, `${n} x ${n}`);
      exactLength("cholesky", "l", l, n * n, `${n} x ${n}`);
      impl.cholesky(n, a, l);
    },
    softmaxRows(rows, len, x, bias) {
      count("softmaxRows", "rows", rows);
      count("softmaxRows", "len", len);
      sameDtype("softmaxRows", x, "x", x);
      atLeast("softmaxRows", "x", x, rows * len);
      if (bias !== null) {
        sameDtype("softmaxRows", x, "bias", bias);
        atLeast("softmaxRows", "bias", bias, len);
      }
      impl.softmaxRows(rows, len, x, bias);
    },
    softmaxBackwardRows(rows, len, p, g, keep, keepScale) {
      count("softmaxBackwardRows", "rows", rows);
      count("softmaxBackwardRows", "len", len);
      sameDtype("softmaxBackwardRows", p, "g", g);
      atLeast("softmaxBackwardRows", "p", p, rows * len);
      atLeast("softmaxBackwardRows", "g", g, rows * len);
      if (keep !== null) keepMask("softmaxBackwardRows", keep, rows * len);
      impl.softmaxBackwardRows(rows, len, p, g, keep, keepScale);
    },
    transpose(rows, cols, src, dst) {
      count("transpose", "rows", rows);
      count("transpose", "cols", cols);
      sameDtype("transpose", src, "dst", dst);
      atLeast("transpose", "src", src, rows * cols);
      atLeast("transpose", "dst", dst, rows * cols);
      impl.transpose(rows, cols, src, dst);
    },
    maskedScale(n, src, keep, scale, dst) {
      count("maskedScale", "n", n);
      sameDtype("maskedScale", src, "dst", dst);
      atLeast("maskedScale", "src", src, n);
      atLeast("maskedScale", "dst", dst, n);
      keepMask("maskedScale", keep, n);
      impl.maskedScale(n, src, keep, scale, dst);
    },
    normalizeRows(rows, rowPtr, rowLen, x, target, eps, totals, y) {
      count("normalizeRows", "rows", rows);
      count("normalizeRows", "rowLen", rowLen);
      float32("normalizeRows", "x", x);
      float32("normalizeRows", "y", y);
      if (totals !== null) {
        float32("normalizeRows", "totals", totals);
        atLeast("normalizeRows", "totals", totals, rows);
      }
      const values = rowPtr === null ? rows * rowLen : rowPointers("normalizeRows", "rowPtr", rowPtr, rows);
      atLeast("normalizeRows", "x", x, values);
      atLeast("normalizeRows", "y", y, values);
      return impl.normalizeRows(rows, rowPtr, rowLen, x, target, eps, totals, y);
    },
    csrColumnMoments(indices, values, shift, moments) {
      if (!(indices instanceof Int32Array)) {
        throw new ArgumentError(`csrColumnMoments: indices must be an Int32Array, got ${describe(indices)}`);
      }
      float32("csrColumnMoments", "values", values);
      atLeast("csrColumnMoments", "values", values, indices.length);
      if (!(moments instanceof Float64Array) || moments.length % 3 !== 0) {
        throw new ArgumentError("csrColumnMoments: moments must be a Float64Array of 3 values per gene");
      }
      if (shift !== null && (!(shift instanceof Float64Array) || shift.length !== moments.length / 3)) {
        throw new ArgumentError(
          `csrColumnMoments: shift must be a Float64Array of ${moments.length / 3} values`,
        );
      }
      impl.csrColumnMoments(indices, values, shift, moments);
    },
    adamUpdate(args) {
      const n = args.param.length;
      for (const [name, array] of [
        ["grad", args.grad],
        ["expAvg", args.expAvg],
        ["expAvgSq", args.expAvgSq],
        ["maxExpAvgSq", args.maxExpAvgSq],
      ] as const) {
        if (array === null) continue;
        sameDtype("adamUpdate", args.param, name, array);
        exactLength("adamUpdate", name, array, n, "as param");
      }
      impl.adamUpdate(args);
    },
    sumSquares(n, x) {
      count("sumSquares", "n", n);
      sameDtype("sumSquares", x, "x", x);
      if (x.length < n) throw new ArgumentError(`sumSquares: x has ${x.length} elements, needs ${n}`);
      return impl.sumSquares(n, x);
    },
    countNllForward(args) {
      const cells = checkCountNll("countNllForward", args);
      for (const [name, array] of [
        ["logits", args.logits],
        ["chi", args.chi],
        ["mu", args.mu],
      ] as const) {
        float32("countNllForward", name, array);
        exactLength("countNllForward", name, array, cells, "rows x genes");
      }
      optionalCells("countNllForward", "ratio", args.ratio, cells, args.theta === null);
      float32("countNllForward", "nll", args.nll);
      exactLength("countNllForward", "nll", args.nll, args.rows, "rows");
      impl.countNllForward(args);
    },
    countNllBackward(args) {
      const cells = checkCountNll("countNllBackward", args);
      float32("countNllBackward", "grad", args.grad);
      exactLength("countNllBackward", "grad", args.grad, args.rows, "rows");
      for (const [name, array] of [
        ["chi", args.chi],
        ["mu", args.mu],
      ] as const) {
        float32("countNllBackward", name, array);
        exactLength("countNllBackward", name, array, cells, "rows x genes");
      }
      optionalCells("countNllBackward", "ratio", args.ratio, cells, args.theta === null);
      optionalCells("countNllBackward", "gLogits", args.gLogits, cells, true);
      optionalCells("countNllBackward", "gAdditive", args.gAdditive, cells, true);
      if (args.gAdditive !== null && args.additive === null) {
        throw new ArgumentError("countNllBackward: gAdditive needs additive");
      }
      if (args.gTheta !== null) {
        if (
          !(args.gTheta instanceof Float64Array) ||
          args.theta === null ||
          args.gTheta.length !== args.theta.length
        ) {
          throw new ArgumentError("countNllBackward: gTheta must be a Float64Array as long as theta");
        }
      }
      impl.countNllBackward(args);
    },
    csrMatmul(rows, cols, indptr, indices, values, b, l, c) {
      checkCsrProduct("csrMatmul", rows, cols, indptr, indices, values, b, cols * l, "b", l, c, rows * l);
      impl.csrMatmul(rows, cols, indptr, indices, values, b, l, c);
    },
    csrTransposeMatmul(rows, cols, indptr, indices, values, y, l, c) {
      checkCsrProduct(
        "csrTransposeMatmul",
        rows,
        cols,
        indptr,
        indices,
        values,
        y,
        rows * l,
        "y",
        l,
        c,
        cols * l,
      );
      impl.csrTransposeMatmul(rows, cols, indptr, indices, values, y, l, c);
    },
    log1p(n, x, y) {
      count("log1p", "n", n);
      float32("log1p", "x", x);
      float32("log1p", "y", y);
      atLeast("log1p", "x", x, n);
      atLeast("log1p", "y", y, n);
      return impl.log1p(n, x, y);
    },
    findBadValue(n, x, nonnegative, copyTo) {
      count("findBadValue", "n", n);
      float32("findBadValue", "x", x);
      atLeast("findBadValue", "x", x, n);
      if (copyTo !== null) {
        float32("findBadValue", "copyTo", copyTo);
        atLeast("findBadValue", "copyTo", copyTo, n);
      }
      return impl.findBadValue(n, x, nonnegative === true, copyTo);
    },
    findBadIndex(rows, indptr, indices, cols, copyTo) {
      count("findBadIndex", "rows", rows);
      count("findBadIndex", "cols", cols);
      for (const [name, array] of [
        ["indices", indices],
        ["copyTo", copyTo ?? new Int32Array(0)],
      ] as const) {
        if (!(array instanceof Int32Array)) {
          throw new ArgumentError(`findBadIndex: ${name} must be an Int32Array, got ${describe(array)}`);
        }
      }
      const nnz = rowPointers("findBadIndex", "indptr", indptr, rows);
      atLeast("findBadIndex", "indices", indices, nnz);
      if (copyTo !== null) atLeast("findBadIndex", "copyTo", copyTo, nnz);
      return impl.findBadIndex(rows, indptr, indices, cols, copyTo);
    },
    gelu(n, x, y) {
      count("gelu", "n", n);
      sameDtype("gelu", x, "y", y);
      atLeast("gelu", "x", x, n);
      atLeast("gelu", "y", y, n);
      impl.gelu(n, x, y);
    },
    geluBackward(n, g, x, y, dx) {
      count("geluBackward", "n", n);
      for (const [name, array] of [
        ["x", x],
        ["y", y],
        ["dx", dx],
      ] as const) {
        sameDtype("geluBackward", g, name, array);
        atLeast("geluBackward", name, array, n);
      }
      atLeast("geluBackward", "g", g, n);
      impl.geluBackward(n, g, x, y, dx);
    },
    layerNormRows(rows, len, x, w, b, eps, y, mean, rstd) {
      const name = "layerNormRows";
      count(name, "rows", rows);
      count(name, "len", len);
      floatOperands(name, x, rows * len, [
        ["w", w, len],
        ["b", b, len],
        ["y", y, rows * len],
      ]);
      statistics(name, mean, rstd, rows);
      impl.layerNormRows(rows, len, x, w, b, eps, y, mean, rstd);
    },
    layerNormBackwardRows(rows, len, g, x, w, mean, rstd, dx, dw, db) {
      const name = "layerNormBackwardRows";
      count(name, "rows", rows);
      count(name, "len", len);
      floatOperands(name, g, rows * len, [
        ["x", x, rows * len],
        ["w", w, len],
        ["dx", dx, rows * len],
        ["dw", dw, len],
        ["db", db, len],
      ]);
      statistics(name, mean, rstd, rows);
      impl.layerNormBackwardRows(rows, len, g, x, w, mean, rstd, dx, dw, db);
    },
    dropoutKeep(n, words, threshold, keep) {
      count("dropoutKeep", "n", n);
      count("dropoutKeep", "threshold", threshold);
      if (!(words instanceof Uint32Array)) {
        throw new ArgumentError(`dropoutKeep: words must be a Uint32Array, got ${describe(words)}`);
      }
      atLeast("dropoutKeep", "words", words, Math.ceil(n / 2));
      keepMask("dropoutKeep", keep, n);
      impl.dropoutKeep(n, words, threshold, keep);
    },
    philoxBlocks(key, counter, out) {
      for (const [name, array, length] of [
        ["key", key, 2],
        ["counter", counter, 4],
      ] as const) {
        if (!(array instanceof Uint32Array) || array.length !== length) {
          throw new ArgumentError(
            `philoxBlocks: ${name} must be a Uint32Array of ${length} words, got ${describe(array)}(${array?.length})`,
          );
        }
      }
      if (!(out instanceof Uint32Array) || out.length % 4 !== 0) {
        throw new ArgumentError(
          `philoxBlocks: out must be a Uint32Array whose length is a multiple of 4, got ${describe(out)}(${out?.length})`,
        );
      }
      impl.philoxBlocks(key, counter, out);
    },
    setNumThreads(threads) {
      if (!Number.isInteger(threads) || threads < 1 || threads > 1024) {
        throw new ArgumentError(`setNumThreads: threads must be an integer in [1, 1024], got ${threads}`);
      }
      impl.setNumThreads(threads);
    },
    getNumThreads: () => impl.getNumThreads(),
  };
}
