// A predictions AnnData as predict writes one (no X; obs with a label and its prediction, obsm
// embeddings), for the report's tests: three cell types far apart in a 6-D X_scvi, a 3-D X_pca,
// and a classifier's cell_type_pred over classes in its own order.

import type { AnnDataRowWriter, RowColumnSpec, RowColumnValues } from "../../src/formats/anndata-rows.js";
import { Generator } from "../../src/tensor/random.js";

export const TYPES = ["B cell", "T cell", "NK cell"];
/** The classifier's classes in its own order, with one the cells never have. */
export const CLASSES = ["T cell", "B cell", "NK cell", "monocyte"];
export const N = 240;

export interface Predictions {
  readonly truth: number[];
  readonly predicted: number[];
  readonly pca: Float32Array;
  readonly scvi: Float32Array;
}

/** Cells of three types; X_scvi 6-D with the types far apart, X_pca 3-D; a predicted label per cell. */
export function predictions(): Predictions {
  const rng = new Generator(5);
  const truth = Array.from({ length: N }, (_, i) => i % 3);
  // Codes into CLASSES: mostly right, every seventh cell called "monocyte", every eleventh "B cell".
  const predicted = truth.map((t, i) => (i % 7 === 0 ? 3 : i % 11 === 0 ? 1 : CLASSES.indexOf(TYPES[t]!)));
  const scvi = Float32Array.from(
    { length: N * 6 },
    (_, j) => (j % 6 === truth[Math.floor(j / 6)] ? 30 : 0) + rng.nextDouble(),
  );
  const pca = Float32Array.from({ length: N * 3 }, (_, j) => j + 0.5);
  return { truth, predicted, pca, scvi };
}

export async function writePredictions(writer: AnnDataRowWriter, p: Predictions): Promise<void> {
  await writer.appendRows({
    index: Array.from({ length: N }, (_, i) => `cell_${i}`),
    columns: new Map<string, RowColumnValues>([
      ["cell_type", Int8Array.from(p.truth)],
      ["n.genes", Float64Array.from({ length: N }, (_, i) => i)],
      ["cell_type_pred", Int8Array.from(p.predicted)],
    ]),
    obsm: {
      X_pca: { format: "dense", nRows: N, nCols: 3, data: p.pca },
      X_scvi: { format: "dense", nRows: N, nCols: 6, data: p.scvi },
    },
  });
  await writer.finish({ var: { index: [] } });
}

export const COLUMNS = new Map<string, RowColumnSpec>([
  ["cell_type", { kind: "categorical", categories: TYPES }],
  ["n.genes", { kind: "numeric", dtype: "float64" }],
  ["cell_type_pred", { kind: "categorical", categories: CLASSES }],
]);
