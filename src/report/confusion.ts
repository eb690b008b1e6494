// A classifier's confusion matrix on the validation split: counted batch by batch at the end of fit
// (cli/run.ts), kept beside metrics.csv as confusion_matrix.csv, and read back by the report. The
// CSV is the matrix as pandas' crosstab writes it: a header `true\predicted,<class>...`, then one
// row per true class.

import { csvField } from "../models/streaming/mean-var-std-csv.js";

/** The file name beside metrics.csv. */
export const CONFUSION_CSV = "confusion_matrix.csv";

/** The header's first cell. */
export const CONFUSION_CORNER = "true\\predicted";

/** counts[t][p]: cells of true class t whose largest logit is class p. */
export class ConfusionCounter {
  readonly counts: number[][];

  constructor(readonly nClasses: number) {
    this.counts = Array.from({ length: nClasses }, () => new Array<number>(nClasses).fill(0));
  }

  /** Adds n cells: true codes y_n and their n x c logits (row-major). */
  add(y_n: ArrayLike<number>, logits_nc: ArrayLike<number>): void {
    const c = this.nClasses;
    for (let i = 0; i < y_n.length; i++) {
      let best = 0;
      for (let j = 1; j < c; j++) if (logits_nc[i * c + j]! > logits_nc[i * c + best]!) best = j;
      this.counts[y_n[i]!]![best]!++;
    }
  }
}

export function confusionCsv(categories: readonly string[], counts: readonly (readonly number[])[]): string {
  const lines = [
    [CONFUSION_CORNER, ...categories].map(csvField).join(","),
    ...counts.map((row, t) => [csvField(categories[t]!), ...row.map(String)].join(",")),
  ];
  return `${lines.join("\n")}\n`;
}
