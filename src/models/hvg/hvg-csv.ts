// The CSVs HVGSeuratV3 writes: upstream's `<stem>__top<n>.csv` (every gene, in the flavor's order)
// and `<stem>__top<n>__hvg_only.csv` (the selected genes), as pandas' DataFrame.to_csv writes them:
// the gene names as the index column "gene", booleans True/False, NaN empty, floats as Python's
// repr. Columns: scanpy's means and variances, then upstream's (highly_variable_nbatches when
// there are batches, highly_variable_rank, variances_norm, highly_variable), then the columns of
// the data's adata.var that upstream joins (sorted by name, as pandas' Index.difference gives
// them), e.g. feature_id, which upstream's configs feed to Filter.

import { csvField, pythonFloat } from "../streaming/mean-var-std-csv.js";
import type { HvgTable } from "./seurat-v3.js";

/** A column of adata.var, its values in gene order (null: missing). */
export interface VarColumn {
  readonly dtype: "int" | "float" | "str" | "bool";
  readonly values: readonly (string | number | boolean | null)[];
}

export type VarColumns = Readonly<Record<string, VarColumn>>;

export interface HvgCsvColumns {
  readonly var_names_g: readonly string[];
  readonly means: Float64Array;
  readonly variances: Float64Array;
  readonly table: HvgTable;
  readonly withBatches: boolean;
  readonly varColumns: VarColumns | null;
}

const OWN = [
  "means",
  "variances",
  "highly_variable_nbatches",
  "highly_variable_rank",
  "variances_norm",
  "highly_variable",
];

export function formatHvgCsv(c: HvgCsvColumns, selectedOnly: boolean): string {
  const { table } = c;
  const extra = Object.keys(c.varColumns ?? {})
    .filter((name) => !OWN.includes(name))
    .sort();
  const header = [
    "gene",
    "means",
    "variances",
    ...(c.withBatches ? ["highly_variable_nbatches"] : []),
    "highly_variable_rank",
    "variances_norm",
    "highly_variable",
    ...extra,
  ];
  const lines = [header.map(csvField).join(",")];
  for (const j of table.order) {
    if (selectedOnly && table.highly_variable[j] !== 1) continue;
    const fields = [
      csvField(c.var_names_g[j]!),
      pythonFloat(c.means[j]!),
      pythonFloat(c.variances[j]!),
      ...(c.withBatches ? [String(table.highly_variable_nbatches[j])] : []),
      pythonFloat(table.highly_variable_rank[j]!),
      pythonFloat(table.variances_norm[j]!),
      table.highly_variable[j] === 1 ? "True" : "False",
      ...extra.map((name) => varField(c.varColumns![name]!, j)),
    ];
    lines.push(fields.join(","));
  }
  return `${lines.join("\n")}\n`;
}

function varField(column: VarColumn, j: number): string {
  const v = column.values[j];
  if (v === null || v === undefined) return "";
  if (typeof v === "boolean") return v ? "True" : "False";
  if (typeof v === "number") return column.dtype === "int" ? String(v) : pythonFloat(v);
  return csvField(v);
}
