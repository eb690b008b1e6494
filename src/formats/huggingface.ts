// A Hugging Face model directory as files: `config.json`, and the weights in `model.safetensors`
// or else `pytorch_model.bin` (read without executing its pickle: torch-state-dict.ts). What the
// config and tensors mean is the model's business (src/models/geneformer-import.ts for a
// BertForMaskedLM); the config is read first so that a model can check its sizes before the
// weights are read.

import { access, readFile } from "node:fs/promises";
import { join } from "node:path";
import { readRegularFile } from "../data/regular-file.js";
import { FileFormatError } from "../errors.js";
import { readSafetensorsFile } from "./safetensors-file.js";
import { readTorchStateDict } from "./torch-state-dict.js";

/** A checkpoint's tensors by name, as read. */
export type HuggingFaceTensors = Record<string, { shape: readonly number[]; data: ArrayLike<number> }>;

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** `config.json` of a model directory, parsed; an unreadable or malformed file is one line naming it. */
export async function readHuggingFaceConfig(directory: string): Promise<{ path: string; config: unknown }> {
  const path = join(directory, "config.json");
  try {
    return { path, config: JSON.parse(await readFile(path, "utf8")) };
  } catch (error) {
    // JSON.parse quotes the text around the error, which may hold line breaks: one line, bounded.
    const reason = (error as Error).message.replace(/\s+/g, " ").slice(0, 200);
    throw new FileFormatError(`${path}: cannot read the Hugging Face config (${reason})`, {
      file: path,
      cause: error,
    });
  }
}

/** The checkpoint's tensors: model.safetensors, else pytorch_model.bin. */
export async function readHuggingFaceWeights(directory: string): Promise<HuggingFaceTensors> {
  const safetensors = join(directory, "model.safetensors");
  if (await exists(safetensors)) {
    return (await readSafetensorsFile(safetensors, { int64AsNumber: true })).tensors as HuggingFaceTensors;
  }
  const bin = join(directory, "pytorch_model.bin");
  if (!(await exists(bin)))
    throw new FileFormatError(`${directory}: neither model.safetensors nor pytorch_model.bin`, {
      file: directory,
    });
  const bytes = await readRegularFile(
    bin,
    (reason, cause) => new FileFormatError(`${bin}: cannot read (${reason})`, { file: bin, cause }),
  );
  return readTorchStateDict(bytes, bin);
}
