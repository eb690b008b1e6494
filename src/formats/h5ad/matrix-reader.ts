import type { Dataset } from "h5wasm/node";
import { type ArrayAllocator, freshArrays } from "../../data/buffer-pool.js";
import {
  checkIndicesInPlace,
  checkValuesInPlace,
  copyIndicesChecked,
  copyValuesChecked,
} from "../../data/check-block.js";
import type { CsrMatrix, DenseMatrix, Matrix } from "../../data/matrix.js";
import { ArgumentError, FileFormatError } from "../../errors.js";
import { KNOWN_VERSIONS, UNTAGGED } from "../encodings.js";
import { findRawStorage, type RawStorage } from "../hdf5/dataset.js";
import { readRawInto } from "../hdf5/read.js";
import { DirectDataset } from "../hdf5/tree.js";
import { isNumericArray, type NumericArray, toFloat32, toFloat64, toInt32 } from "./convert.js";
import { readCscRows } from "./csc.js";
import {
  attrValue,
  datasetShape,
  type H5Dataset,
  type H5File,
  type H5Group,
  isDataset,
  isGroup,
  readSlice,
  requireDataset,
  storedAs,
  stringAttr,
} from "./element.js";
import { H5AD_ENCODINGS } from "./encodings.js";
import { READ_PIECE_ELEMENTS, readSliceInto } from "./h5wasm.js";

// Row-block readers for the matrices of an AnnData file (X, layers, obsm): each read touches only
// the rows asked for (the wasm heap is 2 GiB and never shrinks, so a matrix is never read whole).

export type MatrixEncoding = "csr_matrix" | "csc_matrix" | "array";

export interface MatrixReader {
  readonly path: string;
  readonly encoding: MatrixEncoding;
  readonly nRows: number;
  readonly nCols: number;
  /**
   * Rows [rowStart, rowEnd) as CSR (csr_matrix, csc_matrix) or dense row-major (array); values as
   * float32. The values and column indices of csr_matrix and array elements come from `allocate`
   * (default: fresh arrays).
   */
  read(rowStart: number, rowEnd: number, allocate?: ArrayAllocator): Matrix;
  /**
   * How a sparse matrix's indices and data are read: straight from the file (their layout, see
   * hdf5/dataset.ts) or through h5wasm (null).
   */
  readonly direct?: {
    readonly indices: RawStorage["layout"] | null;
    readonly data: RawStorage["layout"] | null;
  };
}

/**
 * The .h5ad file open for direct reads (hdf5/read.ts) beside h5wasm, where h5wasm reads the rest
 * of it: its descriptor and size at open.
 */
export interface RawFile {
  readonly fd: number;
  readonly size: number;
}

export interface MatrixReaderOptions {
  /**
   * CSC matrices with at most this many stored values are converted to CSR once, in memory (8
   * bytes per value); larger ones are scanned in column chunks for every row block.
   */
  cscCacheMaxNnz?: number;
  /** The most elements one wasm-heap read holds (default READ_PIECE_ELEMENTS; tests set it small). */
  readPieceElements?: number;
  /**
   * false: read the file through h5wasm even where its layout could be read directly (its
   * structure, and sparse indices and data; tests and benchmarks compare the two).
   */
  directReads?: boolean;
}

const DEFAULT_CSC_CACHE_MAX_NNZ = 1 << 24;

/** Opens the matrix element at `path` (a sparse group or a 2-D dataset). */
export function openMatrix(
  file: string,
  h5: H5File,
  path: string,
  options: MatrixReaderOptions = {},
  raw?: RawFile,
): MatrixReader {
  const entity = h5.get(path);
  if (!isDataset(entity) && !isGroup(entity)) {
    throw new FileFormatError(`${file}: ${path} is ${entity === null ? "missing" : "not a matrix"}`);
  }
  const { encoding, decoder } = H5AD_ENCODINGS.lookup("matrix", file, entity);
  if (decoder !== undefined) return decoder(file, entity, options, raw);
  if (isDataset(entity))
    throw new FileFormatError(`${file}: ${path} has unsupported encoding-type '${encoding}' for a matrix`);
  throw new FileFormatError(
    `${file}: ${path} has unsupported encoding-type '${encoding}' for a matrix; expected csr_matrix, csc_matrix or a 2-D array`,
  );
}

