import { closeSync, fstatSync, openSync } from "node:fs";
import type { ArrayAllocator } from "../../data/buffer-pool.js";
import { checkBlock } from "../../data/check-block.js";
import type { Matrix } from "../../data/matrix.js";
import { ArgumentError, FileFormatError } from "../../errors.js";
import { DirectGroup, openTree } from "../hdf5/tree.js";
import { AnnDataFrame } from "./dataframe.js";
import { type H5File, type H5Group, isGroup } from "./element.js";
import { checkRegularFile, hdf5Reason, openHdf5 } from "./h5wasm.js";
import { type MatrixReader, type MatrixReaderOptions, openMatrix, type RawFile } from "./matrix-reader.js";
import { readUnsGroup, type UnsDict } from "./uns.js";

// An open .h5ad file. Nothing is loaded at open beyond the attributes needed to check the
// layout; X, layers and obsm are read by row blocks, dataframe columns one at a time. The file's
// structure is read without the HDF5 library where its layout allows (../hdf5/tree.ts: the
// layouts h5py and anndata write by default), otherwise through h5wasm.

/**
 * An open .h5ad file (AnnData's on-disk format, as anndata and scanpy write it), read lazily: X,
 * layers and obsm by row blocks, obs and var columns one at a time. Dense, CSR and CSC X, gzip and
 * lzf compression are read. Every block is checked as it is read: a NaN or infinite value, or a
 * column index out of range, is an error naming the cell and the gene.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { AnnDataFile } from "cellarium-ts/node";
 *
 * const file = await AnnDataFile.open("examples/data/demo_0.h5ad");
 * const x_ng = file.readX(0, 10); // the first 10 cells, CSR as stored
 * assert.equal(x_ng.nRows, 10);
 * assert.equal(x_ng.nCols, file.nVars);
 * assert.equal(file.varNames().length, file.nVars);
 * file.close();
 * ```
 */
