// The files of a run a report reads (its metrics.csv and newest checkpoint, found from a run directory
// or a checkpoint path) and the ReportData read from them.

import { readdir, readFile, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { FileFormatError } from "../errors.js";
import type { CellariumModel } from "../models/model.js";
import { CONFUSION_CORNER, CONFUSION_CSV } from "../report/confusion.js";
import {
  type ConfusionData,
  type HvgData,
  type MediansData,
  type MetricsTable,
  type PcaData,
  parseMetricsCsv,
  type ReportData,
} from "../report/data.js";
import { Tensor } from "../tensor/tensor.js";
import { loadPipeline } from "./checkpoint-pipeline.js";
import { readCsv } from "./csv.js";

export interface RunFiles {
  /** Where the report goes unless --out says otherwise. */
  readonly runDir: string;
  readonly metrics: string | null;
  readonly checkpoint: string | null;
  /** A classifier's confusion matrix on the validation split, beside metrics.csv (report/confusion.ts). */
  readonly confusion: string | null;
}

const CHECKPOINT = /\.(safetensors|ckpt)$/;

async function kind(path: string): Promise<"file" | "dir" | null> {
  const info = await stat(path).catch(() => null);
  if (!info) return null;
  return info.isDirectory() ? "dir" : "file";
}

/** `dir/metrics.csv`, else that of the newest `dir/lightning_logs/version_<N>` (the trainer's run directories). */
async function findMetrics(dir: string): Promise<string | null> {
  const direct = join(dir, "metrics.csv");
  if ((await kind(direct)) === "file") return direct;
  const logs = join(dir, "lightning_logs");
  const versions = (await readdir(logs).catch(() => [] as string[]))
    .map((name) => /^version_(\d+)$/.exec(name))
    .filter((m) => m !== null)
    .sort((a, b) => Number(b[1]) - Number(a[1]));
  for (const m of versions) {
    const path = join(logs, m[0], "metrics.csv");
    if ((await kind(path)) === "file") return path;
  }
  return null;
}

/** The newest (last modified) checkpoint file in `dir`, or null. */
async function newestCheckpoint(dir: string): Promise<string | null> {
  const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => CHECKPOINT.test(n));
  let best: { path: string; mtime: number } | null = null;
  for (const name of names.sort()) {
    const path = join(dir, name);
    const info = await stat(path).catch(() => null);
    if (info?.isFile() && (best === null || info.mtimeMs >= best.mtime)) best = { path, mtime: info.mtimeMs };
  }
  return best?.path ?? null;
}

/**
 * The run a path names. A checkpoint: itself, and the metrics of its run directory (the folder above
 * `checkpoints/`). A directory: its metrics.csv (or its newest lightning_logs/version_<N>'s) and the
 * newest checkpoint in its checkpoints/ (or, for a `<root>/lightning_logs/version_<N>`, in
 * `<root>/checkpoints/`, where a ModelCheckpoint with a dirpath puts them). A path that is missing, or
 * holds neither a metrics.csv nor a checkpoint, is a FileFormatError naming it.
 */
export async function findRunFiles(path: string): Promise<RunFiles> {
  const type = await kind(path);
  if (type === null) throw new FileFormatError(`report: ${path} does not exist`, { file: path });
  if (type === "file") {
    if (!CHECKPOINT.test(path))
      throw new FileFormatError(
        `report: ${path} is neither a run directory nor a checkpoint (.safetensors or .ckpt)`,
        { file: path },
      );
    const folder = dirname(path);
    const runDir = basename(folder) === "checkpoints" ? dirname(folder) : folder;
    const metrics = await findMetrics(runDir);
    return { runDir, metrics, checkpoint: path, confusion: await confusionBeside(metrics) };
  }
  const metrics = await findMetrics(path);
  let checkpoint = await newestCheckpoint(join(path, "checkpoints"));
  if (checkpoint === null && metrics !== null) {
    const versionDir = dirname(metrics);
    checkpoint = await newestCheckpoint(join(versionDir, "checkpoints"));
    if (checkpoint === null && basename(dirname(versionDir)) === "lightning_logs")
      checkpoint = await newestCheckpoint(join(dirname(dirname(versionDir)), "checkpoints"));
  }
  if (checkpoint === null && basename(dirname(path)) === "lightning_logs")
    checkpoint = await newestCheckpoint(join(dirname(dirname(path)), "checkpoints"));
  if (metrics === null && checkpoint === null)
    throw new FileFormatError(
      `report: ${path} has no metrics.csv (nor lightning_logs/version_<N>/metrics.csv) and no checkpoint (checkpoints/*.safetensors); give a run directory or a checkpoint`,
      { file: path },
    );
  return { runDir: path, metrics, checkpoint, confusion: await confusionBeside(metrics) };
}

