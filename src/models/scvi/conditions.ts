// The per-cell inputs of scVI besides the counts: batch codes, categorical covariate codes and the
// library size, read from a batch and checked (a code outside its categories is a DataValueError
// naming the key, the row and the value, never a silent one-hot of nothing).

import type { Batch } from "../../data/batch.js";
import { type Matrix, storedForm } from "../../data/matrix.js";
import { ConfigError, DataValueError } from "../../errors.js";
import { Tensor } from "../../tensor/tensor.js";

/** Codes of one per-cell categorical key, each in [0, categories). */
export function codesOf(
  batch: Batch,
  key: string,
  n: number,
  width: number,
  categories: readonly number[],
): Int32Array {
  const value = batch[key];
  if (value === undefined) {
    throw new ConfigError(
      `SingleCellVariationalInference: the batch has no ${key} (add it to data.batch_keys)`,
    );
  }
  if (!(value instanceof Int32Array) || value.length !== n * width) {
    throw new DataValueError(
      `SingleCellVariationalInference: ${key} must hold ${width === 1 ? "one category code" : `${width} category codes`} per cell (categories_to_codes), got ${describe(value)} for ${n} cells`,
      { key },
    );
  }
  for (let i = 0; i < value.length; i++) {
    const code = value[i]!;
    const limit = categories[i % width]!;
    if (!(code >= 0 && code < limit)) {
      throw new DataValueError(
        `SingleCellVariationalInference: ${key} has code ${code} at row ${Math.floor(i / width)} of the batch${width > 1 ? `, covariate ${i % width}` : ""}; the model has ${limit} categories there (a missing category is code -1)`,
        { key, value: code, row: Math.floor(i / width) },
      );
    }
  }
  return value;
}

function describe(value: unknown): string {
  if (ArrayBuffer.isView(value)) return `${value.constructor.name}(${(value as Int32Array).length})`;
  return Array.isArray(value) ? `a list of ${value.length}` : typeof value;
}

/** One-hot rows [n, categories] of codes (width 1) as a float32 tensor. */
export function oneHot(codes: Int32Array, categories: number, width = 1, column = 0): Tensor {
  const n = codes.length / width;
  const out = new Float32Array(n * categories);
  for (let i = 0; i < n; i++) out[i * categories + codes[i * width + column]!] = 1;
  return new Tensor(out, [n, categories]);
}

/** The categorical covariates' one-hots side by side, [n, sum(nCatsPerCov)]. */
export function covariatesOneHot(codes: Int32Array, nCatsPerCov: readonly number[]): Tensor {
  const width = nCatsPerCov.length;
  const n = codes.length / width;
  const total = nCatsPerCov.reduce((a, b) => a + b, 0);
  const out = new Float32Array(n * total);
  for (let i = 0; i < n; i++) {
    let offset = i * total;
    for (let d = 0; d < width; d++) {
      out[offset + codes[i * width + d]!] = 1;
      offset += nCatsPerCov[d]!;
    }
  }
  return new Tensor(out, [n, total]);
}

/**
 * log of each cell's total count, [n, 1]: the library size of scVI's likelihood. A cell without
 * counts has no library size (log 0): a DataValueError naming it.
 */
export function logLibrarySize(x_ng: Matrix, obsNames?: readonly string[]): Tensor {
  const stored = storedForm(x_ng);
  const n = stored.nRows;
  const out = new Float32Array(n);
  const totals = new Float64Array(n);
  if (stored.format === "csr") {
    for (let i = 0; i < n; i++) {
      for (let p = stored.indptr[i]!; p < stored.indptr[i + 1]!; p++) totals[i]! += stored.data[p]!;
    }
  } else {
    const g = stored.nCols;
    for (let i = 0; i < n; i++) for (let j = 0; j < g; j++) totals[i]! += stored.data[i * g + j]!;
  }
  for (let i = 0; i < n; i++) {
    if (!(totals[i]! > 0)) {
      throw new DataValueError(
        `SingleCellVariationalInference: cell ${obsNames?.[i] ?? `at row ${i} of the batch`} has no counts (library size 0, log 0 = -inf); filter out empty cells`,
        { key: "x_ng", row: i },
      );
    }
    out[i] = Math.log(Math.fround(totals[i]!));
  }
  return new Tensor(out, [n, 1]);
}

/** log of given per-cell totals (total_mrna_umis_n, for use_size_factor_key), [n, 1]. */
export function logTotals(totals: Float32Array, n: number): Tensor {
  if (totals.length !== n) {
    throw new DataValueError(
      `SingleCellVariationalInference: total_mrna_umis_n has ${totals.length} values for ${n} cells`,
      {
        key: "total_mrna_umis_n",
      },
    );
  }
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    if (!(totals[i]! > 0)) {
      throw new DataValueError(
        `SingleCellVariationalInference: total_mrna_umis_n is ${totals[i]} at row ${i} of the batch; it must be > 0`,
        { key: "total_mrna_umis_n", value: totals[i]!, row: i },
      );
    }
    out[i] = Math.log(totals[i]!);
  }
  return new Tensor(out, [n, 1]);
}