export class AnnDataFile {
  /** Cells (rows of X). */
  readonly nObs: number;
  /** Genes (columns of X). */
  readonly nVars: number;
  /** The cells' dataframe: its index and columns, each read on demand. */
  readonly obs: AnnDataFrame;
  /** The genes' dataframe: its index and columns, each read on demand. */
  readonly var: AnnDataFrame;
  /**
   * What reads the file's structure: "direct" (../hdf5/tree.ts, the layouts h5py and anndata
   * write by default) or "h5wasm" (the HDF5 library, for everything else).
   */
  readonly hdf5Reader: "direct" | "h5wasm";
  /** null: the file has no X (anndata's X = None, e.g. cellarium's prediction files). */
  private readonly x: MatrixReader | null;
  private readonly matrices = new Map<string, MatrixReader>();
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly h5: H5File,
    private readonly options: MatrixReaderOptions,
    /** The same file open read-only for the direct reads of X's arrays (matrix-reader.ts). */
    private readonly raw: RawFile | undefined,
  ) {
    const root: H5Group = h5;
    this.hdf5Reader = h5 instanceof DirectGroup ? "direct" : "h5wasm";
    for (const key of ["obs", "var"]) {
      if (root.get(key) === null) {
        throw new FileFormatError(
          `${path}: not an AnnData file: no '${key}' at the root (found: ${root.keys().join(", ") || "nothing"})`,
        );
      }
    }
    this.obs = new AnnDataFrame(path, h5, requireFrame(path, root, "obs"));
    this.var = new AnnDataFrame(path, h5, requireFrame(path, root, "var"));
    this.nObs = this.obs.length;
    this.nVars = this.var.length;
    this.x = root.get("X") === null ? null : this.checkedMatrix("/X", this.nVars);
  }

  /**
   * Opens `path` read-only. Errors name the file: missing, not HDF5, truncated, not AnnData.
   * `options.directReads: false` reads it all through h5wasm.
   */
  static async open(path: string, options: MatrixReaderOptions = {}): Promise<AnnDataFile> {
    checkRegularFile(path);
    const raw = openRaw(path);
    const tree =
      raw === undefined || options.directReads === false ? undefined : openTree(path, raw.fd, raw.size);
    let h5: H5File;
    try {
      h5 = tree ?? (await openHdf5(path));
    } catch (error) {
      if (raw !== undefined) closeSync(raw.fd);
      throw error;
    }
    try {
      return new AnnDataFile(path, h5, options, raw);
    } catch (error) {
      h5.close();
      if (raw !== undefined) closeSync(raw.fd);
      if (error instanceof FileFormatError || error instanceof ArgumentError) throw error;
      // h5wasm (or the direct reader) raised while reading the layout: a damaged file (e.g. truncated).
      throw new FileFormatError(`${path}: cannot read the AnnData layout (${hdf5Reason(error)})`, {
        cause: error,
      });
    }
  }

  /** How X is stored: csr_matrix, csc_matrix (row blocks need a scan, see csc.ts) or array (dense); null without X. */
  get xEncoding(): MatrixReader["encoding"] | null {
    return this.x?.encoding ?? null;
  }

  /** The cell names (obs's index). */
  obsNames(): string[] {
    return this.obs.index();
  }

  /** The gene names (var's index), X's columns in order. */
  varNames(): string[] {
    return this.var.index();
  }

  /**
   * Rows [rowStart, rowEnd) of X as float32: CSR for sparse files, dense row-major otherwise; its
   * large arrays from `allocate` (MatrixReader.read). Checked (check-block.ts): NaN or infinite
   * values and column indices out of range are errors naming the cell and the gene; CSR rows come
   * sorted by column, repeated columns summed.
   */
  readX(rowStart: number, rowEnd: number, allocate?: ArrayAllocator): Matrix {
    this.checkOpen();
    if (this.x === null)
      throw new FileFormatError(`${this.path}: has no X (anndata's X = None): there are no counts to read`);
    return this.checked("X", true, rowStart, this.x.read(rowStart, rowEnd, allocate));
  }

  /** The names of the matrices under layers/. */
  layerKeys(): string[] {
    return this.keysOf("layers");
  }

  /** Rows of layers[key], read and checked like X. */
  layer(key: string, rowStart = 0, rowEnd = this.nObs, allocate?: ArrayAllocator): Matrix {
    this.checkOpen();
    const block = this.matrixAt("layers", key, this.nVars).read(rowStart, rowEnd, allocate);
    return this.checked(`layers/${key}`, true, rowStart, block);
  }

  /** The names of the matrices under obsm/. */
  obsmKeys(): string[] {
    return this.keysOf("obsm");
  }

  /** Rows of obsm[key] (an n_obs x k array or sparse matrix), read and checked like X. */
  obsm(key: string, rowStart = 0, rowEnd = this.nObs, allocate?: ArrayAllocator): Matrix {
    this.checkOpen();
    const block = this.matrixAt("obsm", key, undefined).read(rowStart, rowEnd, allocate);
    return this.checked(`obsm/${key}`, false, rowStart, block);
  }

  /** The simple entries of uns (see uns.ts); an absent uns reads as {}. */
  uns(): UnsDict {
    this.checkOpen();
    const group = this.h5.get("uns");
    return isGroup(group) ? readUnsGroup(this.path, group) : {};
  }

  /** Closes the file; later reads throw. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.h5.close();
    if (this.raw !== undefined) closeSync(this.raw.fd);
  }

  /** A block of `element` from row `rowStart` on, checked; its columns are genes unless obsm. */
  private checked(element: string, genes: boolean, rowStart: number, block: Matrix): Matrix {
    return checkBlock(block, this.path, element, (row, col) => {
      // Only on the error path: the names are read then.
      const cell = this.obsNames()[rowStart + row];
      const gene = genes ? this.varNames()[col] : undefined;
      return `cell ${cell} (row ${rowStart + row}), ${gene === undefined ? `column ${col}` : `gene ${gene}`}`;
    });
  }

  private keysOf(groupKey: string): string[] {
    this.checkOpen();
    const group = this.h5.get(groupKey);
    return isGroup(group) ? group.keys() : [];
  }

  private matrixAt(groupKey: string, key: string, nCols: number | undefined): MatrixReader {
    const path = `/${groupKey}/${key}`;
    if (!this.keysOf(groupKey).includes(key)) {
      throw new ArgumentError(
        `${this.path}: no ${groupKey} entry '${key}' (found: ${this.keysOf(groupKey).join(", ") || "none"})`,
      );
    }
    let reader = this.matrices.get(path);
    if (reader === undefined) {
      reader = this.checkedMatrix(path, nCols);
      this.matrices.set(path, reader);
    }
    return reader;
  }

  private checkedMatrix(path: string, nCols: number | undefined): MatrixReader {
    const reader = openMatrix(this.path, this.h5, path, this.options, this.raw);
    if (reader.nRows !== this.nObs || (nCols !== undefined && reader.nCols !== nCols)) {
      const expected = `[${this.nObs}, ${nCols ?? "k"}]`;
      throw new FileFormatError(
        `${this.path}: ${path} has shape [${reader.nRows}, ${reader.nCols}], expected ${expected} from obs and var`,
      );
    }
    return reader;
  }

  private checkOpen(): void {
    if (this.closed) throw new ArgumentError(`${this.path}: the file is closed`);
  }
}

/**
 * `path` opened read-only for the direct reads, or undefined if it cannot be (h5wasm then reads
 * everything, and says why it cannot open the file).
 */
function openRaw(path: string): RawFile | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(path, "r");
    return { fd, size: fstatSync(fd).size };
  } catch {
    if (fd !== undefined) closeSync(fd);
    return undefined;
  }
}

function requireFrame(path: string, root: H5Group, key: string): H5Group {
  const group = root.get(key);
  if (!isGroup(group)) {
    // anndata < 0.7 stored dataframes as HDF5 record arrays.
    throw new FileFormatError(
      `${path}: /${key} is not a dataframe group (record-array dataframes of anndata < 0.7 are not supported)`,
    );
  }
  return group;
}
