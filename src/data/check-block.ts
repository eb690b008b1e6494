import { DataValueError } from "../errors.js";
import { kernels } from "../tensor/kernels/index.js";
import type { Batch } from "./batch.js";
import { type CsrMatrix, type Matrix, storedForm } from "./matrix.js";

// The data layer's check of every block it reads from a file (X, layers, obsm), so that no
// transform or model ever sees what a matrix must not hold:
// - a NaN or an infinite value: an error (no model can train on it; it would poison every running
//   sum, and a one-pass model would write NaN rows with exit code 0);
// - a CSR column index outside [0, n_cols): an error (a kernel would put the value in another
//   gene, or another cell's row);
// - a row whose column indices are unsorted or repeated: valid for scipy, which sums duplicates
//   (sum_duplicates, and anndata's to_dense); the row is sorted and its duplicates summed here, so
//   consumers see one value per gene.
// Negative values are not refused here: z-scored or centered matrices legitimately hold them; the
// transforms and models that need counts refuse them (docs/errors.md).
// Both scans are native kernels (findBadValue, findBadIndex): ~0.1 ns per value, branch-free
// until something is found.

/**
 * Scans done while a block's arrays were copied out of the wasm heap (copyValuesChecked,
 * copyIndicesChecked) or right after a direct read into them (checkValuesInPlace,
 * checkIndicesInPlace), keyed by the array they filled: the position of the first bad entry
 * found, or the array's length. checkBlock takes them instead of passing over the arrays again. Each is
 * taken once, so a pooled array refilled later is scanned anew.
 */
const scans = new WeakMap<Float32Array | Int32Array, number>();

/**
 * Copies a block's values into `out` from offset `at`, checking them on the way (findBadValue);
 * checkBlock takes the result. A block read in pieces (h5wasm.ts readSliceInto) calls this for each
 * piece in order, and the scan stays that of the whole array: the first bad value of all pieces.
 */
export function copyValuesChecked(source: Float32Array, out: Float32Array, at = 0): void {
  const target = at === 0 && source.length === out.length ? out : out.subarray(at, at + source.length);
  scanValues(source, target, out, at);
}

/**
 * Checks a block's values already read into `out` (a direct read, hdf5/read.ts), as
 * copyValuesChecked does while copying; checkBlock takes the result.
 */
export function checkValuesInPlace(out: Float32Array): void {
  scanValues(out, null, out, 0);
}

function scanValues(source: Float32Array, copyTo: Float32Array | null, out: Float32Array, at: number): void {
  const found = at + kernels().findBadValue({ n: source.length, x: source, nonnegative: false, copyTo });
  // Pieces come in order: nothing bad so far exactly when the scan so far stopped at `at`.
  scans.set(out, at === 0 || scans.get(out) === at ? found : scans.get(out)!);
}

/**
 * Copies a CSR block's column indices into `out`, checking them on the way against the block's
 * row pointers `indptr` (from 0) and `nCols` (findBadIndex); checkBlock takes the result. The
 * check needs whole rows, so a block read in pieces (`at` > 0 or a shorter `source`) is only
 * copied, and checkBlock scans it afterwards.
 */
export function copyIndicesChecked(
  source: Int32Array,
  out: Int32Array,
  indptr: Int32Array,
  nCols: number,
  at = 0,
): void {
  if (at !== 0 || source.length !== out.length) {
    if (at === 0) scans.delete(out);
    out.set(source, at);
    return;
  }
  scanIndices(source, out, indptr, nCols, out);
}

/** Checks a block's column indices already read into `out`, as copyIndicesChecked does while copying. */
export function checkIndicesInPlace(out: Int32Array, indptr: Int32Array, nCols: number): void {
  scanIndices(out, null, indptr, nCols, out);
}

function scanIndices(
  indices: Int32Array,
  copyTo: Int32Array | null,
  indptr: Int32Array,
  nCols: number,
  out: Int32Array,
): void {
  scans.set(out, kernels().findBadIndex({ rows: indptr.length - 1, indptr, indices, cols: nCols, copyTo }));
}

function takeScan(array: Float32Array | Int32Array): number | undefined {
  const found = scans.get(array);
  scans.delete(array);
  return found;
}

/** Names a block-relative entry for messages, e.g. "cell AAAC-1 (row 1003), gene CD4". */
export type PlaceOf = (row: number, col: number) => string;

/**
 * `block` of `file`'s `element` checked as above: returned as is when valid, as a canonical copy
 * when a CSR row was unsorted or held a column twice; throws a DataValueError (a bad value or
 * index, with the block-relative row and col) naming the file, the element and the entry
 * (`placeOf`).
 */
export function checkBlock(
  block: Matrix,
  file: string,
  element: string,
  placeOf: PlaceOf = plainPlace,
): Matrix {
  if (storedForm(block) !== block) {
    // A deferred dense block (matrix.ts): its CSR form is canonical, so only its values need a check.
    checkBlock(storedForm(block), file, element, placeOf);
    return block;
  }
  const k = kernels();
  const { data } = block;
  // Both scans taken before anything throws, so that neither is left for a later fill of the array.
  const valueScan = takeScan(data);
  const indexScan = block.format === "csr" ? takeScan(block.indices) : undefined;
  const bad = valueScan ?? k.findBadValue({ n: data.length, x: data, nonnegative: false, copyTo: null });
  if (bad < data.length) {
    const { row, col } = locate(block, bad);
    const value = data[bad]!;
    throw new DataValueError(`${file}: ${element} has ${describeValue(value)} at ${placeOf(row, col)}`, {
      file,
      key: element,
      value,
      row,
      col,
    });
  }
  if (block.format === "dense") return block;
  const at =
    indexScan ??
    k.findBadIndex({
      rows: block.nRows,
      indptr: block.indptr,
      indices: block.indices,
      cols: block.nCols,
      copyTo: null,
    });
  if (at >= block.data.length) return block;
  return sortRows(block, file, element, placeOf);
}

