// Writes predictions, one file per run (upstream's PredictionWriter writes one headerless CSV per
// batch): `predictions.csv.gz` (or .csv) with a header, obs_names_n first, then any requested obs
// fields, then the prediction's columns (named by the output's var_names_g, e.g. PC1..PC50, else
// <key>_0, <key>_1, ...); or `predictions.h5ad` with the cell names as obs and the prediction in
// obsm[<key>]. Files are written to a temporary name and renamed when complete.

import { createWriteStream, type WriteStream } from "node:fs";
import { mkdir, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { createGzip, type Gzip } from "node:zlib";
import { temporarySibling } from "../data/atomic-file.js";
import type { Batch, BatchValue } from "../data/batch.js";
import { writeH5ad } from "../data/h5ad/writer.js";
import type { DenseMatrix } from "../data/matrix.js";
import { densify } from "../data/matrix.js";
import { ArgumentError, ConfigError } from "../errors.js";
import type { PredictOutput } from "../models/model.js";
import { Tensor } from "../tensor/tensor.js";

export interface PredictionWriterOptions {
  readonly outputDir: string;
  /** The predict output written (upstream's default x_ng). */
  readonly key?: string;
  /** Only the first this many columns. */
  readonly predictionSize?: number | null;
  /** Per-cell batch keys written before the prediction (e.g. obs columns). */
  readonly fieldNames?: readonly string[];
  readonly gzip?: boolean;
  readonly format?: "csv" | "h5ad";
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

function csvField(text: string): string {
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export class PredictionWriter {
  readonly path: string;
  private readonly key: string;
  private readonly tmp: string;
  private stream: WriteStream | null = null;
  private gzip: Gzip | null = null;
  private headerWritten = false;
  private readonly h5adRows: { names: string[]; blocks: DenseMatrix[] } = { names: [], blocks: [] };

  constructor(private readonly options: PredictionWriterOptions) {
    this.key = options.key ?? "x_ng";
    const format = options.format ?? "csv";
    const name =
      format === "h5ad" ? "predictions.h5ad" : `predictions.csv${(options.gzip ?? true) ? ".gz" : ""}`;
    this.path = join(options.outputDir, name);
    this.tmp = temporarySibling(this.path);
  }

  private async open(): Promise<void> {
    await mkdir(this.options.outputDir, { recursive: true });
    this.stream = createWriteStream(this.tmp);
    if (this.options.gzip ?? true) {
      this.gzip = createGzip();
      this.gzip.pipe(this.stream);
    }
  }

  private async emit(text: string): Promise<void> {
    const sink: NodeJS.WritableStream = this.gzip ?? this.stream!;
    if (!sink.write(text)) await new Promise<void>((resolve) => sink.once("drain", () => resolve()));
  }

  /** Appends one batch's predictions. */
  async write(batch: Batch, output: PredictOutput): Promise<void> {
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
    if ((this.options.format ?? "csv") === "h5ad") {
      this.h5adRows.names.push(...names);
      this.h5adRows.blocks.push(rows);
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

  /** Completes the file and moves it into place; returns its path. */
  async close(): Promise<string> {
    if ((this.options.format ?? "csv") === "h5ad") {
      const { names, blocks } = this.h5adRows;
      const nCols = blocks[0]?.nCols ?? 0;
      const data = new Float32Array(names.length * nCols);
      let offset = 0;
      for (const block of blocks) {
        data.set(block.data, offset);
        offset += block.data.length;
      }
      await mkdir(this.options.outputDir, { recursive: true });
      await writeH5ad(this.path, {
        X: {
          format: "csr",
          nRows: names.length,
          nCols: 0,
          indptr: new Int32Array(names.length + 1),
          indices: new Int32Array(0),
          data: new Float32Array(0),
        },
        obs: { index: names },
        var: { index: [] },
        obsm: { [this.key]: { format: "dense", nRows: names.length, nCols, data } },
      });
      return this.path;
    }
    if (!this.stream) await this.open();
    const finished = new Promise<void>((resolve, reject) => {
      this.stream!.once("finish", resolve);
      this.stream!.once("error", reject);
    });
    (this.gzip ?? this.stream!).end();
    await finished;
    await rename(this.tmp, this.path);
    return this.path;
  }

  /** Removes a partial file after a failed run. */
  async abort(): Promise<void> {
    this.gzip?.destroy();
    this.stream?.destroy();
    await rm(this.tmp, { force: true });
  }
}

function firstColumns(rows: DenseMatrix, k: number): DenseMatrix {
  const data = new Float32Array(rows.nRows * k);
  for (let i = 0; i < rows.nRows; i++)
    data.set(rows.data.subarray(i * rows.nCols, i * rows.nCols + k), i * k);
  return { format: "dense", nRows: rows.nRows, nCols: k, data };
}
