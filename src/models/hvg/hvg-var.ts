// HVGSeuratV3's results as the var of a genes-only AnnData, laid out as scanpy's
// highly_variable_genes(flavor="seurat_v3") leaves adata.var: one row per gene in the data's order
// (not the flavor's ranking order the CSVs use), columns highly_variable, highly_variable_rank
// (NaN where a gene never ranks), means, variances, variances_norm and, with batches,
// highly_variable_nbatches; then the data's own var columns, so that `adata.var = hvg.var` or a
// join on the gene names gives scanpy's result.

import type { ColumnInput, DataFrameInput } from "../../formats/h5ad/writer.js";
import type { HvgCsvColumns, VarColumn } from "./hvg-csv.js";

/** A data var column as stored: missing strings empty, missing numbers NaN, missing booleans false. */
function varColumnInput(column: VarColumn): ColumnInput {
  const { values } = column;
  if (column.dtype === "str")
    return { kind: "string", values: values.map((v) => (v === null ? "" : String(v))) };
  if (column.dtype === "bool") return { kind: "boolean", values: values.map((v) => v === true) };
  return { kind: "numeric", values: Float64Array.from(values, (v) => (v === null ? Number.NaN : Number(v))) };
}

export function hvgVarFrame(c: HvgCsvColumns): DataFrameInput {
  const { table } = c;
  const columns: Record<string, ColumnInput> = {
    highly_variable: { kind: "boolean", values: table.highly_variable },
    highly_variable_rank: { kind: "numeric", values: table.highly_variable_rank },
    means: { kind: "numeric", values: c.means },
    variances: { kind: "numeric", values: c.variances },
    variances_norm: { kind: "numeric", values: table.variances_norm },
    ...(c.withBatches && {
      highly_variable_nbatches: { kind: "numeric", values: table.highly_variable_nbatches },
    }),
  };
  // A data column of one of these names (an earlier run's results) gives way to this run's.
  for (const [name, column] of Object.entries(c.varColumns ?? {}))
    if (!(name in columns)) columns[name] = varColumnInput(column);
  return { index: c.var_names_g, columns };
}
