// The elements of an AnnData-Zarr store as anndata 0.8 writes them (encoding-type /
// encoding-version attributes on each group and array), in Zarr format v2 with consolidated
// metadata (.zmetadata): Debian's python3-zarr (2.13) and anndata 0.8 read Zarr v2 only, and
// Vitessce and anndata.js open a store by its .zmetadata.
//
// Through zarrita (manzt/zarrita.js, the maintained Zarr library of JavaScript): zarrita reads v2
// and v3 and writes chunks of either through its codec pipeline (zarr.set), but its `create`
// makes v3 metadata only. So the v2 metadata documents (.zgroup, .zarray, .zattrs: JSON objects
// fixed by the v2 spec) are written here, each array is then opened with zarr.open.v2 and its
// chunks are written by zarr.set. Chunks are uncompressed (compressor null, as the .h5ad output):
// embeddings and probabilities are float32 that deflate barely shrinks, and zarrita's v2 zlib and
// gzip codecs decode only. Strings are anndata's `|O` arrays with the vlen-utf8 filter; zarrita
// decodes that codec but does not encode it, so its registry entry gets the encoder
// (numcodecs' VLenUTF8 layout: a uint32 count, then each string's UTF-8 length and bytes).

import { rename, rm, stat } from "node:fs/promises";
import FileSystemStore from "@zarrita/storage/fs";
import * as zarr from "zarrita";
import { outputError, temporarySibling } from "../../data/atomic-file.js";
import type { DenseMatrix } from "../../data/matrix.js";
import { ArgumentError, CellariumError, OutputError } from "../../errors.js";
import { encodingAttrs } from "../encodings.js";
import type { NumericArray } from "../h5ad/convert.js";
import { isUnsArray, type UnsInputDict } from "../h5ad/write-elements.js";

/** Values of an array: numbers (typed), booleans as 0/1 bytes, or strings. */
export type ZarrValues = NumericArray | BigInt64Array | { bool: Uint8Array } | string[];

const DTYPE: Record<string, string> = {
  Float32Array: "<f4",
  Float64Array: "<f8",
  Int8Array: "|i1",
  Uint8Array: "|u1",
  Int16Array: "<i2",
  Uint16Array: "<u2",
  Int32Array: "<i4",
  Uint32Array: "<u4",
  BigInt64Array: "<i8",
};

/** The v2 dtype of `values` (numpy's typestr; `|O` for strings, `|b1` for booleans). */
export function dtypeOf(values: ZarrValues): string {
  if (Array.isArray(values)) return "|O";
  if ("bool" in values) return "|b1";
  return DTYPE[values.constructor.name]!;
}

let vlenEncoder = false;

/** Gives zarrita's vlen-utf8 codec an encoder (see the top of this file); once per process. */
function registerVlenUtf8(): void {
  if (vlenEncoder) return;
  vlenEncoder = true;
  for (const name of ["numcodecs.vlen-utf8", "vlen-utf8"]) {
    const load = zarr.registry.get(name);
    if (load === undefined) continue;
    zarr.registry.set(name, async () => {
      const entry = await load();
      return {
        ...entry,
        fromConfig: (config: unknown, meta: Parameters<typeof entry.fromConfig>[1]) =>
          Object.assign(entry.fromConfig(config, meta), { encode: encodeVlenUtf8 }),
      };
    });
  }
}

function encodeVlenUtf8(chunk: { data: unknown }): Uint8Array {
  const strings = chunk.data as ArrayLike<unknown>;
  const encoder = new TextEncoder();
  const parts = Array.from(strings, (s) => encoder.encode(s == null ? "" : String(s)));
  const out = new Uint8Array(4 + parts.reduce((sum, p) => sum + 4 + p.length, 0));
  const view = new DataView(out.buffer);
  view.setUint32(0, parts.length, true);
  let at = 4;
  for (const part of parts) {
    view.setUint32(at, part.length, true);
    out.set(part, at + 4);
    at += 4 + part.length;
  }
  return out;
}

