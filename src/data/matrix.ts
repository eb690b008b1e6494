import { ArgumentError } from "../errors.js";

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

export type Matrix = CsrMatrix | DenseMatrix;

/** x_ng as a row-major dense block; a dense input is returned as is (it is never mutated). */
export function densify(x_ng: Matrix): DenseMatrix {
  if (x_ng.format === "dense") return x_ng;
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
  return { format: "dense", nRows, nCols, data: out };
}

/** x as CSR keeping its non-zeros (scipy's csr_matrix(dense)); a CSR input is returned as is. */
export function sparsify(x: Matrix): CsrMatrix {
  if (x.format === "csr") return x;
  const { nRows, nCols, data } = x;
  let nnz = 0;
  for (let p = 0; p < data.length; p++) if (data[p] !== 0) nnz++;
  const indptr = new Int32Array(nRows + 1);
  const indices = new Int32Array(nnz);
  const values = new Float32Array(nnz);
  let q = 0;
  for (let i = 0; i < nRows; i++) {
    const offset = i * nCols;
    for (let j = 0; j < nCols; j++) {
      const v = data[offset + j]!;
      if (v !== 0) {
        indices[q] = j;
        values[q++] = v;
      }
    }
    indptr[i + 1] = q;
  }
  return { format: "csr", nRows, nCols, indptr, indices, data: values };
}
