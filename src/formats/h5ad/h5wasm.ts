import { openSync, statSync } from "node:fs";
import type { Dataset, File } from "h5wasm/node";
import { fileKind } from "../../data/regular-file.js";
import { FileFormatError } from "../../errors.js";

// One h5wasm module per process. "h5wasm/node" is the build that opens files on the real file
// system (the bare "h5wasm" import is the browser build with an in-memory file system). It is
// imported when the first file is opened, not with this module: its 4 MB of JavaScript take ~0.1 s
// to load, and a command whose files a read-ahead worker opens never needs it on the main thread.

type H5wasm = typeof import("h5wasm/node");
let ready: Promise<void> | undefined;
/** h5wasm's classes, once initH5wasm has resolved. */
let library: H5wasm | undefined;
/** The wasm module itself, for the reads Dataset.slice cannot do into a caller's buffer. */
let wasm: Awaited<H5wasm["ready"]> | undefined;

/** Whether h5wasm has been loaded (by a file it opened or wrote). */
export function h5wasmLoaded(): boolean {
  return library !== undefined;
}

/** h5wasm's classes (File, Group, Dataset, Reference); only after initH5wasm, as every entity is. */
export function h5wasmLibrary(): H5wasm {
  if (library === undefined) throw new Error("h5wasmLibrary: initH5wasm has not resolved");
  return library;
}

/** Imports and initializes h5wasm once: throwing error handler and the compression plugins. */
export function initH5wasm(): Promise<void> {
  ready ??= loadH5wasm();
  return ready;
}

async function loadH5wasm(): Promise<void> {
  const [h5wasm, { install_local_plugins }] = await Promise.all([
    import("h5wasm/node"),
    import("h5wasm-plugins"),
  ]);
  const module = await h5wasm.ready;
  // Without the throwing handler a dataset whose filter cannot be loaded reads as garbage
  // instead of failing (measured with LZF, the default of anndata 0.7).
  module.activate_throwing_error_handler();
  silenceHdf5Diagnostics(module);
  // LZF (filter 32000, every anndata 0.7 file), blosc, zstd, lz4, bz2, ...; gzip and szip are
  // built into h5wasm.
  install_local_plugins(module);
  library = h5wasm;
  wasm = module;
}

/**
 * HDF5 prints its error stack (HDF5-DIAG, three lines per frame: about a hundred for a full disk)
 * with fprintf(stderr) whenever its automatic error handler prints rather than throws, e.g. when
 * h5wasm's throwing handler cannot create the temporary file it formats the stack into. H5Eset_auto2
 * is not exported by h5wasm, so the wasm side's standard error (its file system's stream 2, which
 * writes to the process's fd 2) is pointed at /dev/null instead: the reasons reach the user through
 * the errors thrown, condensed to one line (hdf5Reason). Nothing but HDF5's C code writes there.
 */
function silenceHdf5Diagnostics(module: Awaited<H5wasm["ready"]>): void {
  const streams = (module.FS as unknown as { streams?: ({ nfd?: number } | null)[] }).streams;
  const stderr = streams?.[2];
  if (stderr === null || stderr === undefined || typeof stderr.nfd !== "number") return;
  try {
    stderr.nfd = openSync("/dev/null", "w");
  } catch {
    // No /dev/null (not a Unix system): HDF5's rare diagnostics stay on stderr.
  }
}

/**
 * Throws a FileFormatError unless `path` is a regular file (a FIFO would block an open forever;
 * h5wasm's own message for a missing file is a multi-line trace).
 */
export function checkRegularFile(path: string): void {
  let kind: string | null;
  try {
    kind = fileKind(statSync(path));
  } catch {
    throw new FileFormatError(`${path}: no such file`, { file: path });
  }
  if (kind !== null) throw new FileFormatError(`${path}: ${kind}, not a regular file`, { file: path });
}

/** Opens an HDF5 file for reading, after checking that it is a regular file. */
export async function openHdf5(path: string): Promise<File> {
  await initH5wasm();
  checkRegularFile(path);
  try {
    return new library!.File(path, "r");
  } catch (error) {
    throw new FileFormatError(`${path}: cannot open as HDF5 (${hdf5Reason(error)})`, { cause: error });
  }
}

