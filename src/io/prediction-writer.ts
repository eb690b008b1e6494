// Writes predictions, one file per run (upstream's PredictionWriter writes one headerless CSV per
// batch): `predictions.csv.gz` (or .csv) with a header, obs_names_n first, then any requested obs
// fields, then the prediction's columns (named by the output's var_names_g, e.g. PC1..PC50, else
// <key>_0, <key>_1, ...); or an AnnData (anndata-predictions.ts) when output_dir ends in .h5ad or
// .zarr (that file or AnnData-Zarr store) or format is h5ad or zarr (`predictions.h5ad` or
// `predictions.zarr` in output_dir): the input cells' obs with the prediction under scanpy's names
// (anndata-layout.ts). Files and stores are written to a temporary name and renamed when complete;
// a failure to write (a full disk) is an OutputError naming the file, and the temporary file or
// directory is removed.

import { once } from "node:events";
import { createWriteStream, type WriteStream } from "node:fs";
import { mkdir, rename, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { finished } from "node:stream/promises";
import { createGzip, type Gzip } from "node:zlib";
import { outputError, temporarySibling } from "../data/atomic-file.js";
import type { Batch, BatchValue } from "../data/batch.js";
import type { DenseMatrix } from "../data/matrix.js";
import { densify } from "../data/matrix.js";
import { ArgumentError, ConfigError } from "../errors.js";
import type { PredictOutput } from "../models/model.js";
import { csvField } from "../models/streaming/mean-var-std-csv.js";
import { Tensor } from "../tensor/tensor.js";
import type { AnnDataLayout } from "./anndata-layout.js";
import { AnnDataPredictions, type ObsSource } from "./anndata-predictions.js";

export interface PredictionWriterOptions {
  readonly outputDir: string;
  /** The config key that chose outputDir, named in errors (e.g. trainer.callbacks.0.init_args.output_dir). */
  readonly outputDirKey?: string;
  /** The predict output written (upstream's default x_ng). */
  readonly key?: string;
  /** Only the first this many columns. */
  readonly predictionSize?: number | null;
  /** Per-cell batch keys written before the prediction (e.g. obs columns). */
  readonly fieldNames?: readonly string[];
  readonly gzip?: boolean;
  /** Default: h5ad or zarr when outputDir ends in .h5ad or .zarr (the file or store itself), else csv. */
  readonly format?: PredictionFormat;
  /** The obsm key of an AnnData's prediction when the layout has none of its own (default: the key). */
  readonly obsmKey?: string | null;
}

export type PredictionFormat = "csv" | "h5ad" | "zarr";

/** What an AnnData output needs beyond the options: where the model's results go, the input's obs. */
export interface PredictionContext {
  readonly layout?: AnnDataLayout;
  readonly obs?: ObsSource;
}

/** The format written: the option, else h5ad or zarr for an output_dir ending in .h5ad or .zarr, else csv. */
export function predictionFormat(options: PredictionWriterOptions): PredictionFormat {
  const dir = options.outputDir.replace(/\/+$/, "");
  return options.format ?? (dir.endsWith(".h5ad") ? "h5ad" : dir.endsWith(".zarr") ? "zarr" : "csv");
}

/** The file written: output_dir itself when it ends in .h5ad or .zarr, else predictions.{csv.gz,csv,h5ad,zarr} in it. */
export function predictionPath(options: PredictionWriterOptions): string {
  const format = predictionFormat(options);
  const dir = options.outputDir.replace(/\/+$/, "");
  if (format !== "csv" && dir.endsWith(`.${format}`)) return dir;
  const name =
    format === "csv" ? `predictions.csv${(options.gzip ?? true) ? ".gz" : ""}` : `predictions.${format}`;
  return join(options.outputDir, name);
}

/** Rows of a per-cell output as a dense n x k block (a vector is one column). */
function asRows(value: BatchValue | Tensor | undefined, key: string): DenseMatrix {
  if (value instanceof Tensor) {
    const data = value.data instanceof Float32Array ? value.data : Float32Array.from(value.data);
    if (value.shape.length === 1) return { format: "dense", nRows: value.shape[0]!, nCols: 1, data };
    if (value.shape.length === 2)
      return { format: "dense", nRows: value.shape[0]!, nCols: value.shape[1]!, data };
    throw new ArgumentError(
      `prediction "${key}" has shape [${value.shape}]; only per-cell vectors and matrices can be written`,
    );
  }
  if (value && typeof value === "object" && "format" in value)
    return value.format === "dense" ? value : densify(value);
  if (value instanceof Float32Array || value instanceof Float64Array || value instanceof Int32Array) {
    return { format: "dense", nRows: value.length, nCols: 1, data: Float32Array.from(value) };
  }
  throw new ConfigError(`the model's predict output has no per-cell "${key}"`);
}

/**
 * Writes `Trainer.predict`'s outputs, batch by batch, to a CSV (upstream's PredictionWriter
 * callback: the obs names, the requested fields, then the prediction's columns) or into an .h5ad or
 * .zarr AnnData (the prediction in obsm). The file appears under its name only on `close()`.
 */
export class PredictionWriter {
  readonly path: string;
  private readonly key: string;
  private readonly tmp: string;
  private stream: WriteStream | null = null;
  private gzip: Gzip | null = null;
  /** The first error of the file or gzip stream (a full disk), which may come after any write. */
  private failure: { error: unknown } | null = null;
  /** Rejects with that error. */
  private failed: Promise<never> = new Promise<never>(() => {});
  private headerWritten = false;
  readonly format: PredictionFormat;
  private anndata: AnnDataPredictions | null = null;

  constructor(
    private readonly options: PredictionWriterOptions,
    private readonly context: PredictionContext = {},
  ) {
    this.key = options.key ?? "x_ng";
    this.format = predictionFormat(options);
    this.path = predictionPath(options);
    this.tmp = temporarySibling(this.path);
  }

  /** Cells renamed to keep an AnnData's obs_names unique. */
  get renamed(): number {
    return this.anndata?.renamed ?? 0;
  }

  private async open(): Promise<void> {
    await this.guard(mkdir(dirname(this.path), { recursive: true }));
    const stream = createWriteStream(this.tmp);
    const gzip = (this.options.gzip ?? true) ? createGzip() : null;
    this.failed = new Promise<never>((_, reject) => {
      const fail = (error: unknown) => {
        this.failure ??= { error };
        reject(error);
      };
      stream.on("error", fail);
      gzip?.on("error", fail);
    });
    this.failed.catch(() => {});
    gzip?.pipe(stream);
    this.stream = stream;
    this.gzip = gzip;
  }

  /** Waits for `work` or the streams' first error; a system error becomes an OutputError naming the file. */
  private async guard<T>(work: Promise<T>): Promise<T> {
    this.throwIfFailed();
    try {
      return await Promise.race([work, this.failed]);
    } catch (error) {
      throw outputError(this.path, error, this.options.outputDirKey);
    }
  }

  private throwIfFailed(): void {
    if (this.failure !== null) throw outputError(this.path, this.failure.error, this.options.outputDirKey);
  }

  private async emit(text: string): Promise<void> {
    const sink = this.gzip ?? this.stream!;
    // A stream that failed earlier may still take writes into its buffer: ask before each write.
    this.throwIfFailed();
    if (!sink.write(text)) await this.guard(once(sink, "drain"));
  }

  /** Appends one batch's predictions; `cells`: the batch's rows in the collection (for an AnnData's obs). */
  async write(batch: Batch, output: PredictOutput, cells?: Int32Array): Promise<void> {
    const names = batch.obs_names_n;
    if (!Array.isArray(names)) {
      throw new ConfigError(
        "predict needs the cell names: add `obs_names_n: {attr: obs_names}` to data.batch_keys",
      );
    }
    let rows = asRows(output[this.key], this.key);
    const size = this.options.predictionSize;
    if (size !== undefined && size !== null && size < rows.nCols) rows = firstColumns(rows, size);
    if (rows.nRows !== names.length) {
      throw new ArgumentError(`prediction "${this.key}" has ${rows.nRows} rows for ${names.length} cells`);
    }
    if (this.format !== "csv") {
      this.anndata ??= await this.openAnnData();
      await this.guard(this.anndata.append(names, rows, cells));
      return;
    }
    const fields = (this.options.fieldNames ?? []).map((name) => {
      const value = batch[name];
      if (!Array.isArray(value) && !(ArrayBuffer.isView(value) && "length" in value)) {
        throw new ConfigError(`PredictionWriter field_names: batch key "${name}" is not a per-cell value`);
      }
      return { name, values: value as ArrayLike<string | number> };
    });
    if (!this.stream) await this.open();
    if (!this.headerWritten) {
      const columnNames =
        Array.isArray(output.var_names_g) && output.var_names_g.length === rows.nCols
          ? output.var_names_g
          : Array.from({ length: rows.nCols }, (_, j) => `${this.key}_${j}`);
      await this.emit(
        `${["obs_names_n", ...fields.map((f) => f.name), ...columnNames].map(csvField).join(",")}\n`,
      );
      this.headerWritten = true;
    }
    let text = "";
    for (let i = 0; i < rows.nRows; i++) {
      text += csvField(names[i]!);
      for (const f of fields) text += `,${csvField(String(f.values[i]))}`;
      for (let j = 0; j < rows.nCols; j++) text += `,${rows.data[i * rows.nCols + j]}`;
      text += "\n";
    }
    await this.emit(text);
  }

  /** Completes the file and moves it into place; returns its path. On failure removes the temporary file. */
  async close(): Promise<string> {
    try {
      return await this.complete();
    } catch (error) {
      await this.abort();
      throw error;
    }
  }

  private async complete(): Promise<string> {
    if (this.format !== "csv") {
      // A run without a batch (limit_predict_batches: 0) still gives a file, of no cells.
      this.anndata ??= await this.openAnnData();
      await this.guard(this.anndata.close());
      return this.path;
    }
    if (!this.stream) await this.open();
    this.throwIfFailed();
    (this.gzip ?? this.stream!).end();
    await this.guard(finished(this.stream!));
    await this.guard(rename(this.tmp, this.path));
    return this.path;
  }

  private async openAnnData(): Promise<AnnDataPredictions> {
    await this.guard(mkdir(dirname(this.path), { recursive: true }));
    const layout = this.context.layout ?? { obsmKey: this.options.obsmKey ?? this.key };
    const format = this.format === "zarr" ? "zarr" : "h5ad";
    return await this.guard(AnnDataPredictions.create(this.path, layout, this.context.obs ?? null, format));
  }

  /** Removes a partial file after a failed run. */
  async abort(): Promise<void> {
    await this.anndata?.abort();
    this.gzip?.destroy();
    const stream = this.stream;
    if (stream !== null && !stream.closed) {
      // The file may still be opening: remove it only once the stream has closed it.
      const closed = once(stream, "close").catch(() => {});
      stream.destroy();
      await closed;
    }
    await rm(this.tmp, { force: true }).catch(() => {});
  }
}

function firstColumns(rows: DenseMatrix, k: number): DenseMatrix {
  const data = new Float32Array(rows.nRows * k);
  for (let i = 0; i < rows.nRows; i++)
    data.set(rows.data.subarray(i * rows.nCols, i * rows.nCols + k), i * k);
  return { format: "dense", nRows: rows.nRows, nCols: k, data };
}
