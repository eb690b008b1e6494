// The in-memory forms of a block of X. Batches keep X as CSR (single-cell counts are ~90-95%
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
