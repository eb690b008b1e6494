import type { CsrMatrix } from "../../data/matrix.js";
import { FileFormatError } from "../../errors.js";

// Rows of a CSC matrix. CSC stores each gene's column contiguously, so the values of a block of
// rows are spread over the whole of indices/data: a row block costs one sequential scan of X
// (read in chunks, so memory stays bounded whatever the file size). Callers that read many blocks
// of a small matrix convert it once (rows 0..nRows) and slice.

export interface CscSource {
  readonly nRows: number;
  readonly nCols: number;
  /** Column pointers, length nCols + 1 (float64: exact beyond int32 non-zeros). */
  readonly colPtr: Float64Array;
  readIndices(start: number, end: number): Int32Array;
  readData(start: number, end: number): Float32Array;
  /** File and element named in errors. */
  readonly where: string;
}

/** Stored values read per chunk: 4 MiB of indices plus 4 MiB of data. */
const SCAN_CHUNK = 1 << 20;

/** Rows [rowStart, rowEnd) of a CSC matrix as CSR, columns sorted within each row. */
export function readCscRows(
  source: CscSource,
  rowStart: number,
  rowEnd: number,
  chunk = SCAN_CHUNK,
): CsrMatrix {
  const { nRows, nCols, colPtr } = source;
  const nnz = colPtr[nCols]!;
  let rows = new Int32Array(1024);
  let cols = new Int32Array(1024);
  let vals = new Float32Array(1024);
  let count = 0;
  let col = 0;
  for (let start = 0; start < nnz; start += chunk) {
    const end = Math.min(nnz, start + chunk);
    const idx = source.readIndices(start, end);
    let dat: Float32Array | undefined;
    for (let p = start; p < end; p++) {
      while (colPtr[col + 1]! <= p) col++;
      const r = idx[p - start]!;
      if (r < 0 || r >= nRows) {
        throw new FileFormatError(
          `${source.where}/indices: row index ${r} at position ${p} is outside [0, ${nRows})`,
        );
      }
      if (r < rowStart || r >= rowEnd) continue;
      // Data is read only for chunks that hold a value of the block.
      dat ??= source.readData(start, end);
      if (count === rows.length) {
        rows = grow(rows);
        cols = grow(cols);
        vals = grow(vals);
      }
      rows[count] = r - rowStart;
      cols[count] = col;
      vals[count] = dat[p - start]!;
      count++;
    }
  }
  // Counting sort by row; stable, and the scan went column by column, so columns stay sorted.
  const n = rowEnd - rowStart;
  const indptr = new Int32Array(n + 1);
  for (let e = 0; e < count; e++) indptr[rows[e]! + 1]!++;
  for (let i = 0; i < n; i++) indptr[i + 1]! += indptr[i]!;
  const next = indptr.slice(0, n);
  const indices = new Int32Array(count);
  const data = new Float32Array(count);
  for (let e = 0; e < count; e++) {
    const at = next[rows[e]!]!++;
    indices[at] = cols[e]!;
    data[at] = vals[e]!;
  }
  return { format: "csr", nRows: n, nCols, indptr, indices, data };
}

function grow<T extends Int32Array | Float32Array>(a: T): T {
  const bigger = new (a.constructor as new (n: number) => T)(a.length * 2);
  bigger.set(a);
  return bigger;
}
