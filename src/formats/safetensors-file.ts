// safetensors files on disk: the codec of src/formats/safetensors.ts plus atomic writes and errors
// that name the path.

import { type OutputOptions, writeFileAtomic } from "../data/atomic-file.js";
import { readRegularFile } from "../data/regular-file.js";
import { FileFormatError } from "../errors.js";
import {
  type DecodeSafetensorsOptions,
  decodeSafetensors,
  encodeSafetensors,
  type SafetensorsContents,
  type SafetensorsTensor,
} from "./safetensors.js";

/**
 * Writes tensors and string metadata to `path` atomically (temporary file, then rename); a failure
 * to write is an OutputError naming the path (and `options.key`, the setting that chose it).
 */
export function writeSafetensorsFile(
  path: string,
  tensors: Record<string, SafetensorsTensor>,
  metadata?: Record<string, string>,
  options: OutputOptions = {},
): Promise<void> {
  return writeFileAtomic(path, encodeSafetensors(tensors, metadata), options);
}

/**
 * Reads a safetensors file whole; tensors are views into the file's bytes where aligned.
 * Throws FileFormatError naming the path when the file is missing, unreadable, not a regular file
 * (a FIFO would block forever) or malformed.
 */
export async function readSafetensorsFile(
  path: string,
  options: Omit<DecodeSafetensorsOptions, "source"> = {},
): Promise<SafetensorsContents> {
  const bytes = await readRegularFile(
    path,
    (reason, cause) =>
      new FileFormatError(`${path}: cannot read safetensors file (${reason})`, { file: path, cause }),
  );
  return decodeSafetensors(bytes, { ...options, source: path });
}
