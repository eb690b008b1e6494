// What a run report shows, as plain data: the rows of metrics.csv and the model attributes worth a
// plot. cli/report-gather.ts fills it from the files of a run, cli/report-anndata.ts from a
// predictions .h5ad/.zarr; charts.ts turns it into Vega-Lite specs. Nothing
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
  /**
   * What the bars and the total are, where not IncrementalPCA's explained_variance_k of the data's
   * total variance (ProbabilisticPCA: L_k of the model's W_variance + sigma_variance).
   */
  readonly names?: { readonly variance: string; readonly total: string };
}

/** HVGSeuratV3's per-gene mean and variance, and which genes it selected. */
export interface HvgData {
  readonly var_names_g: readonly string[];
  readonly means: readonly number[];
  readonly variances: readonly number[];
  readonly highly_variable: readonly boolean[];
}

/** A scatter of an embedding's sampled cells in the plane, coloured by an obs column. */
export interface EmbeddingData {
  /** The obsm key, e.g. X_scvi. */
  readonly key: string;
  /** "components": the embedding's first two columns; "umap": a 2-D UMAP of all its columns. */
  readonly method: "components" | "umap";
  readonly x: ArrayLike<number>;
  readonly y: ArrayLike<number>;
  /** The obs column and its value per plotted cell (null: missing); null: uncoloured. */
  readonly color: {
    readonly column: string;
    readonly values: readonly (string | number | null)[];
    /** nominal for categories, strings and booleans; quantitative for numbers. */
    readonly type: "nominal" | "quantitative";
  } | null;
  /** Cells in the file, and the seed that drew the plotted sample from them. */
  readonly totalCells: number;
  readonly seed: number;
}

/** A classifier's predicted against true labels: counts[t][p] cells of class t predicted as p. */
export interface ConfusionData {
  readonly categories: readonly string[];
  readonly counts: readonly (readonly number[])[];
  /** What the labels were compared on, e.g. "the validation split" or a predictions file's obs. */
  readonly source: string;
}

/** TDigest's per-gene medians of the non-zero values (NaN: a gene never non-zero). */
export interface MediansData {
  readonly median_g: readonly number[];
}

export interface ReportData {
  /** A heading: the run directory or checkpoint the report is about. */
  readonly title: string;
  /** The files read, shown in the report. */
  readonly sources: {
    readonly metrics?: string;
    readonly checkpoint?: string;
    readonly predictions?: string;
  };
  /** null: the run has no metrics.csv. */
  readonly metrics: MetricsTable | null;
  readonly model: {
    readonly className: string;
    readonly hyperparameters: Readonly<Record<string, unknown>>;
    readonly globalStep: number;
  } | null;
  readonly pca?: PcaData;
  readonly hvg?: HvgData;
  readonly medians?: MediansData;
  readonly embedding?: EmbeddingData;
  readonly confusion?: ConfusionData;
  /** What the data could not give a plot for, said on the page. */
  readonly notes?: readonly string[];
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