function denseReader(file: string, entity: H5Dataset, piece: number): MatrixReader {
  const path = entity.path;
  const shape = datasetShape(entity);
  if (shape.length !== 2) {
    throw new FileFormatError(`${file}: ${path} must be a 2-D array, found shape [${shape.join(", ")}]`);
  }
  const [nRows, nCols] = shape as [number, number];
  return {
    path,
    encoding: "array",
    nRows,
    nCols,
    read(rowStart, rowEnd, allocate = freshArrays): DenseMatrix {
      checkRows(file, path, nRows, rowStart, rowEnd);
      const n = rowEnd - rowStart;
      const data = readFloat32(file, entity, [[rowStart, rowEnd], []], n * nCols, allocate, piece);
      return { format: "dense", nRows: n, nCols, data };
    },
  };
}

/** A sparse group's 2-element shape attribute (`shape`, or h5sparse's `h5sparse_shape`). */
function sparseShape(file: string, group: H5Group, name: string): [number, number] {
  const shapeAttr = attrValue(group, name);
  if (!isNumericArray(shapeAttr) || shapeAttr.length !== 2) {
    throw new FileFormatError(`${file}: ${group.path} lacks a 2-element shape attribute`);
  }
  const [nRows, nCols] = toFloat64(shapeAttr);
  return [nRows!, nCols!];
}

/**
 * Older writers (h5sparse) than anndata 0.7 marked sparse groups with `h5sparse_format` (csr /
 * csc) and `h5sparse_shape` instead of `encoding-type` and `shape`.
 */
function h5sparseReader(
  file: string,
  group: H5Group,
  options: MatrixReaderOptions,
  raw: RawFile | undefined,
): MatrixReader {
  const legacy = stringAttr(group, "h5sparse_format");
  if (legacy === undefined) {
    throw new FileFormatError(
      `${file}: ${group.path} has unsupported encoding-type '${UNTAGGED}' for a matrix; expected csr_matrix, csc_matrix or a 2-D array`,
    );
  }
  if (legacy !== "csr" && legacy !== "csc") {
    throw new FileFormatError(`${file}: ${group.path} has unsupported h5sparse_format '${legacy}'`);
  }
  const shape = sparseShape(file, group, "h5sparse_shape");
  return (legacy === "csr" ? csrReader : cscReader)(file, group, shape, options, raw);
}

function cscCacheMaxNnz(options: MatrixReaderOptions): number {
  return options.cscCacheMaxNnz ?? DEFAULT_CSC_CACHE_MAX_NNZ;
}

function readPiece(options: MatrixReaderOptions): number {
  return options.readPieceElements ?? READ_PIECE_ELEMENTS;
}

const dense = (file: string, entity: H5Group | H5Dataset, options: MatrixReaderOptions) =>
  denseReader(file, entity as H5Dataset, readPiece(options));
H5AD_ENCODINGS.register("matrix", "dataset", "array", KNOWN_VERSIONS.array, dense);
H5AD_ENCODINGS.register("matrix", "dataset", UNTAGGED, [UNTAGGED], dense);
for (const [encoding, reader] of [
  ["csr_matrix", csrReader],
  ["csc_matrix", cscReader],
] as const) {
  H5AD_ENCODINGS.register(
    "matrix",
    "group",
    encoding,
    KNOWN_VERSIONS[encoding],
    (file, group, options, raw) =>
      reader(file, group as H5Group, sparseShape(file, group as H5Group, "shape"), options, raw),
  );
}
H5AD_ENCODINGS.register("matrix", "group", UNTAGGED, [UNTAGGED], (file, group, options, raw) =>
  h5sparseReader(file, group as H5Group, options, raw),
);

/**
 * A sparse group's indptr, indices and data datasets, indptr checked to hold `major` + 1 entries
 * (rows for CSR, columns for CSC), and the number of stored values.
 */
function sparseDatasets(
  file: string,
  group: H5Group,
  major: number,
  [nRows, nCols]: [number, number],
): { indptr: H5Dataset; indices: H5Dataset; data: H5Dataset; nnz: number } {
  const indptr = requireDataset(file, group, "indptr");
  const indices = requireDataset(file, group, "indices");
  const data = requireDataset(file, group, "data");
  if (datasetShape(indptr)[0] !== major + 1) {
    throw new FileFormatError(
      `${file}: ${group.path}/indptr has length ${datasetShape(indptr)[0]}, expected ${major + 1} (shape [${nRows}, ${nCols}])`,
    );
  }
  return { indptr, indices, data, nnz: datasetShape(data)[0] ?? 0 };
}

/**
 * Where a sparse group's indices (int32) and data (float32) can be read straight from the file
 * (hdf5/dataset.ts), each undefined where h5wasm reads it.
 */
