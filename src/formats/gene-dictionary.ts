// Gene dictionaries (gene id -> token id, or gene id -> median) from a file, by extension:
// `.pkl` / `.pickle` as Geneformer publishes them (a pickled dict, read without executing it: see
// pickle-dict.ts), `.json` (one object), `.tsv` / `.txt` (two tab-separated columns; a first line
// whose second field is not a number is a header).

import { readRegularFile } from "../data/regular-file.js";
import { quote } from "../error-values.js";
import { FileFormatError } from "../errors.js";
import { readPickledDict } from "./pickle-dict.js";

export function parseGeneDictionary(bytes: Uint8Array, path: string): Map<string, number> {
  const lower = path.toLowerCase();
  if (lower.endsWith(".pkl") || lower.endsWith(".pickle")) return readPickledDict(bytes, path);
  const text = new TextDecoder().decode(bytes);
  const out = new Map<string, number>();
  if (lower.endsWith(".json")) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      // JSON.parse quotes the text around the error, which may hold line breaks: one line, bounded.
      const reason = (error as Error).message.replace(/\s+/g, " ").slice(0, 200);
      throw new FileFormatError(`${path}: not valid JSON (${reason})`, { file: path, cause: error });
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      throw new FileFormatError(`${path}: expected a JSON object of gene id -> number`, { file: path });
    }
    for (const [key, value] of Object.entries(parsed)) {
      if (typeof value !== "number") {
        throw new FileFormatError(`${path}: the value of ${quote(key)} is not a number: ${quote(value)}`, {
          file: path,
          key,
          value,
        });
      }
      out.set(key, value);
    }
    return out;
  }
  if (lower.endsWith(".tsv") || lower.endsWith(".txt")) {
    const lines = text.split(/\r?\n/).filter((l) => l.trim() !== "");
    lines.forEach((line, i) => {
      const fields = line.split("\t");
      const value = Number(fields[1]);
      if (fields.length !== 2 || fields[1]!.trim() === "" || Number.isNaN(value)) {
        if (i === 0) return; // header
        throw new FileFormatError(`${path}: line ${i + 1} is not "gene<TAB>number": ${quote(line)}`, {
          file: path,
          key: `line ${i + 1}`,
          value: line,
        });
      }
      out.set(fields[0]!, value);
    });
    return out;
  }
  throw new FileFormatError(
    `${path}: unknown dictionary format (expected .pkl, .pickle, .json, .tsv or .txt)`,
    { file: path },
  );
}

export async function readGeneDictionary(path: string): Promise<Map<string, number>> {
  const bytes = await readRegularFile(
    path,
    (reason, cause) =>
      new FileFormatError(`${path}: cannot read gene dictionary (${reason})`, { file: path, cause }),
  );
  return parseGeneDictionary(bytes, path);
}