/** Creates (truncates) an HDF5 file for writing; h5wasm's error as it is (the writer names the output). */
export async function createHdf5(path: string): Promise<File> {
  await initH5wasm();
  return new library!.File(path, "w");
}

/**
 * The one line of an HDF5 error stack worth showing: the innermost "minor" reason and the
 * deepest function message. h5wasm's errors carry the whole HDF5-DIAG stack, many lines long.
 */
export function hdf5Reason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const lines = message.split("\n").map((line) => line.trim());
  const calls = lines.filter((line) => /^#\d+:/.test(line));
  const filter = calls.find((line) => /required filter/.test(line));
  const last = filter ?? calls.at(-1) ?? lines[0] ?? message;
  // "#008: /path/H5Z.c line 1435 in H5Z_pipeline(): required filter 'lzf' is not registered"
  return last.replace(/^#\d+:.*?\(\):\s*/, "");
}

/** Reads a hyperslab, turning an HDF5 failure into a one-line FileFormatError naming file and dataset. */
export function readSlice(
  file: string,
  dataset: Dataset,
  ranges: ([number, number] | [])[],
): ReturnType<Dataset["slice"]> {
  checkFilters(file, dataset);
  try {
    return dataset.slice(ranges);
  } catch (error) {
    throw datasetReadError(file, dataset, error);
  }
}

/** The typed array a numeric dataset's stored elements read into unconverted: little-endian 4-byte floats or signed integers. */
export function storedAs(dataset: Dataset): "float32" | "int32" | undefined {
  const { type, size, signed, littleEndian, vlen } = dataset.metadata;
  if (size !== 4 || !littleEndian || vlen) return undefined;
  const classes = wasm!.H5T_class_t;
  if (type === classes.H5T_FLOAT.value) return "float32";
  if (type === classes.H5T_INTEGER.value && signed) return "int32";
  return undefined;
}

/**
 * The most elements one wasm-heap read holds (16 MiB of 4-byte values). The wasm heap never gives
 * memory back, and each of its fresh pages costs a page fault: reading a 250 MB shard in one piece
 * kept 250 MB resident for the rest of the run and faulted it in once more than the shard itself
 * needs. In pieces the heap stays at one piece, already faulted in, and each piece is copied while
 * it is still in cache.
 */
export const READ_PIECE_ELEMENTS = 1 << 22;

/**
 * Reads a hyperslab (a [start, end) range per dimension, [] for all of it) of a dataset whose
 * elements are stored as `out`'s type (storedAs) into `out`, which must hold exactly its elements.
 * Dataset.slice would copy the wasm heap into a fresh ArrayBuffer on every read; this copies it
 * into the caller's array, which may be a reused one (buffer-pool.ts), with `copy` (default a
 * plain copy; the matrix readers check what they copy, check-block.ts). A selection of more than
 * `pieceElements` is read in pieces of whole rows of its first dimension: `copy` is called once per
 * piece with the piece's element offset in `out`, in order.
 */
export function readSliceInto<T extends Float32Array | Int32Array>(
  file: string,
  dataset: Dataset,
  ranges: readonly ([number, number] | [])[],
  out: T,
  copy: (source: T, out: T, at: number) => void = (source, target, at) => target.set(source, at),
  pieceElements = READ_PIECE_ELEMENTS,
): void {
  checkFilters(file, dataset);
  const shape = dataset.metadata.shape ?? [];
  const bounds = shape.map((size, d) => (ranges[d]?.length === 2 ? ranges[d] : ([0, size] as const)));
  const elements = bounds.reduce((n, [start, end]) => n * (end - start), 1);
  if (elements !== out.length) {
    throw new RangeError(
      `readSliceInto: ${dataset.path} selection has ${elements} elements, out holds ${out.length}`,
    );
  }
  if (elements === 0) return;
  const [first, ...rest] = bounds as [readonly [number, number], ...(readonly [number, number])[]];
  const rowElements = elements / (first[1] - first[0]);
  const rowsPerPiece = Math.max(1, Math.floor(pieceElements / rowElements));
  const heapElements = Math.min(rowsPerPiece, first[1] - first[0]) * rowElements;
  const module = wasm!;
  const bytes = heapElements * out.BYTES_PER_ELEMENT;
  const pointer = module._malloc(bytes);
  if (pointer === 0) {
    throw new FileFormatError(
      `${file}: cannot read dataset ${dataset.path}: ${bytes} bytes do not fit in the wasm heap`,
    );
  }
  const Type = (out instanceof Float32Array ? Float32Array : Int32Array) as unknown as new (
    buffer: ArrayBufferLike,
    offset: number,
    length: number,
  ) => T;
  try {
    for (let row = first[0]; row < first[1]; row += rowsPerPiece) {
      const rows = Math.min(rowsPerPiece, first[1] - row);
      const count = [BigInt(rows), ...rest.map(([start, end]) => BigInt(end - start))];
      const offset = [BigInt(row), ...rest.map(([start]) => BigInt(start))];
      const strides = count.map(() => 1n);
      module.get_dataset_data(dataset.file_id, dataset.path, count, offset, strides, BigInt(pointer));
      // The heap's buffer is read after the call: reading may have grown (replaced) it.
      copy(new Type(module.HEAPU8.buffer, pointer, rows * rowElements), out, (row - first[0]) * rowElements);
    }
  } catch (error) {
    throw datasetReadError(file, dataset, error);
  } finally {
    module._free(pointer);
  }
}

/** Reads a whole dataset (small ones only: indexes, dataframe columns, uns). */
export function readValue(file: string, dataset: Dataset): ReturnType<Dataset["slice"]> {
  checkFilters(file, dataset);
  try {
    return dataset.value;
  } catch (error) {
    throw datasetReadError(file, dataset, error);
  }
}

function datasetReadError(file: string, dataset: Dataset, error: unknown): FileFormatError {
  const reason = hdf5Reason(error);
  if (/filter/.test(reason)) {
    const filters = dataset.filters.map((f) => `${f.name || "unnamed"} (id ${f.id})`).join(", ");
    return new FileFormatError(
      `${file}: dataset ${dataset.path} uses HDF5 filters [${filters}] that cannot be decoded here (${reason}); rewrite it with gzip or no compression`,
      { cause: error },
    );
  }
  return new FileFormatError(`${file}: cannot read dataset ${dataset.path} (${reason})`, { cause: error });
}

const LZF_FILTER_ID = 32000;
/** Bytes per element of a variable-length string in the file: a global heap ID (4 + 8 + 4). */
const VLEN_STORED_SIZE = 16;
const checked = new WeakSet<Dataset>();

/**
 * The LZF plugin (built for h5wasm 0.8) aborts the whole wasm module, breaking every later read in
 * the process, when a chunk decompresses to more than the size hint in its cd_values[2] (it then
 * reads errno, a symbol h5wasm 0.10 does not export). h5py stores no hint for variable-length
 * strings (anndata >= 0.8 with compression="lzf"), so such datasets are refused before reading.
 */
function checkFilters(file: string, dataset: Dataset): void {
  if (checked.has(dataset)) return;
  for (const filter of dataset.filters) {
    if (filter.id !== LZF_FILTER_ID) continue;
    const { chunks, size, vlen } = dataset.metadata;
    const chunkBytes = (chunks ?? []).reduce((a, b) => a * b, 1) * (vlen ? VLEN_STORED_SIZE : size);
    const hint = filter.cd_values[2] ?? 0;
    if (hint < chunkBytes) {
      throw new FileFormatError(
        `${file}: dataset ${dataset.path} uses HDF5 filter lzf (id 32000) without a usable chunk-size hint (cd_values [${filter.cd_values.join(", ")}], chunk of ${chunkBytes} bytes), which the LZF plugin cannot decode; rewrite the file with gzip or no compression`,
      );
    }
  }
  checked.add(dataset);
}
