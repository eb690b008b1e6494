// An AnnData-Zarr store without X whose rows (obs index and columns, obsm matrices) are appended
// batch by batch, the Zarr counterpart of h5ad/row-writer.ts. Each per-row array grows a chunk at
// a time: rows collect in one chunk's buffer, and a full chunk is written (its .zarray's shape
// grown to cover it) as soon as it fills, so at most one chunk per array is in memory and every
// chunk is written once, whole. Strings stream as well (vlen-utf8 chunks are independent). The
// store is built in a temporary directory beside its path and moved there by finish().

import { ArgumentError } from "../../errors.js";
import {
  type AnnDataRowWriter,
  checkBlock,
  checkColumnNames,
  columnArray,
  obsmChunkRows,
  ROW_CHUNK,
  type RowBlock,
  type RowColumnSpec,
  type RowWriterRest,
} from "../anndata-rows.js";
import { encodingAttrs } from "../encodings.js";
import { dtypeOf, ZarrV2Store, type ZarrValues, zarrError } from "./write-elements.js";

/** A per-row array written a chunk at a time. */
class GrowingArray {
  private written = 0;
  private filled = 0;
  private readonly buffer: ZarrValues;

  constructor(
    private readonly store: ZarrV2Store,
    private readonly key: string,
    /** Values per row; null for a one-dimensional array. */
    readonly width: number | null,
    private readonly chunkRows: number,
    /** An empty array of the stored type, which the buffer copies. */
    like: ZarrValues,
  ) {
    const size = chunkRows * (width ?? 1);
    this.buffer = Array.isArray(like)
      ? new Array<string>(size).fill("")
      : "bool" in like
        ? { bool: new Uint8Array(size) }
        : new (like.constructor as new (n: number) => typeof like)(size);
  }

  get rows(): number {
    return this.written + this.filled;
  }

  /** Appends `n` rows of `values` (row-major), writing each chunk that fills. */
  async push(values: ArrayLike<unknown>, n: number): Promise<void> {
    const w = this.width ?? 1;
    let from = 0;
    while (from < n) {
      const take = Math.min(n - from, this.chunkRows - this.filled);
      copy(values, from * w, this.buffer, this.filled * w, take * w);
      this.filled += take;
      from += take;
      if (this.filled === this.chunkRows) await this.flush();
    }
  }

  /** Writes the last, partial chunk and the final shape. */
  async close(): Promise<void> {
    if (this.filled > 0) await this.flush();
    else await this.declare(this.written);
  }

  private async flush(): Promise<void> {
    const rows = this.filled;
    const array = await this.declare(this.written + rows);
    const w = this.width ?? 1;
    const values = Array.isArray(this.buffer)
      ? this.buffer.slice(0, rows * w)
      : "bool" in this.buffer
        ? { bool: this.buffer.bool.subarray(0, rows * w) }
        : this.buffer.subarray(0, rows * w);
    await this.store.setRows(array, this.written, rows, this.width, values);
    this.written += rows;
    this.filled = 0;
  }

  private declare(rows: number) {
    const shape = this.width === null ? [rows] : [rows, this.width];
    const chunks = this.width === null ? [this.chunkRows] : [this.chunkRows, this.width];
    return this.store.declare(this.key, shape, chunks, dtypeOf(this.buffer));
  }
}

function copy(from: ArrayLike<unknown>, at: number, to: ZarrValues, offset: number, n: number): void {
  const target = (Array.isArray(to) ? to : "bool" in to ? to.bool : to) as unknown as {
    [i: number]: unknown;
  };
  for (let i = 0; i < n; i++) target[offset + i] = from[at + i];
}

/** The stored type of a non-string column, as an empty array. */
function emptyOf(spec: Exclude<RowColumnSpec, { kind: "string" }>): ZarrValues {
  return spec.kind === "boolean" ? { bool: new Uint8Array(0) } : columnArray("", "", spec, [], 0);
}

export class ZarrRowWriter implements AnnDataRowWriter {
  private done = false;
  private readonly obsm = new Map<string, GrowingArray>();

  private constructor(
    private readonly store: ZarrV2Store,
    private readonly specs: ReadonlyMap<string, RowColumnSpec>,
    private readonly index: GrowingArray,
    private readonly columns: ReadonlyMap<string, GrowingArray>,
  ) {}

  get path(): string {
    return this.store.path;
  }

  get nObs(): number {
    return this.index.rows;
  }

