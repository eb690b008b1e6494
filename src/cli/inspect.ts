// `cellarium inspect <file>`: what is in an .h5ad file or AnnData-Zarr store (shape, X encoding,
// obs/var columns, obsm, layers, uns) or a checkpoint (model, hyperparameters, position, transforms, tensors); with
// --attr, a model attribute of a checkpoint evaluated as !CheckpointLoader does, written as CSV
// (per-gene attributes with var_names_g) or JSON.

import { writeFileAtomic } from "../data/atomic-file.js";
import { ConfigError } from "../errors.js";
import { AnnDataFile } from "../formats/h5ad/reader.js";
import { readZarrSummary } from "../formats/zarr/reader.js";
import type { ModelAttribute } from "../models/model.js";
import { Tensor } from "../tensor/tensor.js";
import { loadCheckpoint } from "../train/checkpoint.js";
import { loadPipeline, pipelineAttribute } from "./checkpoint-pipeline.js";

function print(line: string): void {
  process.stdout.write(`${line}\n`);
}

function preview(names: readonly string[], n = 5): string {
  return previewHead(names, names.length, n);
}

/** JSON.stringify's replacer for a summary: a list longer than 10 shows its first 5 and its length. */
function shortLists(_key: string, value: unknown): unknown {
  return Array.isArray(value) && value.length > 10 ? [...value.slice(0, 5), `... (${value.length})`] : value;
}

/** What inspect prints of an AnnData, from an .h5ad or an AnnData-Zarr store. */
interface AnnDataSummary {
  readonly nObs: number;
  readonly nVars: number;
  /** How X is stored, null without X. */
  readonly x: string | null;
  readonly frames: readonly { name: string; columns: readonly { name: string; detail: string }[] }[];
  readonly obsNames: string;
  readonly varNames: string;
  readonly obsm: readonly { key: string; shape?: readonly number[] }[];
  readonly varm?: readonly { key: string; shape?: readonly number[] }[];
  readonly layers: readonly string[];
  readonly uns: readonly string[];
}

/** A column as inspect describes it: categoricals with their first categories, numbers with their dtype. */
function columnDetail(column: { kind: string; dtype?: string; categories?: readonly unknown[] }): string {
  if (column.kind === "categorical") {
    const categories = (column.categories ?? []).map(String);
    return `categorical, ${categories.length} categories: ${preview(categories)}`;
  }
  return column.kind === "numeric" ? `numeric (${column.dtype})` : column.kind;
}

function keysWithShapes(entries: readonly { key: string; shape?: readonly number[] }[]): string {
  const keys = entries.map(({ key, shape }) => (shape ? `${key} [${shape.join(" x ")}]` : key));
  return keys.join(", ") || "(none)";
}

function printSummary(path: string, kind: string, summary: AnnDataSummary): void {
  const x = summary.x === null ? "no X" : `X stored as ${summary.x}`;
  print(`${path}: ${kind} with ${summary.nObs} cells x ${summary.nVars} genes, ${x}`);
  for (const frame of summary.frames) {
    print(`${frame.name}: ${frame.columns.length} column(s)`);
    for (const column of frame.columns) print(`  ${column.name}: ${column.detail}`);
  }
  print(`obs_names: ${summary.obsNames}`);
  print(`var_names: ${summary.varNames}`);
  print(`obsm: ${keysWithShapes(summary.obsm)}`);
  if (summary.varm) print(`varm: ${keysWithShapes(summary.varm)}`);
  print(`layers: ${summary.layers.join(", ") || "(none)"}`);
  print(`uns: ${summary.uns.join(", ") || "(none)"}`);
}

async function inspectH5ad(path: string): Promise<void> {
  const file = await AnnDataFile.open(path);
  try {
    printSummary(path, "AnnData", {
      nObs: file.nObs,
      nVars: file.nVars,
      x: file.xEncoding,
      frames: (
        [
          ["obs", file.obs],
          ["var", file.var],
        ] as const
      ).map(([name, frame]) => ({
        name,
        columns: frame.columns.map((column) => ({
          name: column,
          detail: columnDetail(frame.column(column)),
        })),
      })),
      obsNames: preview(file.obsNames()),
      varNames: preview(file.varNames()),
      obsm: file.obsmKeys().map((key) => ({ key })),
      layers: file.layerKeys(),
      uns: Object.keys(file.uns()),
    });
  } finally {
    file.close();
  }
}

/** The first names of an index of `size` names, as preview() writes them. */
function previewHead(head: readonly string[], size: number, n = 5): string {
  return size > n ? `${head.slice(0, n).join(", ")}, ... (${size})` : head.join(", ");
}

