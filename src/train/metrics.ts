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

/** A row: the common metrics and a model's own validation metrics (CellariumModel.validationMetrics). */
export type MetricRow = Partial<Record<MetricName, number>> & Readonly<Record<string, number | undefined>>;

/**
 * Appends metric rows to a CSV file as training goes, so a killed run keeps what it logged; a row
 * that cannot be written (a full disk) is an OutputError naming the file and `key`.
 */
export class MetricsCsv {
  private readonly file: AppendLog;
  private readonly columns: readonly string[];

  /** `extraColumns`: the model's own metrics, after the common ones. */
  constructor(
    readonly path: string,
    key?: string,
    extraColumns: readonly string[] = [],
  ) {
    this.columns = [...METRIC_COLUMNS, ...extraColumns];
    this.file = new AppendLog(path, `${this.columns.join(",")}\n`, key);
  }

  log(row: MetricRow): void {
    const cells = this.columns.map((column) => {
      const value = row[column];
      return value === undefined || Number.isNaN(value) ? "" : String(value);
    });
    this.file.append(`${cells.join(",")}\n`);
  }
}
