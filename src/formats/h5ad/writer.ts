import type { Dataset, File, Group } from "h5wasm/node";
import type { DenseMatrix, Matrix } from "../../data/matrix.js";
import { ArgumentError } from "../../errors.js";
import { codesArray } from "../anndata-rows.js";
import type { NumericArray } from "./convert.js";
import {
  closeAndRename,
  createTemporaryAnnData,
  dictGroup,
  discard,
  linkCategories,
  setEncoding,
  startFrame,
  type UnsInputDict,
  wrap,
  writeMatrices,
  writeStrings,
  writeUns,
} from "./write-elements.js";

export type { UnsInput, UnsInputDict } from "./write-elements.js";

// Writes .h5ad files with anndata >= 0.8 encodings (encoding-type / encoding-version on every
// element, as anndata 0.8 itself writes them). X is appended by row blocks into resizable
// chunked datasets, so a generator can write files larger than memory; the file appears under its
// name only when finished (temporary sibling + rename).
//
// Booleans: h5wasm 0.10 cannot create HDF5 enum types, which is how h5py stores numpy bool, so
// boolean columns and uns flags are written as uint8 0/1 (anndata reads them back as uint8, and
// so does our reader: kind "numeric", dtype "uint8").

export type ColumnInput =
  | {
      kind: "categorical";
      codes: ArrayLike<number>;
      categories: readonly string[] | readonly number[];
      ordered?: boolean;
    }
  | { kind: "string"; values: readonly string[] }
  | { kind: "numeric"; values: NumericArray }
  | { kind: "boolean"; values: Uint8Array | readonly boolean[] };

export interface DataFrameInput {
  index: readonly string[];
  /** Written in insertion order, which becomes `column-order`. */
  columns?: Record<string, ColumnInput>;
}

export interface AnnDataInput {
  X: Matrix;
  obs: DataFrameInput;
  var: DataFrameInput;
  obsm?: Record<string, DenseMatrix>;
  uns?: UnsInputDict;
}

export interface H5adWriterOptions {
  nVars: number;
  /** Storage of X: csr_matrix (default) or a dense 2-D array. */
  xFormat?: "csr" | "dense";
  /** gzip (deflate level 4, anndata's usual choice) for X's datasets; default none. */
  compression?: "gzip";
}

/** Stored values per chunk of X's 1-D datasets (256 KiB of float32): big enough for fast I/O, small enough for row-block reads. */
const SPARSE_CHUNK = 1 << 16;
/** Target values per chunk of a dense X (rows per chunk = this / nVars). */
const DENSE_CHUNK = 1 << 18;

/**
 * Writes a whole AnnData (X, obs, var, obsm, uns) to `path` atomically, in the layout anndata
 * writes (readable by scanpy). For data larger than memory, append row blocks with {@link H5adWriter}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mkdtempSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 * import { AnnDataFile, writeH5ad } from "cellarium-ts/node";
 *
 * const path = join(mkdtempSync(join(tmpdir(), "example-")), "tiny.h5ad");
 * await writeH5ad(path, {
 *   X: { format: "dense", nRows: 2, nCols: 3, data: new Float32Array([1, 0, 2, 0, 3, 0]) },
 *   obs: { index: ["cell0", "cell1"], columns: { cell_type: { kind: "string", values: ["B", "T"] } } },
 *   var: { index: ["g0", "g1", "g2"] },
 * });
 * const file = await AnnDataFile.open(path);
 * assert.deepEqual(file.obsNames(), ["cell0", "cell1"]);
 * assert.deepEqual(file.readX(0, 2).nCols, 3);
 * file.close();
 * ```
 */
export async function writeH5ad(
  path: string,
  data: AnnDataInput,
  options: { compression?: "gzip" } = {},
): Promise<void> {
  const writer = await H5adWriter.create(path, {
    nVars: data.X.nCols,
    xFormat: data.X.format === "csr" ? "csr" : "dense",
    ...options,
  });
  try {
    writer.appendX(data.X);
  } catch (error) {
    await writer.abort();
    throw error;
  }
  await writer.finish(data);
}

