import { ArgumentError, SchemaMismatchError } from "../errors.js";
import type { DataFrameColumn } from "../formats/h5ad/dataframe.js";
import { AnnDataFile } from "../formats/h5ad/reader.js";
import { braceExpand } from "./brace-expand.js";
import { type ArrayAllocator, freshArrays } from "./buffer-pool.js";
import { type CollectionSchema, readSchema, validateShard } from "./collection-schema.js";
import { gatherColumn, gatherRows, gatherStrings } from "./gather.js";
import type { Matrix } from "./matrix.js";
import { type DownloadOptions, localPath, type RemoteCacheOptions } from "./remote-cache.js";

// Many .h5ad shards seen as one collection of cells (upstream's DistributedAnnDataCollection,
// cellarium/ml/data/distributed_anndata.py). Global cell i lives in shard k when
// limits[k-1] <= i < limits[k]. Shards are opened on demand and kept in an LRU cache of
// maxCacheSize open files; each is checked against shard 0's schema when opened.
//
// Reading rows: the rows a batch needs from one shard are read straight from the file when they
// form one range (or nearly: at most twice as many rows as needed, e.g. every other cell of a
// replica's share). Rows scattered over the shard (a shuffled batch) make the shard's whole matrix
// load into its cache entry, in row blocks (the wasm heap never shrinks), and later batches
// gather from memory. Upstream reads every shard whole into memory; here only shuffled reads do.
// Memory is bounded by (cells per shard) x (bytes per cell of the requested matrices, ~12 bytes
// per non-zero for CSR) x maxCacheSize, per thread that holds a collection (each loader worker
// opens its own).

export interface CollectionOptions {
  /** Shard paths or http(s) URLs; a string is brace-expanded (`data_{000..099}.h5ad`). */
  readonly filenames: string | readonly string[];
  /** Cumulative cell counts: shard k holds cells [limits[k-1], limits[k]). */
  readonly limits?: readonly number[];
  /** Cells per shard, when all shards but possibly the last have the same size. */
  readonly shardSize?: number;
  /** Cells in the last shard (needs shardSize). */
  readonly lastShardSize?: number;
  /** Open shards kept (default 1, upstream's). */
  readonly maxCacheSize?: number;
  /** A read that needs more shards than maxCacheSize is an error (default true, upstream's). */
  readonly cacheSizeStrictlyEnforced?: boolean;
  /** obs columns checked across shards (default all of shard 0's). */
  readonly obsColumnsToValidate?: readonly string[];
  /** Where remote shards are downloaded (default: remote-cache.ts's defaultCacheDir()). */
  readonly cacheDir?: string;
  /** Timeouts, retries and revalidation of remote shards' downloads (defaults in remote-cache.ts). */
  readonly download?: DownloadOptions;
}

/** Plain data that reopens the same collection in another thread without scanning the shards. */
export interface CollectionInit {
  readonly filenames: readonly string[];
  readonly limits: readonly number[];
  /** Shard 0's schema, so that a reopen does not read it (gene names, every obs column) again. */
  readonly schema: CollectionSchema;
  readonly maxCacheSize: number;
  readonly cacheSizeStrictlyEnforced: boolean;
  readonly obsColumnsToValidate?: readonly string[];
  readonly cacheDir?: string;
  readonly download?: DownloadOptions;
}

/** What to read for a set of rows. Matrix elements are named "X", "layers/<key>", "obsm/<key>". */
export interface RowRequest {
  /** Default ["X"]. */
  readonly matrices?: readonly string[];
  readonly obsColumns?: readonly string[];
  readonly obsNames?: boolean;
}

/** Rows in the order asked for. Every array is newly allocated (never a view of a cached shard). */
export interface Rows {
  readonly nRows: number;
  readonly matrices: ReadonlyMap<string, Matrix>;
  /** Categorical codes refer to shard 0's categories (see gatherColumn). */
  readonly obsColumns: ReadonlyMap<string, DataFrameColumn>;
  readonly obsNames?: string[];
}

