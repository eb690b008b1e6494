import { AppendLog } from "./append-log.js";

/** The columns of metrics.csv; a row leaves the metrics it does not have empty. */
export const METRIC_COLUMNS = [
  "epoch",
  "step",
  "cells",
  "elapsed_s",
  "cells_per_s",
  "train_loss",
  "lr",
  "val_loss",
] as const;
export type MetricName = (typeof METRIC_COLUMNS)[number];

/**
 * Appends metric rows to a CSV file as training goes, so a killed run keeps what it logged; a row
 * that cannot be written (a full disk) is an OutputError naming the file and `key`.
 */
export class MetricsCsv {
  private readonly file: AppendLog;

  constructor(
    readonly path: string,
    key?: string,
  ) {
    this.file = new AppendLog(path, `${METRIC_COLUMNS.join(",")}\n`, key);
  }

  log(row: Partial<Record<MetricName, number>>): void {
    const cells = METRIC_COLUMNS.map((column) => {
      const value = row[column];
      return value === undefined || Number.isNaN(value) ? "" : String(value);
    });
    this.file.append(`${cells.join(",")}\n`);
  }
}
