import { ArgumentError } from "../errors.js";
import type { Matrix } from "./matrix.js";

// Counts are non-negative and finite; a NaN or a negative value in X means the wrong layer or a
// damaged file, and would poison every running sum downstream.

export interface CountsReport {
  readonly nanCount: number;
  readonly negativeCount: number;
  /** The first offending value, row-major, block-relative row. */
  readonly first?: { readonly row: number; readonly col: number; readonly value: number };
}

/**
 * Scans a block of X for NaN and negative values. `where` names the file and rows in the message
 * (e.g. "data.h5ad rows 1000-2000"); with `throwOnError` a bad block throws an ArgumentError.
 */
export function checkCounts(
  block: Matrix,
  where: string,
  options: { throwOnError?: boolean } = {},
): CountsReport {
  let nanCount = 0;
  let negativeCount = 0;
  let first: CountsReport["first"];
  const { data } = block;
  for (let p = 0; p < data.length; p++) {
    const v = data[p]!;
    // One comparison for the common, valid case.
    if (v >= 0) continue;
    if (Number.isNaN(v)) nanCount++;
    else negativeCount++;
    first ??= locate(block, p, v);
  }
  const report: CountsReport =
    first === undefined ? { nanCount, negativeCount } : { nanCount, negativeCount, first };
  if (options.throwOnError && first !== undefined) {
    throw new ArgumentError(
      `${where}: X holds ${nanCount} NaN and ${negativeCount} negative values (first ${first.value} at row ${first.row}, column ${first.col}); counts must be finite and >= 0`,
    );
  }
  return report;
}

function locate(block: Matrix, p: number, value: number): { row: number; col: number; value: number } {
  if (block.format === "dense") return { row: Math.floor(p / block.nCols), col: p % block.nCols, value };
  let row = 0;
  while (block.indptr[row + 1]! <= p) row++;
  return { row, col: block.indices[p]!, value };
}
