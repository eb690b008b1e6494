// The subset of pandas.read_csv that configs use to feed transforms (`!FileLoader` /
// `!FileMultiLoader` with loader_fn pandas.read_csv): a header row, comma separators, RFC 4180
// quoting, columns typed as numbers when every cell parses as one (empty cells are NaN, as pandas
// reads them), else as strings. The index is pandas' default RangeIndex, 0..n-1.

import { readRegularFile } from "../data/regular-file.js";
import { FileFormatError } from "../errors.js";

export interface CsvFrame {
  readonly columns: readonly string[];
  readonly index: readonly number[];
  readonly data: Readonly<Record<string, readonly number[] | readonly string[]>>;
}

function parseRecords(text: string, path: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let field = "";
  let quoted = false;
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
      } else field += c;
      i++;
      continue;
    }
    if (c === '"' && field === "") quoted = true;
    else if (c === ",") {
      record.push(field);
      field = "";
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      record.push(field);
      records.push(record);
      record = [];
      field = "";
    } else field += c;
    i++;
  }
  if (quoted) throw new FileFormatError(`${path}: unterminated quoted field at the end of the file`);
  if (field !== "" || record.length > 0) {
    record.push(field);
    records.push(record);
  }
  return records.filter((r) => !(r.length === 1 && r[0] === ""));
}

/** Reads a CSV file with a header into typed columns. */
export async function readCsv(path: string): Promise<CsvFrame> {
  const bytes = await readRegularFile(
    path,
    (reason, cause) =>
      new FileFormatError(`${path}: cannot read CSV file (${reason})`, { file: path, cause }),
  );
  const text = bytes.toString("utf8");
  const [header, ...rows] = parseRecords(text, path);
  if (!header) throw new FileFormatError(`${path}: empty CSV file (no header row)`);
  rows.forEach((row, r) => {
    if (row.length !== header.length) {
      throw new FileFormatError(
        `${path}: line ${r + 2} has ${row.length} fields, the header ${header.length}`,
      );
    }
  });
  const data: Record<string, number[] | string[]> = {};
  header.forEach((name, c) => {
    const cells = rows.map((row) => row[c]!);
    const numbers = cells.map(parsePandasFloat);
    const numeric = cells.every(
      (cell, r) => !Number.isNaN(numbers[r]!) || cell === "" || /^nan$/i.test(cell),
    );
    data[name] = numeric ? numbers : cells;
  });
  return { columns: header, index: rows.map((_, r) => r), data };
}

// Like pandas: empty and "nan" are NaN, "inf" / "-inf" infinite (Number() takes only "Infinity").
function parsePandasFloat(cell: string): number {
  if (cell.trim() === "" || /^nan$/i.test(cell)) return Number.NaN;
  if (/^[+]?inf(inity)?$/i.test(cell)) return Number.POSITIVE_INFINITY;
  if (/^-inf(inity)?$/i.test(cell)) return Number.NEGATIVE_INFINITY;
  return Number(cell);
}