async function confusionBeside(metrics: string | null): Promise<string | null> {
  if (metrics === null) return null;
  const path = join(dirname(metrics), CONFUSION_CSV);
  return (await kind(path)) === "file" ? path : null;
}

/** confusion_matrix.csv read back: the classes from its header, a row of counts per true class. */
async function readConfusion(path: string): Promise<ConfusionData> {
  const frame = await readCsv(path);
  const [corner, ...categories] = frame.columns;
  const names = (frame.data[corner!] ?? []).map(String);
  if (corner !== CONFUSION_CORNER || names.join("\n") !== categories.join("\n"))
    throw new FileFormatError(
      `${path}: not a confusion matrix (a header ${CONFUSION_CORNER},<classes>, then one row per class)`,
      { file: path },
    );
  const counts = names.map((_, t) => categories.map((c) => Number(frame.data[c]![t])));
  return { categories, counts, source: "the validation split" };
}

function numbers(value: unknown): number[] | null {
  return value instanceof Tensor ? Array.from(value.data) : null;
}

/** IncrementalPCA's plot data, for a model with explained_variance_k; ProbabilisticPCA's from L_k. */
function pcaData(model: CellariumModel, names: readonly string[]): PcaData | undefined {
  if (["L_k", "W_variance", "sigma_variance"].every((n) => names.includes(n))) {
    const L_k = numbers(model.attribute!("L_k"));
    const total = (model.attribute!("W_variance") as number) + (model.attribute!("sigma_variance") as number);
    if (!L_k) return undefined;
    return {
      explained_variance_k: L_k,
      total_variance: total,
      names: {
        variance: "L_k (squared singular values of W plus sigma^2)",
        total: "W_variance + sigma_variance",
      },
    };
  }
  if (!names.includes("explained_variance_k")) return undefined;
  const explained = numbers(model.attribute!("explained_variance_k"));
  if (!explained) return undefined;
  const total = names.includes("total_variance") ? model.attribute!("total_variance") : null;
  return { explained_variance_k: explained, total_variance: typeof total === "number" ? total : null };
}

/** HVGSeuratV3's plot data, for a model with per-gene means, variances and highly_variable. */
function hvgData(model: CellariumModel, names: readonly string[]): HvgData | undefined {
  if (!["means", "variances", "highly_variable", "var_names_g"].every((n) => names.includes(n)))
    return undefined;
  const means = numbers(model.attribute!("means"));
  const variances = numbers(model.attribute!("variances"));
  const selected = numbers(model.attribute!("highly_variable"));
  const var_names_g = model.attribute!("var_names_g");
  if (!means || !variances || !selected || !Array.isArray(var_names_g)) return undefined;
  return { var_names_g, means, variances, highly_variable: selected.map((v) => v === 1) };
}

/** TDigest's plot data, for a model with per-gene medians. */
function mediansData(model: CellariumModel, names: readonly string[]): MediansData | undefined {
  if (!names.includes("median_g")) return undefined;
  const median_g = numbers(model.attribute!("median_g"));
  return median_g ? { median_g } : undefined;
}

/** The data of a report on `files`. */
export async function gatherReport(files: RunFiles, title: string): Promise<ReportData> {
  let metrics: MetricsTable | null = null;
  if (files.metrics) metrics = parseMetricsCsv(await readFile(files.metrics, "utf8"), files.metrics);
  if (!files.checkpoint)
    return { title, sources: files.metrics ? { metrics: files.metrics } : {}, metrics, model: null };
  const { checkpoint, model } = await loadPipeline(files.checkpoint);
  const { var_names_g: _, ...hyperparameters } = checkpoint.model.initArgs;
  const names = model.attributeNames?.() ?? [];
  const pca = pcaData(model, names);
  const hvg = hvgData(model, names);
  const medians = mediansData(model, names);
  const confusion = files.confusion ? await readConfusion(files.confusion) : undefined;
  return {
    title,
    sources: { ...(files.metrics && { metrics: files.metrics }), checkpoint: files.checkpoint },
    metrics,
    model: {
      className: checkpoint.model.className,
      hyperparameters,
      globalStep: checkpoint.position.globalStep,
    },
    ...(pca && { pca }),
    ...(hvg && { hvg }),
    ...(medians && { medians }),
    ...(confusion && { confusion }),
  };
}