/** A failure to write `path` as one line: the OS's reason for a system error, else zarrita's. */
export function zarrError(path: string, what: string, error: unknown): Error {
  if (error instanceof CellariumError) return error;
  const system = outputError(path, error);
  if (system instanceof OutputError) return system;
  const cause = (error as { cause?: unknown })?.cause;
  const systemCause = cause === undefined ? null : outputError(path, cause);
  if (systemCause instanceof OutputError) return systemCause;
  const message = error instanceof Error ? error.message : String(error);
  return new OutputError(`${path}: cannot write ${what} (${message})`, { file: path, cause: error });
}

/**
 * A Zarr v2 hierarchy being written in a temporary directory beside `path`: every metadata
 * document is kept for the consolidated .zmetadata that commit() writes before moving the
 * directory to `path`.
 */
export class ZarrV2Store {
  private readonly metadata = new Map<string, unknown>();
  private readonly encoder = new TextEncoder();

  private constructor(
    readonly path: string,
    readonly tmp: string,
    private readonly store: FileSystemStore,
  ) {}

  static create(path: string): ZarrV2Store {
    registerVlenUtf8();
    const tmp = temporarySibling(path);
    // FileSystemStore makes the directories of each key it writes.
    return new ZarrV2Store(path, tmp, new FileSystemStore(tmp));
  }

  /** Writes a group (`.zgroup`) with attributes; "" is the root. */
  async group(key: string, attributes: Record<string, unknown>): Promise<void> {
    await this.document(key, ".zgroup", { zarr_format: 2 });
    await this.document(key, ".zattrs", attributes);
  }

  /** A group of matrices, strings or nested dicts: anndata's dict encoding. */
  async dictGroup(key: string): Promise<void> {
    await this.group(key, encodingAttrs("dict"));
  }

  /**
   * Writes an array's metadata: `shape`, chunked by `chunks` (rows, then whole rows), of
   * `dtype`; again with a larger shape as rows come. Returns the array opened by zarrita.
   */
  async declare(
    key: string,
    shape: readonly number[],
    chunks: readonly number[],
    dtype: string,
  ): Promise<zarr.Array<zarr.DataType, FileSystemStore>> {
    const text = dtype === "|O";
    await this.document(key, ".zarray", {
      zarr_format: 2,
      shape,
      chunks: chunks.map((c) => Math.max(1, c)),
      dtype,
      compressor: null,
      fill_value: text ? null : dtype === "|b1" ? false : 0,
      filters: text ? [{ id: "vlen-utf8" }] : null,
      order: "C",
      dimension_separator: ".",
    });
    return await zarr.open.v2(zarr.root(this.store).resolve(key), { kind: "array" });
  }

  async attributes(key: string, attributes: Record<string, unknown>): Promise<void> {
    await this.document(key, ".zattrs", attributes);
  }

  /** Writes `values` at rows [start, start + rows) of an array `width` wide (null: one-dimensional). */
  async setRows(
    array: zarr.Array<zarr.DataType, FileSystemStore>,
    start: number,
    rows: number,
    width: number | null,
    values: ZarrValues,
  ): Promise<void> {
    if (rows === 0) return;
    const data = Array.isArray(values)
      ? values
      : "bool" in values
        ? new zarr.BoolArray(values.bool.buffer, values.bool.byteOffset, values.bool.length)
        : values;
    const chunk = {
      data,
      shape: width === null ? [rows] : [rows, width],
      stride: width === null ? [1] : [width, 1],
    };
    const selection =
      width === null ? [zarr.slice(start, start + rows)] : [zarr.slice(start, start + rows), null];
    await zarr.set(array, selection, chunk as never);
  }

  /** Writes a whole array: `values` of `shape` (a scalar for []) with its attributes. */
  async array(
    key: string,
    values: ZarrValues,
    shape: readonly number[],
    attributes: Record<string, unknown>,
  ) {
    const rows = shape[0] ?? 1;
    const width = shape.length === 2 ? shape[1]! : null;
    if (shape.length > 2) throw new ArgumentError(`${this.path}: ${key} has ${shape.length} dimensions`);
    const chunks =
      shape.length === 0 ? [] : width === null ? [Math.max(1, rows)] : [Math.max(1, rows), width];
    const array = await this.declare(key, shape, chunks, dtypeOf(values));
    await this.attributes(key, attributes);
    if (shape.length === 0) {
      const scalar = Array.isArray(values) ? values[0] : "bool" in values ? values.bool[0] === 1 : values[0];
      await zarr.set(array, null, scalar as never);
    } else await this.setRows(array, 0, rows, width, values);
  }

