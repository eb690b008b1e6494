// Value histograms of model tensors (upstream logs LogisticRegression's W_gc to TensorBoard with
// add_histogram). We append one JSON object per tensor and log step to <run dir>/histograms.jsonl,
// with the fields of TensorBoard's HistogramProto: min, max, num, sum, sum_squares, and buckets
// given by their right edges (bucket_limit) and counts (bucket).

import type { TypedArray } from "../tensor/tensor.js";
import { AppendLog } from "./append-log.js";

/** Equal-width buckets over [min, max] (numpy.histogram's default rule with this many bins). */
export const HISTOGRAM_BUCKETS = 30;

export interface Histogram {
  readonly min: number;
  readonly max: number;
  readonly num: number;
  readonly sum: number;
  readonly sum_squares: number;
  /** Right edge of each bucket; bucket i holds values in (limit[i-1], limit[i]], the first also min. */
  readonly bucket_limit: number[];
  readonly bucket: number[];
}

/** The histogram of `values` in `buckets` equal-width buckets (one bucket when all are equal). */
export function histogram(values: TypedArray, buckets = HISTOGRAM_BUCKETS): Histogram {
  let min = Infinity;
  let max = -Infinity;
  let total = 0;
  let squares = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v < min) min = v;
    if (v > max) max = v;
    total += v;
    squares += v * v;
  }
  const count = max > min ? buckets : 1;
  const width = (max - min) / count;
  const bucket = new Array<number>(count).fill(0);
  for (let i = 0; i < values.length; i++) {
    // The top edge belongs to the last bucket, as numpy's last closed interval.
    const b = width > 0 ? Math.min(count - 1, Math.floor((values[i]! - min) / width)) : 0;
    bucket[b]!++;
  }
  const bucket_limit = Array.from({ length: count }, (_, b) =>
    b === count - 1 ? max : min + (b + 1) * width,
  );
  return { min, max, num: values.length, sum: total, sum_squares: squares, bucket_limit, bucket };
}

/** Appends histogram records to a JSON-lines file as training goes; a failed write is an OutputError naming it. */
export class HistogramLog {
  private readonly file: AppendLog;

  constructor(
    readonly path: string,
    key?: string,
  ) {
    this.file = new AppendLog(path, "", key);
  }

  log(step: number, epoch: number, name: string, values: TypedArray): void {
    this.file.append(`${JSON.stringify({ step, epoch, name, ...histogram(values) })}\n`);
  }
}