/** An .h5ad being written: append X row blocks, then finish with obs, var, obsm and uns. */
export class H5adWriter {
  private rows = 0;
  private nnz = 0;
  private done = false;

  private constructor(
    readonly path: string,
    private readonly tmp: string,
    private readonly h5: File,
    private readonly nVars: number,
    private readonly x:
      | { format: "csr"; data: Dataset; indices: Dataset; indptr: Dataset; group: Group }
      | { format: "dense"; data: Dataset },
  ) {}

  /** Starts a file at a temporary sibling of `path`; it appears under `path` when `finish` succeeds. */
  static async create(path: string, options: H5adWriterOptions): Promise<H5adWriter> {
    const { nVars, xFormat = "csr", compression } = options;
    if (!Number.isInteger(nVars) || nVars < 0)
      throw new ArgumentError(`writeH5ad ${path}: nVars must be a non-negative integer, got ${nVars}`);
    const { tmp, h5 } = await createTemporaryAnnData(path);
    try {
      let x: H5adWriter["x"];
      if (xFormat === "csr") {
        const group = h5.create_group("X");
        setEncoding(group, "csr_matrix");
        const growable = (name: string, data: NumericArray) =>
          group.create_dataset({
            name,
            data,
            shape: [data.length],
            maxshape: [null],
            chunks: [SPARSE_CHUNK],
            compression,
          });
        x = {
          format: "csr",
          group,
          data: growable("data", new Float32Array(0)),
          indices: growable("indices", new Int32Array(0)),
          // int64 like anndata once the non-zeros pass 2^31.
          indptr: growable("indptr", new BigInt64Array(1)),
        };
      } else {
        const rowsPerChunk = Math.max(1, Math.floor(DENSE_CHUNK / Math.max(1, nVars)));
        const data = h5.create_dataset({
          name: "X",
          data: new Float32Array(0),
          shape: [0, nVars],
          maxshape: [null, nVars],
          chunks: [rowsPerChunk, Math.max(1, nVars)],
          compression,
        });
        setEncoding(data, "array");
        x = { format: "dense", data };
      }
      return new H5adWriter(path, tmp, h5, nVars, x);
    } catch (error) {
      await discard(h5, tmp);
      throw wrap(path, "X", error);
    }
  }

  /** Rows appended so far. */
  get nObs(): number {
    return this.rows;
  }

  /** Appends a block of rows; CSR blocks to a CSR file, dense blocks to a dense file. */
  appendX(block: Matrix): void {
    this.checkOpen();
    if (block.nCols !== this.nVars) {
      throw new ArgumentError(
        `writeH5ad ${this.path}: X block has ${block.nCols} columns, expected ${this.nVars}`,
      );
    }
    if (block.nRows === 0) return;
    try {
      if (this.x.format === "csr") {
        if (block.format !== "csr")
          throw new ArgumentError(`writeH5ad ${this.path}: X is CSR, got a dense block`);
        const blockNnz = block.indptr[block.nRows]!;
        const end = this.nnz + blockNnz;
        if (blockNnz > 0) {
          this.x.data.resize([end]);
          this.x.data.write_slice([[this.nnz, end]], block.data.subarray(0, blockNnz));
          this.x.indices.resize([end]);
          this.x.indices.write_slice([[this.nnz, end]], block.indices.subarray(0, blockNnz));
        }
        const ptr = new BigInt64Array(block.nRows);
        for (let i = 0; i < block.nRows; i++) ptr[i] = BigInt(this.nnz + block.indptr[i + 1]!);
        this.x.indptr.resize([this.rows + block.nRows + 1]);
        this.x.indptr.write_slice([[this.rows + 1, this.rows + block.nRows + 1]], ptr);
        this.nnz = end;
      } else {
        if (block.format !== "dense")
          throw new ArgumentError(`writeH5ad ${this.path}: X is dense, got a CSR block`);
        this.x.data.resize([this.rows + block.nRows, this.nVars]);
        this.x.data.write_slice([[this.rows, this.rows + block.nRows], []], block.data);
      }
    } catch (error) {
      throw wrap(this.path, "X", error);
    }
    this.rows += block.nRows;
  }

