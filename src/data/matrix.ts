import { ArgumentError } from "../errors.js";
import { denseToCsr } from "../tensor/ops/sparse.js";

// The in-memory forms of a block of X, and the conversions between them. Batches keep X as CSR (single-cell counts are ~90-95%
// zeros) until a transform or model needs it dense. Row-major dense blocks are what models wrap
// as tensors without copying.

/** Compressed sparse rows: row i holds data[indptr[i]..indptr[i+1]) at columns indices[...]. */
export interface CsrMatrix {
  readonly format: "csr";
  readonly nRows: number;
  readonly nCols: number;
  readonly indptr: Int32Array;
  readonly indices: Int32Array;
  readonly data: Float32Array;
}

/** Row-major dense block, nRows x nCols. */
export interface DenseMatrix {
  readonly format: "dense";
  readonly nRows: number;
  readonly nCols: number;
  readonly data: Float32Array;
}

/** A block of X in memory: CSR (single-cell counts are mostly zeros) or row-major dense. */
export type Matrix = CsrMatrix | DenseMatrix;

/** x_ng as a row-major dense block; a dense input is returned as is (it is never mutated). */
export function densify(x_ng: Matrix): DenseMatrix {
  if (x_ng.format === "dense") return x_ng;
  return { format: "dense", nRows: x_ng.nRows, nCols: x_ng.nCols, data: denseValues(x_ng) };
}

// A deferred dense block: what Densify and convert_fn densify return. Densifying a 1,000 x 20,000
// batch writes 80 MB, and every step after it then touches every zero: onepass_mean_var_std fit
// took 15x its CSR time and IncrementalPCA 4x (issue 13). Yet every transform and model here has
// a CSR path whose results do not depend on the layout, so a densified batch keeps its CSR form
// and is a "dense" matrix whose `data` is computed when someone first reads it: a model or user
// that asks for dense values still gets them, while the steps that know the CSR form
// (storedForm) never materialise it.
//
// The CSR form lives in a WeakMap, not in a property: a copy of the object ({...x, data}, a
// structured clone to a worker thread) reads `data` (materialising it) and drops the link, so
// it can never pair new values with a stale CSR form.
const csrForms = new WeakMap<DenseMatrix, CsrMatrix>();

/**
 * A dense view of `x` whose values are computed from its CSR form when `data` is first read;
 * steps that handle CSR take that form back with storedForm. A dense `x` is returned as is. A CSR
 * `x` that is not canonical (a row with unsorted or repeated columns, or an index out of range;
 * the data layer's batches always are canonical) is densified at once, so that every CSR form a
 * step takes holds one value per gene, as the dense block does.
 */
export function deferredDense(x: Matrix): DenseMatrix {
  if (x.format === "dense") return x;
  // densify sums repeated columns and names an index out of range.
  if (!isCanonical(x)) return densify(x);
  return deferCanonical(x);
}

/**
 * deferredDense of a CSR block known to be canonical without a check (~1.5 ms per 1,000 x 20,000
 * batch, which adds up when every step of a pipeline re-wraps): a block that deferredDense took
 * before (a worker's, posted to the loader), or one with the row pointers and column indices of
 * such a block (inStoredForm's values-only steps).
 */
export function deferCanonical(x: CsrMatrix): DenseMatrix {
  const view = lazyDense(x.nRows, x.nCols, () => denseValues(x));
  csrForms.set(view, x);
  return view;
}

/** A dense block whose `data` is `values()`, computed when first read. */
function lazyDense(nRows: number, nCols: number, values: () => Float32Array): DenseMatrix {
  let computed: Float32Array | undefined;
  const view = { format: "dense", nRows, nCols } as DenseMatrix;
  Object.defineProperty(view, "data", {
    enumerable: true,
    get: () => {
      computed ??= values();
      return computed;
    },
  });
  return view;
}

// A dense block whose values are a CSR block plus a per-gene offset, z = x' + 1 offset_g^T (a
// z-scored CSR batch: ZScore does not keep zeros, but the consumers that only need the block up to
// a shift of each gene, IncrementalPCA's centered products, can use the CSR part). Its dense values
// are computed, by the producer's own rule, when `data` is first read; storedForm gives the dense
// block itself, so no step can mistake the CSR part for the values.
const affineForms = new WeakMap<DenseMatrix, AffineForm>();

