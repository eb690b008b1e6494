import { appendFileSync, truncateSync, writeFileSync } from "node:fs";
import { outputError } from "../data/atomic-file.js";

/**
 * A file that grows by whole lines as training goes (metrics.csv, histograms.jsonl), so that a
 * killed run keeps what it logged. A write that fails (a full disk) is an OutputError naming the
 * file and `key` (the setting that chose it), and the file is cut back to its last whole line.
 */
export class AppendLog {
  /** Bytes of whole lines written. */
  private size = 0;

  /** Creates (truncates) the file with `first` in it (a header, or nothing). */
  constructor(
    readonly path: string,
    first: string,
    private readonly key?: string,
  ) {
    try {
      writeFileSync(path, first);
    } catch (error) {
      throw outputError(path, error, key);
    }
    this.size = Buffer.byteLength(first);
  }

  append(text: string): void {
    try {
      appendFileSync(this.path, text);
    } catch (error) {
      try {
        truncateSync(this.path, this.size);
      } catch {
        // The file is gone or cannot be written at all: nothing of it to mend.
      }
      throw outputError(this.path, error, this.key);
    }
    this.size += Buffer.byteLength(text);
  }
}