/**
 * `batch` with each of its matrices checked as a block read from a file is (checkBlock, errors
 * naming the batch key and the row): for batches that did not come from the data layer (a
 * library user's own), which the Trainer checks before any transform sees them.
 */
export function checkBatch(batch: Batch): Batch {
  let out: Batch | undefined;
  for (const [key, value] of Object.entries(batch)) {
    if (!isMatrix(value)) continue;
    const checked = checkBlock(value, "batch", key);
    if (checked !== value) {
      out ??= { ...batch };
      (out as unknown as Record<string, unknown>)[key] = checked;
    }
  }
  return out ?? batch;
}

function isMatrix(value: unknown): value is Matrix {
  const format = (value as Matrix | null)?.format;
  return (format === "csr" || format === "dense") && storedForm(value as Matrix).data instanceof Float32Array;
}

/** "NaN", "inf", "-inf", "the negative value v" or "the value v". */
export function describeValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Number.POSITIVE_INFINITY) return "inf";
  if (value === Number.NEGATIVE_INFINITY) return "-inf";
  return value < 0 ? `the negative value ${value}` : `the value ${value}`;
}

/**
 * Throws unless `stop` is past x's values: the position of the first value a step that needs
 * counts cannot take (the first negative, as NormalizeTotal's and Log1p's kernels report it; or
 * the first negative or non-finite, as findBadValue does), left in place so it can be named;
 * `needs` says what the step takes where that is narrower (BinomialResample's whole counts). The
 * DataValueError's row is the batch row: the Trainer names the cell and file it came from
 * (BatchSource.placeOfRow).
 */
export function refuseValueAt(
  step: string,
  stop: number,
  block: Matrix,
  var_names_g?: readonly string[],
  needs = "counts (finite, >= 0)",
): void {
  // `stop` counts stored values: a deferred dense block's (matrix.ts) are its CSR form's.
  const x = storedForm(block);
  if (stop >= x.data.length) return;
  const { row, col } = locate(x, stop);
  const value = x.data[stop]!;
  const gene = var_names_g?.[col] ?? `column ${col}`;
  throw new DataValueError(
    `${step}: x_ng has ${describeValue(value)} at row ${row} of the batch, gene ${gene}; ${step} needs ${needs}: give it raw counts (X or a counts layer), or leave it out for normalized data`,
    { key: "x_ng", value, row, col },
  );
}

/**
 * The index of the first value that is not a whole number, or values.length: raw counts are whole,
 * and the count models warn otherwise (as scanpy and scvi-tools do).
 */
export function firstNonInteger(values: Float32Array): number {
  return kernels().firstNonInteger({ n: values.length, x: values });
}

/** Throws unless x holds counts (finite values >= 0), for the models that need them; one native pass. */
export function requireCounts(step: string, x: Matrix, var_names_g?: readonly string[]): void {
  // A deferred dense block (matrix.ts) through its CSR form: its zeros are counts.
  const stored = storedForm(x);
  refuseValueAt(
    step,
    kernels().findBadValue({ n: stored.data.length, x: stored.data, nonnegative: true, copyTo: null }),
    stored,
    var_names_g,
  );
}

/** The row and column of stored value `p` of a block. */
export function locate(block: Matrix, p: number): { row: number; col: number } {
  if (block.format === "dense") return { row: Math.floor(p / block.nCols), col: p % block.nCols };
  // The last row starting at or before p holds it (rows before it that start there are empty).
  let lo = 0;
  let hi = block.nRows - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if (block.indptr[mid]! <= p) lo = mid;
    else hi = mid - 1;
  }
  return { row: lo, col: block.indices[p]! };
}

function plainPlace(row: number, col: number): string {
  return `row ${row}, column ${col}`;
}

/**
 * A copy of `m` with every row's entries sorted by column and repeated columns summed (scipy's
 * sum_duplicates); throws on a column outside [0, nCols).
 */
function sortRows(m: CsrMatrix, file: string, element: string, placeOf: PlaceOf): CsrMatrix {
  const { nRows, nCols, indptr, indices, data } = m;
  const outIndptr = new Int32Array(nRows + 1);
  const outIndices = new Int32Array(indices.length);
  const outData = new Float32Array(data.length);
  let order = new Int32Array(0);
  let q = 0;
  for (let i = 0; i < nRows; i++) {
    const start = indptr[i]!;
    const end = indptr[i + 1]!;
    for (let p = start; p < end; p++) {
      const c = indices[p]!;
      if (!(c >= 0 && c < nCols)) {
        throw new DataValueError(
          `${file}: ${element}/indices holds column ${c} at ${placeOf(i, c)}, outside [0, ${nCols})`,
          { file, key: `${element}/indices`, value: c, row: i, col: c },
        );
      }
    }
    if (order.length < end - start) order = new Int32Array(end - start);
    const row = order.subarray(0, end - start);
    for (let p = start; p < end; p++) row[p - start] = p;
    row.sort((a, b) => indices[a]! - indices[b]! || a - b);
    for (const p of row) {
      if (q > outIndptr[i]! && outIndices[q - 1] === indices[p]) outData[q - 1]! += data[p]!;
      else {
        outIndices[q] = indices[p]!;
        outData[q++] = data[p]!;
      }
    }
    outIndptr[i + 1] = q;
  }
  return {
    format: "csr",
    nRows,
    nCols,
    indptr: outIndptr,
    indices: outIndices.slice(0, q),
    data: outData.slice(0, q),
  };
}