async function inspectZarr(path: string): Promise<void> {
  const summary = await readZarrSummary(path);
  printSummary(path, "AnnData-Zarr store", {
    nObs: summary.nObs,
    nVars: summary.nVars,
    x: summary.x,
    frames: [
      { name: "obs", frame: summary.obs },
      { name: "var", frame: summary.var },
    ].map(({ name, frame }) => ({
      name,
      columns: frame.columns.map((column) => ({ name: column.name, detail: columnDetail(column) })),
    })),
    obsNames: previewHead(summary.obs.head, summary.obs.size),
    varNames: previewHead(summary.var.head, summary.var.size),
    obsm: summary.obsm,
    varm: summary.varm,
    layers: summary.layers,
    uns: summary.uns,
  });
}

async function inspectCheckpoint(path: string): Promise<void> {
  const checkpoint = await loadCheckpoint(path);
  const { var_names_g, ...args } = checkpoint.model.initArgs;
  print(`${path}: ${checkpoint.model.className} checkpoint`);
  print(`hyperparameters: ${JSON.stringify(args, shortLists)}`);
  if (Array.isArray(var_names_g)) print(`var_names_g: ${preview(var_names_g as string[])}`);
  const p = checkpoint.position;
  print(`position: epoch ${p.epoch}, ${p.batchesConsumed} batches into it, global step ${p.globalStep}`);
  const transforms = checkpoint.transforms.map((t, i) => {
    const nested = checkpoint.nested?.[String(i)];
    return nested ? `${t.name}(${nested.model.className} checkpoint)` : t.name;
  });
  print(`transforms: ${transforms.join(" -> ") || "(none)"}`);
  if (checkpoint.optimizer) print(`optimizer: ${JSON.stringify(checkpoint.optimizer.config)}`);
  if (checkpoint.scheduler) print(`lr scheduler: ${JSON.stringify(checkpoint.scheduler.config)}`);
  for (const [name, tensor] of Object.entries(checkpoint.modelState)) {
    print(`  model.${name}: ${tensor.dtype} [${tensor.shape.join(", ")}]`);
  }
}

function attributeCsv(attr: string, value: ModelAttribute, var_names_g: readonly string[]): string {
  const name = attr.replace(/^model\./, "");
  if (typeof value === "number") return `${name}\n${value}\n`;
  if (!(value instanceof Tensor)) return `${name}\n${value.join("\n")}\n`;
  const rows = value.shape[0] ?? 1;
  const cols = value.shape.length > 1 ? value.size / rows : 1;
  const perGene = rows === var_names_g.length;
  const header = cols === 1 ? [name] : Array.from({ length: cols }, (_, j) => `${name}_${j}`);
  const lines = [(perGene ? ["var_names_g", ...header] : header).join(",")];
  for (let i = 0; i < rows; i++) {
    const cells = Array.from(value.data.subarray(i * cols, (i + 1) * cols), (v) =>
      Number.isNaN(v) ? "" : String(v),
    );
    lines.push((perGene ? [var_names_g[i]!, ...cells] : cells).join(","));
  }
  return `${lines.join("\n")}\n`;
}

async function inspectAttribute(path: string, attr: string, out: string | undefined): Promise<void> {
  const pipeline = await loadPipeline(path);
  const value = pipelineAttribute(pipeline, attr);
  const var_names_g = pipeline.model.var_names_g;
  if (out?.endsWith(".json")) {
    const json =
      value instanceof Tensor
        ? { shape: value.shape, data: Array.from(value.data, (v) => (Number.isNaN(v) ? null : v)) }
        : value;
    await writeFileAtomic(out, `${JSON.stringify({ attr, var_names_g, value: json })}\n`, { key: "--out" });
    print(`wrote ${attr} to ${out}`);
    return;
  }
  if (out !== undefined && !out.endsWith(".csv"))
    throw new ConfigError(`--out ${out}: use a .csv or .json file`);
  const csv = attributeCsv(attr, value, var_names_g);
  if (out) {
    await writeFileAtomic(out, csv, { key: "--out" });
    print(`wrote ${attr} to ${out}`);
  } else process.stdout.write(csv);
}

export async function inspectFile(path: string, options: { attr?: string; out?: string }): Promise<void> {
  if (options.attr) return inspectAttribute(path, options.attr, options.out);
  if (path.endsWith(".h5ad")) return inspectH5ad(path);
  if (path.replace(/\/+$/, "").endsWith(".zarr")) return inspectZarr(path);
  return inspectCheckpoint(path);
}