function directStorage(
  file: string,
  options: MatrixReaderOptions,
  raw: RawFile | undefined,
  indices: H5Dataset,
  data: H5Dataset,
): { indices?: DirectRead; data?: DirectRead } {
  if (raw === undefined || options.directReads === false) return {};
  const direct = (dataset: H5Dataset, type: RawStorage["type"]): DirectRead | undefined => {
    if (dataset instanceof DirectDataset) return directRead(dataset, type);
    const storage = storedAs(dataset) === type ? findRawStorage(raw.fd, raw.size, dataset.path) : undefined;
    // h5wasm's view of the dataset and the direct reader's must agree, or h5wasm reads it.
    if (storage === undefined || storage.type !== type || storage.length !== datasetShape(dataset)[0]) {
      return undefined;
    }
    return {
      layout: storage.layout,
      read: (start, end, out) => readRawInto(file, dataset.path, raw.fd, storage, start, end, out),
    };
  };
  return { indices: direct(indices, "int32"), data: direct(data, "float32") };
}

/** A dataset read straight from the file: its layout, and elements [start, end) (row-major) into `out`. */
interface DirectRead {
  readonly layout: RawStorage["layout"];
  read(start: number, end: number, out: Float32Array | Int32Array): void;
}

/** A dataset of a file the direct reader opened, when stored as `type`. */
function directRead(dataset: DirectDataset, type: RawStorage["type"]): DirectRead | undefined {
  if (dataset.storage.type !== type) return undefined;
  return { layout: dataset.storage.layout, read: (start, end, out) => dataset.readInto(start, end, out) };
}

function directLayouts(direct: { indices?: DirectRead; data?: DirectRead }): MatrixReader["direct"] {
  return { indices: direct.indices?.layout ?? null, data: direct.data?.layout ?? null };
}

function csrReader(
  file: string,
  group: H5Group,
  [nRows, nCols]: [number, number],
  options: MatrixReaderOptions,
  raw: RawFile | undefined,
): MatrixReader {
  const path = group.path;
  const piece = readPiece(options);
  const { indptr, indices, data, nnz } = sparseDatasets(file, group, nRows, [nRows, nCols]);
  const direct = directStorage(file, options, raw, indices, data);
  return {
    path,
    encoding: "csr_matrix",
    nRows,
    nCols,
    direct: directLayouts(direct),
    read(rowStart, rowEnd, allocate = freshArrays): CsrMatrix {
      checkRows(file, path, nRows, rowStart, rowEnd);
      const n = rowEnd - rowStart;
      // Exactly three reads: indptr[rowStart..rowEnd], then indices and data [p0, p1).
      const ptr = toFloat64(
        numeric(file, `${path}/indptr`, readSlice(file, indptr, [[rowStart, rowEnd + 1]])),
      );
      const p0 = ptr[0]!;
      const p1 = ptr[n]!;
      const blockPtr = new Int32Array(n + 1);
      for (let i = 1; i <= n; i++) {
        const d = ptr[i]! - p0;
        if (!(ptr[i]! >= ptr[i - 1]!) || d > 0x7fffffff) {
          throw new FileFormatError(
            `${file}: ${path}/indptr is not non-decreasing within int32 range at row ${rowStart + i}`,
          );
        }
        blockPtr[i] = d;
      }
      if (p0 < 0 || p1 > nnz) {
        throw new FileFormatError(
          `${file}: ${path}/indptr points to [${p0}, ${p1}) outside data of length ${nnz}`,
        );
      }
      const blockIndices = readInt32(
        file,
        indices,
        [[p0, p1]],
        p1 - p0,
        allocate,
        piece,
        direct.indices,
        (source, out, at) => copyIndicesChecked(source, out, blockPtr, nCols, at),
        (out) => checkIndicesInPlace(out, blockPtr, nCols),
      );
      const blockData = readFloat32(file, data, [[p0, p1]], p1 - p0, allocate, piece, direct.data);
      return { format: "csr", nRows: n, nCols, indptr: blockPtr, indices: blockIndices, data: blockData };
    },
  };
}

function cscReader(
  file: string,
  group: H5Group,
  [nRows, nCols]: [number, number],
  options: MatrixReaderOptions,
  raw: RawFile | undefined,
): MatrixReader {
  const path = group.path;
  const cacheMaxNnz = cscCacheMaxNnz(options);
  const { indptr, indices, data, nnz } = sparseDatasets(file, group, nCols, [nRows, nCols]);
  const direct = directStorage(file, options, raw, indices, data);
  // One entry per gene: small next to X, read once.
  const colPtr = toFloat64(numeric(file, `${path}/indptr`, readSlice(file, indptr, [])));
  const source = {
    nRows,
    nCols,
    colPtr,
    readIndices: (start: number, end: number) =>
      readInt32(file, indices, [[start, end]], end - start, freshArrays, READ_PIECE_ELEMENTS, direct.indices),
    readData: (start: number, end: number) =>
      readFloat32(file, data, [[start, end]], end - start, freshArrays, READ_PIECE_ELEMENTS, direct.data),
    where: `${file}: ${path}`,
  };
  let whole: CsrMatrix | undefined;
  return {
    path,
    encoding: "csc_matrix",
    nRows,
    nCols,
    direct: directLayouts(direct),
    read(rowStart, rowEnd): CsrMatrix {
      checkRows(file, path, nRows, rowStart, rowEnd);
      if (nnz > cacheMaxNnz) return readCscRows(source, rowStart, rowEnd);
      whole ??= readCscRows(source, 0, nRows);
      return sliceCsrRows(whole, rowStart, rowEnd);
    },
  };
}

