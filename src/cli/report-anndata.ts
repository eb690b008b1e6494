// The report of an AnnData of predictions (.h5ad or AnnData-Zarr, as `predict` writes them): an
// embedding scatter of an obsm embedding (its first two components, or a UMAP of it) coloured by an
// obs column, and the confusion matrix of a classifier's obs `<label>_pred` against obs `<label>`.

import { basename, dirname, join } from "node:path";
import { densify } from "../data/matrix.js";
import { ArgumentError } from "../errors.js";
import type { DataFrameColumn } from "../formats/h5ad/dataframe.js";
import { AnnDataFile } from "../formats/h5ad/reader.js";
import { openZarrAnnData } from "../formats/zarr/reader.js";
import type { ConfusionData, EmbeddingData, ReportData } from "../report/data.js";
import { firstTwoColumns, MAX_EMBEDDING_CELLS, sampleCells, umapPlane } from "../report/embedding.js";

/** What the user chose for the scatter (`cellarium report preds.h5ad --color ... --embedding ... --umap`). */
export interface EmbeddingOptions {
  /** The obs column that colours the points; default: the first categorical column. */
  readonly color?: string;
  /** The obsm key; default: the first key named X_*. */
  readonly embedding?: string;
  /** UMAP of the embedding (true) or its first two columns (false); default: UMAP unless X_pca or 2 columns. */
  readonly umap?: boolean;
  /** Draws the sample of cells and seeds the UMAP (default 0). */
  readonly seed?: number;
}

/** An .h5ad or a .zarr store, read the same way. */
interface PredictionsFile {
  readonly nObs: number;
  readonly obsColumns: readonly string[];
  readonly obsmKeys: readonly string[];
  obsmRows(key: string, start: number, end: number): Promise<{ data: ArrayLike<number>; k: number }>;
  obsColumn(name: string): Promise<DataFrameColumn>;
  close(): void;
}