/**
 * A whole shard's matrix as read: row blocks of `step` rows (the last may be shorter), kept apart
 * rather than concatenated, which would hold the shard twice while copying.
 */
interface WholeMatrix {
  readonly step: number;
  readonly blocks: readonly Matrix[];
}

interface Shard {
  readonly file: AnnDataFile;
  /** Whole-shard matrices, loaded when a read needed scattered rows. */
  readonly loaded: Map<string, WholeMatrix>;
  /** Decoded obs columns (a column is always read whole). */
  readonly columns: Map<string, DataFrameColumn>;
  obsNames?: string[];
}

/** Rows per read when loading a whole shard: about 16 MiB of a dense float32 matrix, at least 256 rows. */
const LOAD_BLOCK_VALUES = 1 << 22;
const LOAD_BLOCK_MIN_ROWS = 256;

/**
 * Many .h5ad shards seen as one collection of cells (upstream's DistributedAnnDataCollection): the
 * data set a {@link DataLoader} reads. Shards are opened lazily, at most `maxCacheSize` at a time,
 * and must share their genes and obs columns (checked when a shard is opened; a mismatch is a
 * SchemaMismatchError). Shards may be local paths or http(s) URLs, downloaded into a cache.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DistributedAnnDataCollection } from "cellarium-ts/node";
 *
 * // the demo data of the repository: two shards of 1,000 cells x 1,000 genes
 * const dadc = await DistributedAnnDataCollection.open({ filenames: "examples/data/demo_{0..1}.h5ad" });
 * assert.equal(dadc.nObs, 2000);
 * assert.equal(dadc.schema.varNames.length, dadc.nVars);
 * dadc.close();
 * ```
 */
export class DistributedAnnDataCollection {
  /** Open shards, least recently used first (a Map keeps insertion order). */
  private readonly cache = new Map<number, Shard>();
  private opens = 0;

  private constructor(
    readonly filenames: readonly string[],
    readonly limits: readonly number[],
    readonly schema: CollectionSchema,
    private readonly options: Omit<CollectionInit, "filenames" | "limits" | "schema">,
    shard0?: Shard,
  ) {
    if (shard0 === undefined) return;
    this.cache.set(0, shard0);
    this.opens = 1;
  }

  /**
   * The collection `init()` describes, in another thread: no scan, no schema read, and no file
   * opened until a read needs it.
   */
  static reopen(init: CollectionInit): DistributedAnnDataCollection {
    const { filenames, limits, schema, ...options } = init;
    return new DistributedAnnDataCollection(filenames, limits, schema, options);
  }

