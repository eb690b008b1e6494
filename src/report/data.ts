// What a run report shows, as plain data: the rows of metrics.csv and the model attributes worth a
// plot. gather.ts fills it from the files of a run; charts.ts turns it into Vega-Lite specs. Nothing
// here reads files, so the charts can be built and tested from data alone.

import { FileFormatError } from "../errors.js";

/** metrics.csv: its header and its rows, a missing value (an empty cell) as undefined. */
export interface MetricsTable {
  readonly columns: readonly string[];
  readonly rows: readonly Readonly<Record<string, number | undefined>>[];
}

/** IncrementalPCA's explained_variance_k and, where its state has it, the data's total variance. */
export interface PcaData {
  readonly explained_variance_k: readonly number[];
  /** null for the "lowrank" algorithm, which keeps only the top k directions. */
  readonly total_variance: number | null;
}

/** HVGSeuratV3's per-gene mean and variance, and which genes it selected. */
export interface HvgData {
  readonly var_names_g: readonly string[];
  readonly means: readonly number[];
  readonly variances: readonly number[];
  readonly highly_variable: readonly boolean[];
}

export interface ReportData {
  /** A heading: the run directory or checkpoint the report is about. */
  readonly title: string;
  /** The files read, shown in the report. */
  readonly sources: { readonly metrics?: string; readonly checkpoint?: string };
  /** null: the run has no metrics.csv. */
  readonly metrics: MetricsTable | null;
  readonly model: {
    readonly className: string;
    readonly hyperparameters: Readonly<Record<string, unknown>>;
    readonly globalStep: number;
  } | null;
  readonly pca?: PcaData;
  readonly hvg?: HvgData;
}

/**
 * Parses the text of a metrics.csv (src/train/metrics.ts writes it: a header, then numbers or empty
 * cells). `file` names it in errors: a row with more cells than the header, or a cell that is not a
 * number, is a FileFormatError naming the line.
 */
export function parseMetricsCsv(text: string, file: string): MetricsTable {
  const lines = text.split(/\r?\n/).filter((line) => line.trim() !== "");
  if (lines.length === 0) return { columns: [], rows: [] };
  const columns = lines[0]!.split(",").map((c) => c.trim());
  const rows = lines.slice(1).map((line, i) => {
    const cells = line.split(",");
    if (cells.length > columns.length)
      throw new FileFormatError(
        `${file}: line ${i + 2} has ${cells.length} cells, the header ${columns.length}`,
        { file },
      );
    const row: Record<string, number | undefined> = {};
    columns.forEach((column, j) => {
      const cell = (cells[j] ?? "").trim();
      if (cell === "") return;
      const value = Number(cell);
      if (Number.isNaN(value) && cell !== "NaN")
        throw new FileFormatError(`${file}: line ${i + 2}, column ${column}: "${cell}" is not a number`, {
          file,
          key: column,
          value: cell,
        });
      row[column] = value;
    });
    return row;
  });
  return { columns, rows };
}