  /** Writes obs, var, obsm and uns, closes the file and moves it to its name. On error nothing appears at `path`. */
  async finish(rest: Omit<AnnDataInput, "X">): Promise<void> {
    this.checkOpen();
    try {
      if (rest.obs.index.length !== this.rows) {
        throw new ArgumentError(
          `writeH5ad ${this.path}: obs.index has ${rest.obs.index.length} names for ${this.rows} rows of X`,
        );
      }
      if (rest.var.index.length !== this.nVars) {
        throw new ArgumentError(
          `writeH5ad ${this.path}: var.index has ${rest.var.index.length} names for ${this.nVars} columns of X`,
        );
      }
      if (this.x.format === "csr") {
        this.x.group.create_attribute("shape", new BigInt64Array([BigInt(this.rows), BigInt(this.nVars)]));
      }
      writeFrame(this.path, this.h5, "obs", rest.obs);
      writeFrame(this.path, this.h5, "var", rest.var);
      writeMatrices(this.path, this.h5, "obsm", rest.obsm ?? {}, this.rows);
      writeUns(this.path, dictGroup(this.h5, "uns"), rest.uns ?? {});
      // Empty like anndata's own output, so every reader finds the usual groups.
      for (const key of ["layers", "obsp", "varm", "varp"]) dictGroup(this.h5, key);
    } catch (error) {
      await this.abort();
      throw error instanceof ArgumentError ? error : wrap(this.path, "metadata", error);
    }
    this.done = true;
    await closeAndRename(this.h5, this.tmp, this.path);
  }

  /** Closes and deletes the temporary file. */
  async abort(): Promise<void> {
    if (this.done) return;
    this.done = true;
    await discard(this.h5, this.tmp);
  }

  private checkOpen(): void {
    if (this.done)
      throw new ArgumentError(`writeH5ad ${this.path}: the writer is already finished or aborted`);
  }
}

/** Writes a dataframe group (obs or var): its index and every column, in the frame's order. */
export function writeFrame(path: string, h5: File, key: "obs" | "var", frame: DataFrameInput): void {
  const columns = Object.entries(frame.columns ?? {});
  const group = startFrame(
    h5,
    key,
    frame.index,
    columns.map(([name]) => name),
  );
  const n = frame.index.length;
  for (const [name, column] of columns) {
    if (name === "_index")
      throw new ArgumentError(`writeH5ad ${path}: ${key} column name '_index' is reserved`);
    writeColumn(path, key, group, name, column, n);
  }
}

function writeColumn(
  path: string,
  frame: string,
  group: Group,
  name: string,
  column: ColumnInput,
  n: number,
): void {
  const length = column.kind === "categorical" ? column.codes.length : column.values.length;
  if (length !== n) {
    throw new ArgumentError(
      `writeH5ad ${path}: ${frame} column '${name}' has ${length} values for ${n} rows`,
    );
  }
  switch (column.kind) {
    case "categorical": {
      const nCategories = column.categories.length;
      const codes = codesArray(nCategories, n);
      for (let i = 0; i < n; i++) {
        const code = column.codes[i]!;
        if (!Number.isInteger(code) || code < -1 || code >= nCategories) {
          throw new ArgumentError(
            `writeH5ad ${path}: ${frame} column '${name}' has code ${code} at row ${i}, outside [-1, ${nCategories})`,
          );
        }
        codes[i] = code;
      }
      const codesDataset = group.create_dataset({ name, data: codes });
      setEncoding(codesDataset, "array");
      linkCategories(group, name, codesDataset, column.categories, column.ordered ?? false);
      return;
    }
    case "string":
      writeStrings(group, name, column.values);
      return;
    case "numeric":
      setEncoding(group.create_dataset({ name, data: column.values }), "array");
      return;
    case "boolean": {
      const bits = new Uint8Array(n);
      for (let i = 0; i < n; i++) bits[i] = column.values[i] ? 1 : 0;
      setEncoding(group.create_dataset({ name, data: bits }), "array");
      return;
    }
  }
}
