// safetensors files on disk: the codec of src/tensor/safetensors.ts plus atomic writes and errors
// that name the path.

import { readFile } from "node:fs/promises";
import { writeFileAtomic } from "../data/atomic-file.js";
import { FileFormatError } from "../errors.js";
import {
  type DecodeSafetensorsOptions,
  decodeSafetensors,
  encodeSafetensors,
  type SafetensorsContents,
  type SafetensorsTensor,
} from "../tensor/safetensors.js";

/** Writes tensors and string metadata to `path` atomically (temporary file, then rename). */
export function writeSafetensorsFile(
  path: string,
  tensors: Record<string, SafetensorsTensor>,
  metadata?: Record<string, string>,
): Promise<void> {
  return writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}

/**
 * Reads a safetensors file whole; tensors are views into the file's bytes where aligned.
 * Throws FileFormatError naming the path when the file is missing, unreadable or malformed.
 */
export async function readSafetensorsFile(
  path: string,
  options: Omit<DecodeSafetensorsOptions, "source"> = {},
): Promise<SafetensorsContents> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (error) {
    throw new FileFormatError(`${path}: cannot read safetensors file (${(error as Error).message})`, {
      cause: error,
    });
  }
  return decodeSafetensors(bytes, { ...options, source: path });
}