export interface AffineForm {
  /** Canonical CSR values x'. */
  readonly x_ng: CsrMatrix;
  /** The per-gene shift: the block's values are x' + offset_g (zeros included). */
  readonly offset_g: Float64Array;
}

/** A dense view of `form` (x' + offset_g), its values computed by `values()` when first read. */
export function deferredAffine(form: AffineForm, values: () => Float32Array): DenseMatrix {
  const view = lazyDense(form.x_ng.nRows, form.x_ng.nCols, values);
  affineForms.set(view, form);
  return view;
}

/** The CSR values and per-gene shift of a deferredAffine block, else null. */
export function affineForm(x: Matrix): AffineForm | null {
  return x.format === "dense" ? (affineForms.get(x) ?? null) : null;
}

/**
 * The array that holds x's values as stored, read without computing a deferred block's dense
 * values: whether a step changed them (compose.ts) is whether this array changed.
 */
export function storedValues(x: Matrix): Float32Array {
  const affine = affineForm(x);
  return affine !== null ? affine.x_ng.data : storedForm(x).data;
}

/** The form x's values are stored in: the CSR form of a deferred dense block, else x itself. */
export function storedForm(x: Matrix): Matrix {
  return (x.format === "dense" && csrForms.get(x)) || x;
}

/** Whether x is a deferred dense block (deferredDense), whose values are stored as CSR. */
export function isDeferredDense(x: Matrix): boolean {
  return x.format === "dense" && csrForms.has(x);
}

/**
 * f applied to x's stored form, in x's layout: a deferred dense x gives a deferred dense result
 * (f must keep zeros zero and return CSR for CSR); any other x gives f(x).
 */
export function inStoredForm(x: Matrix, f: (stored: Matrix) => Matrix): Matrix {
  const stored = storedForm(x);
  if (stored === x) return f(x);
  const out = f(stored);
  // A values-only step keeps the stored form's structure, which deferredDense checked.
  const sameStructure =
    stored.format === "csr" &&
    out.format === "csr" &&
    out.indptr === stored.indptr &&
    out.indices === stored.indices &&
    out.nCols === stored.nCols;
  return sameStructure ? deferCanonical(out) : deferredDense(out);
}

/** Each row's column indices in [0, nCols) and strictly increasing (sorted, none repeated). */
// CSR blocks known to be canonical without a scan: the data layer's (check-block.ts sorts rows and
// sums repeated columns as it reads), marked as they reach the consumer.
const canonicalBlocks = new WeakSet<CsrMatrix>();

/** Records that the CSR block `x` is canonical, so that deferredDense takes it without its scan. */
export function markCanonical(x: CsrMatrix): void {
  canonicalBlocks.add(x);
}

function isCanonical(x: CsrMatrix): boolean {
  if (canonicalBlocks.has(x)) return true;
  const { nRows, nCols, indptr, indices } = x;
  for (let i = 0; i < nRows; i++) {
    let previous = -1;
    const end = indptr[i + 1]!;
    for (let p = indptr[i]!; p < end; p++) {
      const c = indices[p]!;
      if (!(c > previous && c < nCols)) return false;
      previous = c;
    }
  }
  return true;
}

function denseValues(x_ng: CsrMatrix): Float32Array {
  const { nRows, nCols, indptr, indices, data } = x_ng;
  const out = new Float32Array(nRows * nCols);
  for (let i = 0; i < nRows; i++) {
    const offset = i * nCols;
    const end = indptr[i + 1]!;
    for (let p = indptr[i]!; p < end; p++) {
      const c = indices[p]!;
      // An index outside the row would write into another cell's row.
      if (!(c >= 0 && c < nCols)) {
        throw new ArgumentError(`densify: x_ng's column index ${c} at row ${i} is outside [0, ${nCols})`, {
          key: "x_ng",
          value: c,
        });
      }
      // += so that duplicate column entries add up, as scipy's and torch's to_dense do.
      out[offset + c] += data[p]!;
    }
  }
  return out;
}

/**
 * x as CSR keeping its non-zeros (scipy's csr_matrix(dense)); a CSR input is returned as is, a
 * deferred dense one as its CSR form.
 */
export function sparsify(input: Matrix): CsrMatrix {
  const x = storedForm(input);
  if (x.format === "csr") return x;
  const { nRows, nCols } = x;
  return { format: "csr", nRows, nCols, ...denseToCsr(x.data, nRows, nCols) };
}