  /**
   * Opens a collection: expands the file names (`data_{000..099}.h5ad`), settles the shard sizes
   * (`limits`, else `shardSize`/`lastShardSize`, else each file's n_obs, which downloads every remote
   * shard), opens shard 0 and reads the schema.
   *
   * @param options - upstream's arguments camelCased: `filenames`, `limits`, `shardSize`,
   *   `lastShardSize`, `maxCacheSize` (open shards kept, default 1), `cacheSizeStrictlyEnforced`,
   *   `obsColumnsToValidate`; plus `cacheDir` and `download` for remote shards.
   * @throws {@link cellarium-ts!ArgumentError | ArgumentError} for an empty file list or
   *   inconsistent sizes; {@link cellarium-ts!FileFormatError | FileFormatError} for a shard that is
   *   not a readable AnnData; {@link cellarium-ts!DownloadError | DownloadError} for a remote shard that
   *   cannot be fetched.
   */
  static async open(options: CollectionOptions): Promise<DistributedAnnDataCollection> {
    const filenames =
      typeof options.filenames === "string" ? braceExpand(options.filenames) : [...options.filenames];
    if (filenames.length === 0) throw new ArgumentError("DistributedAnnDataCollection: filenames is empty");
    const maxCacheSize = options.maxCacheSize ?? 1;
    checkCount("maxCacheSize", maxCacheSize);
    const init = {
      maxCacheSize,
      cacheSizeStrictlyEnforced: options.cacheSizeStrictlyEnforced ?? true,
      ...(options.obsColumnsToValidate === undefined
        ? {}
        : { obsColumnsToValidate: [...options.obsColumnsToValidate] }),
      ...(options.cacheDir === undefined ? {} : { cacheDir: options.cacheDir }),
      ...(options.download === undefined ? {} : { download: { ...options.download } }),
    };
    let file0: AnnDataFile | undefined;
    let limits: number[];
    if (options.limits !== undefined) {
      limits = [...options.limits];
      if (limits.length !== filenames.length) {
        throw new ArgumentError(
          `DistributedAnnDataCollection: limits has ${limits.length} entries but there are ${filenames.length} filenames`,
        );
      }
    } else if (options.shardSize !== undefined) {
      checkCount("shardSize", options.shardSize);
      limits = filenames.map((_, k) => (k + 1) * options.shardSize!);
      if (options.lastShardSize !== undefined) {
        checkCount("lastShardSize", options.lastShardSize);
        limits[limits.length - 1] += options.lastShardSize - options.shardSize;
      }
    } else if (options.lastShardSize !== undefined) {
      throw new ArgumentError("DistributedAnnDataCollection: lastShardSize needs shardSize");
    } else {
      ({ limits, file0 } = await scanSizes(filenames, remoteOptions(init)));
    }
    limits.forEach((limit, k) => {
      const previous = k === 0 ? 0 : limits[k - 1]!;
      if (!Number.isSafeInteger(limit) || limit < previous) {
        throw new ArgumentError(
          `DistributedAnnDataCollection: limits must be non-decreasing integers, got limits[${k}] = ${limit} after ${previous}`,
        );
      }
      if (limit === previous) throw emptyShard(filenames[k]!);
    });
    try {
      file0 ??= await AnnDataFile.open(await localPath(filenames[0]!, remoteOptions(init)));
      checkSize(file0, filenames[0]!, 0, limits);
      const { schema, columns } = readSchema(file0, filenames[0]!, init.obsColumnsToValidate);
      return new DistributedAnnDataCollection(filenames, limits, schema, init, {
        file: file0,
        loaded: new Map(),
        columns,
      });
    } catch (error) {
      file0?.close();
      throw error;
    }
  }

  /** Cells in the collection, all shards together. */
  get nObs(): number {
    return this.limits[this.limits.length - 1]!;
  }

  /** Genes, which every shard shares. */
  get nVars(): number {
    return this.schema.varNames.length;
  }

  /** Shard files opened so far, shard 0 included (upstream's LRU miss count). */
  get openCount(): number {
    return this.opens;
  }

  /** Indices of the open shards, least recently used first. */
  get openShards(): number[] {
    return [...this.cache.keys()];
  }

  /** What reopen() takes to open this collection again (in a worker thread) without a scan; structured-cloneable. */
  init(): CollectionInit {
    return { filenames: this.filenames, limits: this.limits, schema: this.schema, ...this.options };
  }