  async strings(key: string, values: readonly string[]): Promise<void> {
    await this.array(key, [...values], [values.length], encodingAttrs("string-array"));
  }

  /** A dict of dense matrices with `nRows` rows each (varm). */
  async matrices(key: string, matrices: Readonly<Record<string, DenseMatrix>>, nRows: number): Promise<void> {
    await this.dictGroup(key);
    for (const [name, m] of Object.entries(matrices)) {
      if (m.nRows !== nRows || m.data.length !== m.nRows * m.nCols) {
        throw new ArgumentError(
          `write ${this.path}: ${key} '${name}' is ${m.nRows} x ${m.nCols} with ${m.data.length} values, expected ${nRows} rows`,
        );
      }
      await this.array(`${key}/${name}`, m.data, [m.nRows, m.nCols], encodingAttrs("array"));
    }
  }

  /** A dataframe of an index and no columns (var of a predictions file). */
  async indexFrame(key: string, index: readonly string[]): Promise<void> {
    await this.group(key, { _index: "_index", "column-order": [], ...encodingAttrs("dataframe") });
    await this.strings(`${key}/_index`, index);
  }

  /** uns as anndata writes it: strings, numbers, arrays and nested dicts. */
  async uns(key: string, dict: UnsInputDict): Promise<void> {
    await this.dictGroup(key);
    for (const [name, value] of Object.entries(dict)) {
      const at = `${key}/${name}`;
      if (typeof value === "string") await this.array(at, [value], [], encodingAttrs("string"));
      else if (typeof value === "number")
        await this.array(
          at,
          Number.isSafeInteger(value) ? new BigInt64Array([BigInt(value)]) : new Float64Array([value]),
          [],
          encodingAttrs("numeric-scalar"),
        );
      else if (typeof value === "boolean")
        await this.array(at, { bool: new Uint8Array([value ? 1 : 0]) }, [], encodingAttrs("numeric-scalar"));
      else if (Array.isArray(value)) {
        if (!value.every((v) => typeof v === "string"))
          throw new ArgumentError(
            `write ${this.path}: uns '${name}' must be an array of strings or a typed array`,
          );
        await this.strings(at, value as string[]);
      } else if (ArrayBuffer.isView(value))
        await this.array(at, value as NumericArray, [(value as NumericArray).length], encodingAttrs("array"));
      else if (isUnsArray(value)) await this.array(at, value.data, value.shape, encodingAttrs("array"));
      else await this.uns(at, value as UnsInputDict);
    }
  }

  /** Writes .zmetadata and moves the store to its path (a store or file there is replaced). */
  async commit(): Promise<void> {
    const metadata = Object.fromEntries([...this.metadata].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    await this.put("/.zmetadata", { metadata, zarr_consolidated_format: 1 });
    if ((await stat(this.path).catch(() => null)) === null) {
      await rename(this.tmp, this.path);
      return;
    }
    // A directory cannot be renamed onto a non-empty one: the old store is moved aside first.
    const aside = temporarySibling(this.path);
    await rename(this.path, aside);
    try {
      await rename(this.tmp, this.path);
    } catch (error) {
      await rename(aside, this.path).catch(() => {});
      throw error;
    }
    await rm(aside, { recursive: true, force: true });
  }

  /** Removes the temporary directory. */
  async discard(): Promise<void> {
    await rm(this.tmp, { recursive: true, force: true });
  }

  private async document(key: string, name: string, value: unknown): Promise<void> {
    const at = key === "" ? name : `${key}/${name}`;
    this.metadata.set(at, value);
    await this.put(`/${at}`, value);
  }

  private async put(key: `/${string}`, value: unknown): Promise<void> {
    await this.store.set(key, this.encoder.encode(JSON.stringify(value)));
  }
}
