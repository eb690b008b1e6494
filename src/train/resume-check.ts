import { quote } from "../error-values.js";
import { CheckpointError } from "../errors.js";
import type { JsonValue } from "../json.js";
import { FINGERPRINT_IGNORED_KEYS } from "./partial.js";

// A resumed fit (--ckpt_path) continues the run its checkpoint was taken from only when the
// config computes the same thing: the checkpoint's position counts batches of its batch size over
// its files in its order, so a changed batch_size double-counts cells, other files or transforms
// mix two runs, a changed shuffle replays other cells. The checkpoint stores the resolved config;
// the first key that differs, outside the keys below, is refused by name.

/**
 * Keys a resumed run may change: those that never change what a run computes (outputs, logging,
 * read-ahead; FINGERPRINT_IGNORED_KEYS), how long it trains (resuming to train further is the point),
 * and seed_everything: the seed only initialises what the checkpoint then overwrites (parameters,
 * every random stream's state), so a resume drawing a new one computes the same.
 */
export const RESUME_IGNORED_KEYS: readonly string[] = [
  ...FINGERPRINT_IGNORED_KEYS,
  "trainer.max_epochs",
  "trainer.max_steps",
  "trainer.limit_val_batches",
  "trainer.limit_predict_batches",
  "trainer.val_check_interval",
  "trainer.check_val_every_n_epoch",
  "model.model.init_args.output_path",
];

/**
 * Throws a CheckpointError naming the first key (dotted, list items by index) whose value differs
 * between the config a checkpoint was written with and the config resuming it, ignoring
 * RESUME_IGNORED_KEYS. A checkpoint without a config (written by the library without one) is not
 * compared.
 */
export function checkResumeConfig(
  path: string,
  written: JsonValue | undefined,
  current: JsonValue | undefined,
): void {
  if (written === undefined || current === undefined) return;
  const difference = firstDifference(written, current, "");
  if (difference === undefined) return;
  const { key, before, after } = difference;
  throw new CheckpointError(
    `${path}: written with ${key} = ${before === undefined ? "(absent)" : quote(before)}, this run has ${after === undefined ? "(absent)" : quote(after)}; a resumed fit must compute what the interrupted one did (only outputs, logging, read-ahead, max_epochs/max_steps and the seed may change): restore ${key} or start a new run without --ckpt_path`,
    { file: path, key, value: after },
  );
}

interface Difference {
  readonly key: string;
  readonly before: JsonValue | undefined;
  readonly after: JsonValue | undefined;
}

function firstDifference(
  a: JsonValue | undefined,
  b: JsonValue | undefined,
  path: string,
): Difference | undefined {
  if (RESUME_IGNORED_KEYS.includes(path)) return undefined;
  if (isRecord(a) && isRecord(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    for (const key of keys) {
      const found = firstDifference(a[key], b[key], path === "" ? key : `${path}.${key}`);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  if (Array.isArray(a) && Array.isArray(b) && a.length === b.length) {
    for (let i = 0; i < a.length; i++) {
      const found = firstDifference(a[i], b[i], `${path}.${i}`);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  // An absent key and a null are the same config (Lightning's defaults are null).
  if ((a ?? null) === null && (b ?? null) === null) return undefined;
  if (JSON.stringify(a) === JSON.stringify(b)) return undefined;
  return { key: path, before: a, after: b };
}

function isRecord(value: JsonValue | undefined): value is Record<string, JsonValue> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