  /** The shard holding global cell `index`. */
  shardOf(index: number): number {
    if (!Number.isInteger(index) || index < 0 || index >= this.nObs) {
      throw new ArgumentError(
        `DistributedAnnDataCollection: cell index ${index} is outside [0, ${this.nObs})`,
      );
    }
    let lo = 0;
    let hi = this.limits.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.limits[mid]! <= index) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * Reads the requested elements of the cells `globalIndices`, in that order. One read at a time.
   * The matrices' values and column indices come from `allocate` (default: fresh arrays).
   */
  async readRows(
    globalIndices: Int32Array,
    request: RowRequest = {},
    allocate: ArrayAllocator = freshArrays,
  ): Promise<Rows> {
    const elements = request.matrices ?? ["X"];
    for (const element of elements) this.checkElement(element);
    const columnNames = request.obsColumns ?? [];
    for (const name of columnNames) {
      if (!this.schema.obsColumns.some((c) => c.name === name)) {
        throw new ArgumentError(
          `DistributedAnnDataCollection: no obs column '${name}' (columns: ${this.schema.obsColumns.map((c) => c.name).join(", ") || "none"})`,
        );
      }
    }
    const { partOf, local, shardIds } = this.locate(globalIndices);
    if (this.options.cacheSizeStrictlyEnforced && shardIds.length > this.options.maxCacheSize) {
      throw new ArgumentError(
        `DistributedAnnDataCollection: one read needs ${shardIds.length} shards but maxCacheSize is ${this.options.maxCacheSize} (cacheSizeStrictlyEnforced); raise maxCacheSize or lower the batch size`,
      );
    }
    const n = globalIndices.length;
    const nParts = shardIds.length;
    const min = new Int32Array(nParts).fill(0x7fffffff);
    const max = new Int32Array(nParts).fill(-1);
    const count = new Int32Array(nParts);
    const inOrder = new Uint8Array(nParts).fill(1);
    for (let i = 0; i < n; i++) {
      const p = partOf[i]!;
      const row = local[i]!;
      if (count[p]! > 0 && row !== max[p]! + 1) inOrder[p] = 0;
      min[p] = Math.min(min[p]!, row);
      max[p] = Math.max(max[p]!, row);
      count[p]!++;
    }

    // Per element, the blocks the rows come from: shard part p's start at first[p]; a range read is
    // one block of rows from bases[p] on (step 0), a whole shard `step`-row blocks from row 0.
    const parts = elements.map(() => [] as Matrix[]);
    const first = elements.map(() => new Int32Array(nParts));
    const steps = elements.map(() => new Int32Array(nParts));
    const bases = elements.map(() => new Int32Array(nParts));
    const fresh = elements.map(() => new Uint8Array(nParts));
    const columnParts = columnNames.map(() => new Array<DataFrameColumn>(nParts));
    // One range read that is exactly the batch (in order, no gaps) is the batch itself; otherwise
    // the range reads are inputs to the gather, which allocates the batch.
    const direct = nParts === 1 && inOrder[0] === 1 && max[0]! - min[0]! + 1 === n;
    const nameParts = new Array<string[]>(nParts);
    // Cached shards first, so that opening the others cannot evict one this read still needs.
    const order = [...shardIds.keys()].sort(
      (a, b) => Number(!this.cache.has(shardIds[a]!)) - Number(!this.cache.has(shardIds[b]!)),
    );
    for (const p of order) {
      const shard = await this.shard(shardIds[p]!);
      const span = max[p]! - min[p]! + 1;
      elements.forEach((element, e) => {
        let whole = shard.loaded.get(element);
        if (whole === undefined && span > 2 * count[p]!) {
          whole = this.loadWhole(shard.file, element);
          shard.loaded.set(element, whole);
        }
        first[e]![p] = parts[e]!.length;
        if (whole === undefined) {
          parts[e]!.push(
            readElement(shard.file, element, min[p]!, max[p]! + 1, direct ? allocate : freshArrays),
          );
          bases[e]![p] = min[p]!;
          fresh[e]![p] = 1;
        } else {
          parts[e]!.push(...whole.blocks);
          steps[e]![p] = whole.step;
        }
      });
      columnNames.forEach((name, c) => {
        let column = shard.columns.get(name);
        if (column === undefined) {
          column = shard.file.obs.column(name);
          shard.columns.set(name, column);
        }
        columnParts[c]![p] = column;
      });
      if (request.obsNames) nameParts[p] = shard.obsNames ??= shard.file.obsNames();
    }

    const matrices = new Map<string, Matrix>();
    elements.forEach((element, e) => {
      if (direct && fresh[e]![0]) {
        matrices.set(element, parts[e]![0]!);
        return;
      }
      const blockOf = new Int32Array(n);
      const rowOf = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const p = partOf[i]!;
        const row = local[i]! - bases[e]![p]!;
        const step = steps[e]![p]!;
        const block = step > 0 ? Math.floor(row / step) : 0;
        blockOf[i] = first[e]![p]! + block;
        rowOf[i] = row - block * step;
      }
      matrices.set(element, gatherRows(parts[e]!, blockOf, rowOf, this.where(element), allocate));
    });
    const obsColumns = new Map<string, DataFrameColumn>();
    columnNames.forEach((name, c) => {
      const info = this.schema.obsColumns.find((column) => column.name === name)!;
      obsColumns.set(
        name,
        gatherColumn(columnParts[c]!, partOf, local, info.categories, this.where(`obs/${name}`)),
      );
    });
    return {
      nRows: n,
      matrices,
      obsColumns,
      ...(request.obsNames ? { obsNames: gatherStrings(nameParts, partOf, local) } : {}),
    };
  }

  /** The file of global cell `index` and the cell in it, "cell <obs_name> (row r)", for messages. */
  async placeOf(index: number): Promise<{ file: string; cell: string }> {
    const shardIndex = this.shardOf(index);
    const row = index - (shardIndex === 0 ? 0 : this.limits[shardIndex - 1]!);
    const shard = await this.shard(shardIndex);
    shard.obsNames ??= shard.file.obsNames();
    return { file: this.filenames[shardIndex]!, cell: `cell ${shard.obsNames[row]} (row ${row})` };
  }

  /** Closes every open shard. */
  close(): void {
    for (const shard of this.cache.values()) shard.file.close();
    this.cache.clear();
  }

  /** Each index's part (its shard's position in shardIds) and row within the shard. */
  private locate(globalIndices: Int32Array): { partOf: Int32Array; local: Int32Array; shardIds: number[] } {
    const n = globalIndices.length;
    const partOf = new Int32Array(n);
    const local = new Int32Array(n);
    const shardIds: number[] = [];
    let shard = -1;
    let lower = 0;
    let upper = 0;
    let part = -1;
    for (let i = 0; i < n; i++) {
      const g = globalIndices[i]!;
      // Consecutive cells of a batch nearly always share a shard.
      if (g < lower || g >= upper) {
        shard = this.shardOf(g);
        lower = shard === 0 ? 0 : this.limits[shard - 1]!;
        upper = this.limits[shard]!;
        part = shardIds.indexOf(shard);
        if (part < 0) part = shardIds.push(shard) - 1;
      }
      partOf[i] = part;
      local[i] = g - lower;
    }
    return { partOf, local, shardIds };
  }

  /** The open shard `index`, opening (and validating) it if needed; marks it most recently used. */
  /** The columns of shard 0's var dataframe (upstream's `schema.attr_values["var"]`), by name. */
  async varColumns(): Promise<Map<string, DataFrameColumn>> {
    const { file } = await this.shard(0);
    return new Map(file.var.columns.map((name) => [name, file.var.column(name)]));
  }

  private async shard(index: number): Promise<Shard> {
    const hit = this.cache.get(index);
    if (hit !== undefined) {
      this.cache.delete(index);
      this.cache.set(index, hit);
      return hit;
    }
    const name = this.filenames[index]!;
    const file = await AnnDataFile.open(await localPath(name, remoteOptions(this.options)));
    let columns: Map<string, DataFrameColumn>;
    try {
      checkSize(file, name, index, this.limits);
      // Shard 0 is the schema's reference (read from it when the collection opened); its obs
      // columns are decoded when a read asks for them.
      columns = index === 0 ? new Map() : validateShard(this.schema, file, name);
    } catch (error) {
      file.close();
      throw error;
    }
    this.opens++;
    while (this.cache.size >= this.options.maxCacheSize) {
      const [oldest, evicted] = this.cache.entries().next().value!;
      evicted.file.close();
      this.cache.delete(oldest);
    }
    const shard: Shard = { file, loaded: new Map(), columns };
    this.cache.set(index, shard);
    return shard;
  }

  private loadWhole(file: AnnDataFile, element: string): WholeMatrix {
    const nCols = element === "X" || element.startsWith("layers/") ? this.nVars : 1;
    const step = Math.max(LOAD_BLOCK_MIN_ROWS, Math.floor(LOAD_BLOCK_VALUES / Math.max(1, nCols)));
    const blocks: Matrix[] = [];
    for (let start = 0; start < file.nObs; start += step) {
      blocks.push(readElement(file, element, start, Math.min(start + step, file.nObs)));
    }
    return { step, blocks };
  }

  private checkElement(element: string): void {
    const slash = element.indexOf("/");
    const attr = slash < 0 ? element : element.slice(0, slash);
    const key = element.slice(slash + 1);
    const keys =
      attr === "layers" ? this.schema.layerKeys : attr === "obsm" ? this.schema.obsmKeys : undefined;
    if (element === "X" || (slash > 0 && keys?.includes(key))) return;
    const valid = [
      "X",
      ...this.schema.layerKeys.map((k) => `layers/${k}`),
      ...this.schema.obsmKeys.map((k) => `obsm/${k}`),
    ];
    throw new ArgumentError(
      `DistributedAnnDataCollection: no matrix '${element}' (valid: ${valid.join(", ")})`,
    );
  }

  private where(element: string): string {
    return `${this.filenames[0]}${this.filenames.length > 1 ? ` and ${this.filenames.length - 1} more shards` : ""}: ${element}`;
  }
}