/** Whether `path` names an AnnData file or store rather than a run directory or checkpoint. */
export function isAnnDataPath(path: string): boolean {
  return /\.(h5ad|zarr)\/*$/.test(path);
}

/** The default folder of a predictions file's report: `<dir>/<name>_report` beside it. */
export function predictionsReportDir(path: string): string {
  const file = path.replace(/\/+$/, "");
  return join(dirname(file), `${basename(file).replace(/\.(h5ad|zarr)$/, "")}_report`);
}

async function openPredictions(path: string): Promise<PredictionsFile> {
  if (/\.zarr\/*$/.test(path)) return { ...(await openZarrAnnData(path)), close: () => {} };
  const file = await AnnDataFile.open(path);
  return {
    nObs: file.nObs,
    obsColumns: file.obs.columns,
    obsmKeys: file.obsmKeys(),
    obsmRows: async (key, start, end) => {
      const block = densify(file.obsm(key, start, end));
      return { data: block.data, k: block.nCols };
    },
    obsColumn: async (name) => file.obs.column(name),
    close: () => file.close(),
  };
}

/** Rows read per obsm block: the sampled rows are picked from blocks of this many cells. */
const BLOCK_ROWS = 16_384;

/** The sampled rows of obsm[key], row-major, and its width. */
async function sampledRows(
  file: PredictionsFile,
  key: string,
  rows: Int32Array,
): Promise<{ data: Float64Array; k: number }> {
  let out = new Float64Array(0);
  let k = 0;
  let next = 0;
  for (let start = 0; start < file.nObs && next < rows.length; start += BLOCK_ROWS) {
    const end = Math.min(file.nObs, start + BLOCK_ROWS);
    if (rows[next]! >= end) continue;
    const block = await file.obsmRows(key, start, end);
    if (out.length === 0) {
      k = block.k;
      out = new Float64Array(rows.length * k);
    }
    for (; next < rows.length && rows[next]! < end; next++)
      for (let j = 0; j < k; j++) out[next * k + j] = block.data[(rows[next]! - start) * k + j]!;
  }
  return { data: out, k };
}

/** A column's value per row, and how it is coloured. */
function columnValues(column: DataFrameColumn): {
  values: (string | number | null)[];
  type: "nominal" | "quantitative";
} {
  switch (column.kind) {
    case "categorical":
      return {
        values: Array.from(column.codes, (c) => (c < 0 ? null : String(column.categories[c]))),
        type: "nominal",
      };
    case "string":
      return { values: [...column.values], type: "nominal" };
    case "boolean":
      return { values: Array.from(column.values, (v) => String(v !== 0)), type: "nominal" };
    case "nullable-boolean":
      return {
        values: Array.from(column.values, (v, i) => (column.mask[i] ? null : String(v !== 0))),
        type: "nominal",
      };
    case "numeric":
      return { values: Array.from(column.values, (v) => (Number.isNaN(v) ? null : v)), type: "quantitative" };
    case "nullable-integer":
      return {
        values: Array.from(column.values, (v, i) => (column.mask[i] ? null : v)),
        type: "quantitative",
      };
  }
}

function chooseEmbedding(file: PredictionsFile, path: string, asked: string | undefined): string | null {
  if (asked === undefined) return file.obsmKeys.find((key) => key.startsWith("X_")) ?? null;
  if (!file.obsmKeys.includes(asked))
    throw new ArgumentError(
      `${path}: no obsm embedding '${asked}' (--embedding); obsm has: ${file.obsmKeys.join(", ") || "nothing"}`,
      { file: path, key: "--embedding", value: asked },
    );
  return asked;
}

async function chooseColor(file: PredictionsFile, path: string, asked: string | undefined) {
  if (asked !== undefined && !file.obsColumns.includes(asked))
    throw new ArgumentError(
      `${path}: no obs column '${asked}' (--color); obs has: ${file.obsColumns.join(", ") || "no columns"}`,
      { file: path, key: "--color", value: asked },
    );
  if (asked !== undefined) return { column: asked, ...columnValues(await file.obsColumn(asked)) };
  for (const name of file.obsColumns) {
    const column = await file.obsColumn(name);
    if (column.kind === "categorical") return { column: name, ...columnValues(column) };
  }
  return null;
}

async function embeddingData(
  file: PredictionsFile,
  path: string,
  options: EmbeddingOptions,
): Promise<EmbeddingData | null> {
  const key = chooseEmbedding(file, path, options.embedding);
  const color = await chooseColor(file, path, options.color);
  if (key === null || file.nObs === 0) return null;
  const seed = options.seed ?? 0;
  const rows = sampleCells(file.nObs, MAX_EMBEDDING_CELLS, seed);
  const { data, k } = await sampledRows(file, key, rows);
  // PCA's first two components are its two largest axes of variance; other latents (scVI,
  // Geneformer) spread their structure over every dimension, which a UMAP shows.
  const umap = options.umap ?? (key !== "X_pca" && k > 2);
  if (!umap && k < 2)
    throw new ArgumentError(`${path}: obsm/${key} has ${k} column(s); a scatter of its components needs 2`, {
      file: path,
      key: "--embedding",
      value: key,
    });
  const plane = umap ? umapPlane(data, rows.length, k, seed) : firstTwoColumns(data, rows.length, k);
  return {
    key,
    method: umap ? "umap" : "components",
    ...plane,
    color: color && {
      column: color.column,
      type: color.type,
      values: Array.from(rows, (r) => color.values[r]!),
    },
    totalCells: file.nObs,
    seed,
  };
}

/**
 * The confusion matrix of the first obs `<label>_pred` column whose `<label>` is a column too
 * (predict copies the input's obs, so a classifier run on labelled cells has both), over every cell.
 */
async function confusionData(file: PredictionsFile): Promise<ConfusionData | null> {
  const label = file.obsColumns.find((c) => c.endsWith("_pred") && file.obsColumns.includes(c.slice(0, -5)));
  if (label === undefined) return null;
  const truth = columnValues(await file.obsColumn(label.slice(0, -5))).values;
  const predictedColumn = await file.obsColumn(label);
  const predicted = columnValues(predictedColumn).values;
  const categories: string[] = [];
  const index = new Map<string, number>();
  // The predicted column's categories (the model's classes) first, then true labels it never predicts.
  const classes = predictedColumn.kind === "categorical" ? predictedColumn.categories.map(String) : [];
  for (const value of [...classes, ...predicted, ...truth]) {
    if (value === null || index.has(String(value))) continue;
    index.set(String(value), categories.length);
    categories.push(String(value));
  }
  const counts = categories.map(() => new Array<number>(categories.length).fill(0));
  for (let i = 0; i < file.nObs; i++) {
    const t = truth[i];
    const p = predicted[i];
    if (t === null || t === undefined || p === null || p === undefined) continue;
    counts[index.get(String(t))!]![index.get(String(p))!]!++;
  }
  return { categories, counts, source: `obs["${label.slice(0, -5)}"] of the predicted cells` };
}

/** The data of the report on the predictions file `path`. */
export async function gatherPredictionsReport(path: string, options: EmbeddingOptions): Promise<ReportData> {
  const file = await openPredictions(path);
  try {
    const embedding = await embeddingData(file, path, options);
    const confusion = await confusionData(file);
    const notes = embedding
      ? []
      : [
          `obsm has no X_* embedding (${file.obsmKeys.join(", ") || "no entries"}): no embedding scatter; --embedding names another key.`,
        ];
    return {
      notes,
      title: path,
      sources: { predictions: path },
      metrics: null,
      model: null,
      ...(embedding && { embedding }),
      ...(confusion && { confusion }),
    };
  } finally {
    file.close();
  }
}
