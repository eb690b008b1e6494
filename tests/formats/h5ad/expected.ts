// Helpers shared by the h5ad tests: the fixtures' expected values (written by anndata through
// scripts/make-fixtures.py) and dense views of our blocks to compare with them.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Matrix } from "../../../src/data/matrix.js";

export const FIXTURES = join(import.meta.dirname, "..", "..", "fixtures", "h5ad");

export interface ExpectedMatrix {
  encoding: string;
  dtype: string;
  shape: [number, number];
  dense: (number | null)[][];
}

export interface ExpectedColumn {
  kind: string;
  ordered?: boolean;
  categories?: (string | number)[];
  codes?: number[];
  dtype?: string;
  values?: (string | number | boolean | null)[];
  mask?: boolean[];
}

export interface ExpectedFrame {
  index: string[];
  column_order: string[];
  columns: Record<string, ExpectedColumn>;
}

export interface Expected {
  n_obs: number;
  n_vars: number;
  obs_names: string[];
  var_names: string[];
  X: ExpectedMatrix;
  obs: ExpectedFrame;
  var: ExpectedFrame;
  obsm: Record<string, ExpectedMatrix>;
  layers: Record<string, ExpectedMatrix>;
  uns: Record<string, unknown>;
}

export function expected(name: string): Expected {
  return JSON.parse(readFileSync(join(FIXTURES, `${name}.json`), "utf8")) as Expected;
}

/** Row-major float64 copy of a block (CSR or dense). */
export function toDense(m: Matrix): number[][] {
  const rows: number[][] = [];
  for (let i = 0; i < m.nRows; i++) {
    const row = new Array<number>(m.nCols).fill(0);
    if (m.format === "dense") {
      for (let j = 0; j < m.nCols; j++) row[j] = m.data[i * m.nCols + j]!;
    } else {
      for (let p = m.indptr[i]!; p < m.indptr[i + 1]!; p++) row[m.indices[p]!] = m.data[p]!;
    }
    rows.push(row);
  }
  return rows;
}

/** The values a float32 block must hold: anndata's numbers rounded to float32 (null = NaN). */
export function asFloat32(dense: (number | null)[][]): number[][] {
  return dense.map((row) => row.map((v) => (v === null ? Number.NaN : Math.fround(v))));
}