function readElement(
  file: AnnDataFile,
  element: string,
  start: number,
  end: number,
  allocate: ArrayAllocator = freshArrays,
): Matrix {
  if (element === "X") return file.readX(start, end, allocate);
  const slash = element.indexOf("/");
  const key = element.slice(slash + 1);
  return element.startsWith("layers/")
    ? file.layer(key, start, end, allocate)
    : file.obsm(key, start, end, allocate);
}

async function scanSizes(
  filenames: readonly string[],
  remote: RemoteCacheOptions,
): Promise<{ limits: number[]; file0: AnnDataFile }> {
  const limits: number[] = [];
  let file0: AnnDataFile | undefined;
  try {
    for (const [k, name] of filenames.entries()) {
      const file = await AnnDataFile.open(await localPath(name, remote));
      if (k === 0) file0 = file;
      else file.close();
      if (file.nObs === 0) throw emptyShard(name);
      limits.push((limits[k - 1] ?? 0) + file.nObs);
    }
  } catch (error) {
    file0?.close();
    throw error;
  }
  return { limits, file0: file0! };
}

/** Where and how remote shards are downloaded. */
function remoteOptions(options: Pick<CollectionInit, "cacheDir" | "download">): RemoteCacheOptions {
  return { ...options.download, ...(options.cacheDir === undefined ? {} : { cacheDir: options.cacheDir }) };
}

function checkSize(file: AnnDataFile, name: string, k: number, limits: readonly number[]): void {
  const expected = limits[k]! - (k === 0 ? 0 : limits[k - 1]!);
  if (file.nObs === 0) throw emptyShard(name);
  if (file.nObs !== expected) {
    throw new SchemaMismatchError(
      `${name}: has ${file.nObs} cells, but limits give shard ${k} ${expected} cells (limits[${k}] = ${limits[k]})`,
    );
  }
}

function emptyShard(name: string): SchemaMismatchError {
  return new SchemaMismatchError(`${name}: the shard has no cells; remove it from filenames`);
}

function checkCount(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new ArgumentError(`DistributedAnnDataCollection: ${name} must be a positive integer, got ${value}`);
  }
}