  /** Starts the store in a temporary directory, with the obs columns `columns` in that order. */
  static async create(path: string, columns: ReadonlyMap<string, RowColumnSpec>): Promise<ZarrRowWriter> {
    checkColumnNames(path, columns.keys());
    const store = ZarrV2Store.create(path);
    try {
      await store.group("", encodingAttrs("anndata"));
      await store.group("obs", {
        _index: "_index",
        "column-order": [...columns.keys()],
        ...encodingAttrs("dataframe"),
      });
      const index = new GrowingArray(store, "obs/_index", null, ROW_CHUNK, []);
      await store.attributes("obs/_index", encodingAttrs("string-array"));
      const growing = new Map<string, GrowingArray>();
      for (const [name, spec] of columns) {
        let key = `obs/${name}`;
        if (spec.kind === "categorical") {
          await store.group(key, { ...encodingAttrs("categorical"), ordered: spec.ordered ?? false });
          const categories = spec.categories;
          if (categories.every((c) => typeof c === "string"))
            await store.strings(`${key}/categories`, categories);
          else
            await store.array(
              `${key}/categories`,
              Float64Array.from(categories as number[]),
              [categories.length],
              encodingAttrs("array"),
            );
          key = `${key}/codes`;
        }
        const like = spec.kind === "string" ? [] : emptyOf(spec);
        growing.set(name, new GrowingArray(store, key, null, ROW_CHUNK, like));
        await store.attributes(key, encodingAttrs(spec.kind === "string" ? "string-array" : "array"));
      }
      await store.dictGroup("obsm");
      return new ZarrRowWriter(store, columns, index, growing);
    } catch (error) {
      await store.discard();
      throw zarrError(path, "obs", error);
    }
  }

  async appendRows(block: RowBlock): Promise<void> {
    this.checkOpen();
    const n = block.index.length;
    checkBlock(this.path, this.columns.keys(), block, this.nObs > 0 ? new Set(this.obsm.keys()) : null);
    for (const [key, m] of Object.entries(block.obsm)) {
      const width = this.obsm.get(key)?.width ?? m.nCols;
      if (m.nCols !== width)
        throw new ArgumentError(
          `write ${this.path}: obsm '${key}' has ${m.nCols} columns, earlier blocks ${width}`,
        );
    }
    if (n === 0) return;
    // Every value checked before any is written: a bad block leaves the store as it was.
    const values = [...this.columns].map(([name, column]) => {
      const spec = this.specs.get(name)!;
      const given = block.columns.get(name)!;
      const stored =
        spec.kind === "string"
          ? Array.from(given, String)
          : columnArray(this.path, name, spec, given, this.nObs);
      return { column, stored };
    });
    try {
      for (const { column, stored } of values) await column.push(stored, n);
      for (const [key, m] of Object.entries(block.obsm)) {
        let array = this.obsm.get(key);
        if (array === undefined) {
          array = new GrowingArray(
            this.store,
            `obsm/${key}`,
            m.nCols,
            obsmChunkRows(m.nCols),
            new Float32Array(0),
          );
          await this.store.attributes(`obsm/${key}`, encodingAttrs("array"));
          this.obsm.set(key, array);
        }
        await array.push(m.data, n);
      }
      // The index last: it counts the rows appended.
      await this.index.push(block.index, n);
    } catch (error) {
      throw error instanceof ArgumentError ? error : zarrError(this.path, "obs", error);
    }
  }

  async finish(rest: RowWriterRest): Promise<void> {
    this.checkOpen();
    this.done = true;
    try {
      if (Object.keys(rest.var.columns ?? {}).length > 0)
        throw new ArgumentError(`write ${this.path}: var columns are not written by the row writer`);
      for (const array of [this.index, ...this.columns.values(), ...this.obsm.values()]) await array.close();
      await this.store.indexFrame("var", rest.var.index);
      await this.store.matrices("varm", rest.varm ?? {}, rest.var.index.length);
      await this.store.uns("uns", rest.uns ?? {});
      // Empty like anndata's own output, so every reader finds the usual groups.
      for (const key of ["layers", "obsp", "varp"]) await this.store.dictGroup(key);
      await this.store.commit();
    } catch (error) {
      await this.store.discard();
      throw error instanceof ArgumentError ? error : zarrError(this.path, "the store", error);
    }
  }

  async abort(): Promise<void> {
    if (this.done) return;
    this.done = true;
    await this.store.discard();
  }

  private checkOpen(): void {
    if (this.done) throw new ArgumentError(`write ${this.path}: the writer is already finished or aborted`);
  }
}
