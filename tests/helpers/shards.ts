// Small shard files for the collection and loader tests. Every value is a closed-form function of
// the cell's GLOBAL index g, so the expected rows of any batch are known without reading a file:
//   X[g, j] = 1 + (g + j) % 5 where (3g + 7j) % 4 == 0, else 0
//   obs: cell_type = CELL_TYPES[g % 3] (categorical), cell_id = g (float64), tag = "t<g>" (string)
//   obs_names = "cell<g>", var_names = "g<j>"

import { join } from "node:path";
import type { Matrix } from "../../src/data/matrix.js";
import { type ColumnInput, writeH5ad } from "../../src/formats/h5ad/writer.js";

export const CELL_TYPES = ["B cell", "T cell", "NK cell"];

export function xValue(g: number, j: number): number {
  return (3 * g + 7 * j) % 4 === 0 ? 1 + ((g + j) % 5) : 0;
}

export interface ShardSpec {
  readonly nObs: number;
  readonly nVars?: number;
  /** Dense X instead of CSR. */
  readonly dense?: boolean;
  /** The order in which this shard lists the cell types (labels stay CELL_TYPES[g % 3]). */
  readonly categories?: readonly string[];
  readonly varNames?: readonly string[];
  /** Replaces obs columns (default: cell_type, cell_id, tag). */
  readonly columns?: Record<string, ColumnInput>;
  /** Sets X at (row, column) of the shard to this value (e.g. NaN). */
  readonly poke?: { readonly row: number; readonly col: number; readonly value: number };
}

export const N_VARS = 12;

export { tempDir } from "./temp.js";

/** Writes shard_<k>.h5ad files into `dir` (global indices run on across the shards). */
export async function writeShards(
  dir: string,
  specs: readonly ShardSpec[],
  stem = "shard",
): Promise<string[]> {
  const paths: string[] = [];
  let offset = 0;
  for (const [k, spec] of specs.entries()) {
    const path = join(dir, `${stem}_${k}.h5ad`);
    await writeH5ad(path, shardData(spec, offset));
    paths.push(path);
    offset += spec.nObs;
  }
  return paths;
}

function shardData(spec: ShardSpec, offset: number) {
  const nVars = spec.nVars ?? N_VARS;
  const n = spec.nObs;
  const dense = new Float32Array(n * nVars);
  for (let i = 0; i < n; i++) for (let j = 0; j < nVars; j++) dense[i * nVars + j] = xValue(offset + i, j);
  if (spec.poke) dense[spec.poke.row * nVars + spec.poke.col] = spec.poke.value;
  const X: Matrix = spec.dense
    ? { format: "dense", nRows: n, nCols: nVars, data: dense }
    : toCsr(dense, n, nVars);
  const categories = spec.categories ?? CELL_TYPES;
  const globals = Array.from({ length: n }, (_, i) => offset + i);
  const columns: Record<string, ColumnInput> = spec.columns ?? {
    cell_type: {
      kind: "categorical",
      codes: globals.map((g) => categories.indexOf(CELL_TYPES[g % 3]!)),
      categories,
    },
    cell_id: { kind: "numeric", values: Float64Array.from(globals) },
    tag: { kind: "string", values: globals.map((g) => `t${g}`) },
  };
  return {
    X,
    obs: { index: globals.map((g) => `cell${g}`), columns },
    var: { index: spec.varNames ?? Array.from({ length: nVars }, (_, j) => `g${j}`) },
  };
}

function toCsr(dense: Float32Array, n: number, nVars: number): Matrix {
  const indptr = new Int32Array(n + 1);
  const indices: number[] = [];
  const data: number[] = [];
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < nVars; j++) {
      const v = dense[i * nVars + j]!;
      if (v !== 0) {
        indices.push(j);
        data.push(v);
      }
    }
    indptr[i + 1] = indices.length;
  }
  return {
    format: "csr",
    nRows: n,
    nCols: nVars,
    indptr,
    indices: Int32Array.from(indices),
    data: Float32Array.from(data),
  };
}

/** The expected dense rows of global cells `cells`. */
export function expectedRows(cells: ArrayLike<number>, nVars = N_VARS): number[][] {
  return Array.from(cells, (g) => Array.from({ length: nVars }, (_, j) => xValue(g, j)));
}

/** A block's rows as plain arrays (CSR or dense). */
export function denseRows(m: Matrix): number[][] {
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