function sliceCsrRows(m: CsrMatrix, rowStart: number, rowEnd: number): CsrMatrix {
  const p0 = m.indptr[rowStart]!;
  const p1 = m.indptr[rowEnd]!;
  const indptr = new Int32Array(rowEnd - rowStart + 1);
  for (let i = 0; i < indptr.length; i++) indptr[i] = m.indptr[rowStart + i]! - p0;
  return {
    format: "csr",
    nRows: rowEnd - rowStart,
    nCols: m.nCols,
    indptr,
    indices: m.indices.slice(p0, p1),
    data: m.data.slice(p0, p1),
  };
}

type Ranges = ([number, number] | [])[];

/**
 * `length` float32 values of a hyperslab: straight into an allocated array when stored as float32,
 * checked as they are copied (the AnnDataFile's checkBlock takes the result); straight from the
 * file when `direct` (a 1-D dataset's range), checked in place.
 */
function readFloat32(
  file: string,
  dataset: H5Dataset,
  ranges: Ranges,
  length: number,
  allocate: ArrayAllocator,
  piece: number,
  direct?: DirectRead,
): Float32Array {
  if (length === 0) return new Float32Array(0);
  if (storedAs(dataset) !== "float32")
    return toFloat32(numeric(file, dataset.path, readSlice(file, dataset, ranges)));
  const out = allocate.float32(length);
  if (readDirect(dataset, ranges, out, direct, "float32")) checkValuesInPlace(out);
  else readSliceInto(file, dataset as Dataset, ranges, out, copyValuesChecked, piece);
  return out;
}

/**
 * Reads a range of rows (whole in every later dimension) straight from the file when it can:
 * through `direct`, or a dataset of a file the direct reader opened (which h5wasm cannot read:
 * it is always read so). True when it did.
 */
function readDirect(
  dataset: H5Dataset,
  ranges: Ranges,
  out: Float32Array | Int32Array,
  direct: DirectRead | undefined,
  type: RawStorage["type"],
): boolean {
  const read = direct ?? (dataset instanceof DirectDataset ? directRead(dataset, type) : undefined);
  const shape = datasetShape(dataset);
  const rows = ranges[0];
  const whole = ranges.length === shape.length && ranges.slice(1).every((range) => range.length === 0);
  if (read === undefined || rows?.length !== 2 || !whole) return false;
  const inner = shape.slice(1).reduce((a, b) => a * b, 1);
  read.read(rows[0] * inner, rows[1] * inner, out);
  return true;
}

/** `length` int32 values of a hyperslab (other integer types converted, with a range check). */
function readInt32(
  file: string,
  dataset: H5Dataset,
  ranges: Ranges,
  length: number,
  allocate: ArrayAllocator,
  piece: number,
  direct?: DirectRead,
  copy?: (source: Int32Array, out: Int32Array, at: number) => void,
  checkInPlace?: (out: Int32Array) => void,
): Int32Array {
  if (length === 0) return new Int32Array(0);
  if (storedAs(dataset) !== "int32") {
    return toInt32(numeric(file, dataset.path, readSlice(file, dataset, ranges)), `${file}: ${dataset.path}`);
  }
  const out = allocate.int32(length);
  if (readDirect(dataset, ranges, out, direct, "int32")) checkInPlace?.(out);
  else readSliceInto(file, dataset as Dataset, ranges, out, copy, piece);
  return out;
}

function numeric(file: string, path: string, value: unknown): NumericArray {
  if (!isNumericArray(value)) throw new FileFormatError(`${file}: ${path} is not a numeric dataset`);
  return value;
}

function checkRows(file: string, path: string, nRows: number, rowStart: number, rowEnd: number): void {
  if (
    !Number.isInteger(rowStart) ||
    !Number.isInteger(rowEnd) ||
    rowStart < 0 ||
    rowEnd < rowStart ||
    rowEnd > nRows
  ) {
    throw new ArgumentError(`${file}: ${path}: row range [${rowStart}, ${rowEnd}) is outside [0, ${nRows}]`);
  }
}
