import { endianness } from "node:os";
import { type Datatype, readDataspace, readDatatype, TYPE_CLASS } from "./datatype.js";
import { findObject } from "./links.js";
import { type HeaderMessage, MESSAGE, readObjectHeader, SHARED } from "./object-header.js";
import { absolute, Cursor, type Hdf5Source, readAt, UNDEFINED_ADDRESS, Unsupported } from "./source.js";
import { readSuperblock } from "./superblock.js";

// Where a dataset's elements lie in the file, for the layouts read without the HDF5 library:
// the element types of datatype.ts, stored contiguous (any rank), compact, or 1-D in chunks
// indexed by a v1 B-tree, unfiltered or deflated, every chunk present. Anything else is
// Unsupported (h5wasm reads it).

/** A dataset's stored bytes: chunk `k` holds elements [k * chunkElements, (k + 1) * chunkElements). */
export interface RawStorage {
  /** float32 or int32 elements (what X's arrays are read into directly); null for any other type. */
  readonly type: "float32" | "int32" | null;
  /** contiguous, compact (in the object header), chunked (unfiltered chunks) or deflate (chunks through the deflate filter). */
  readonly layout: "contiguous" | "compact" | "chunked" | "deflate";
  /** Bytes per element as stored. */
  readonly elementBytes: number;
  /** Elements in the dataset (row-major over all its dimensions). */
  readonly length: number;
  /** Elements per chunk (a contiguous or compact dataset is one chunk). */
  readonly chunkElements: number;
  /** Per chunk: its absolute position in the file, its stored bytes and whether they are deflated. */
  readonly chunks: readonly RawChunk[];
  /** A compact dataset's bytes (its one chunk lies in the object header, not at a position). */
  readonly compact?: Buffer;
}

export interface RawChunk {
  readonly position: number;
  readonly storedBytes: number;
  readonly deflated: boolean;
}

/** What the direct reader knows of a dataset: its type, shape, chunk shape and storage. */
export interface DatasetLayout {
  readonly datatype: Datatype;
  readonly shape: number[];
  /** The chunk shape of a chunked dataset, null otherwise (as h5wasm's metadata.chunks). */
  readonly chunks: number[] | null;
  readonly storage: RawStorage;
}

/** The most chunks a dataset may have here (a corrupt extent or chunk size could ask for more). */
const MAX_CHUNKS = 1 << 24;
const DEFLATE = 1;

/**
 * The raw storage of the 1-D float32 or int32 dataset at `path` ("/X/data") of the HDF5 file
 * open as `fd` (`size` bytes), or undefined when its layout is one the direct reader does not
 * take (h5wasm reads it): never an error, whatever the file holds.
 */
export function findRawStorage(fd: number, size: number, path: string): RawStorage | undefined {
  if (endianness() !== "LE") return undefined;
  try {
    const { source, root } = readSuperblock(fd, size);
    const { shape, storage } = readDatasetLayout(
      source,
      readObjectHeader(source, findObject(source, root, path)),
    );
    return storage.type !== null && shape.length === 1 ? storage : undefined;
  } catch {
    // Unsupported, or a structure this parser misread: h5wasm (the HDF5 library) decides.
    return undefined;
  }
}

/** The messages of one kind in an object header: at most one, and not shared. */
export function onlyMessage(messages: readonly HeaderMessage[], type: number): Buffer | undefined {
  const found = messages.filter((m) => m.type === type);
  if (found.length > 1 || found.some((m) => m.flags & SHARED)) throw new Unsupported(`message ${type}`);
  return found[0]?.body;
}

/** A dataset's layout from its object header's messages; Unsupported for what is not read here. */
export function readDatasetLayout(source: Hdf5Source, messages: readonly HeaderMessage[]): DatasetLayout {
  if (onlyMessage(messages, MESSAGE.externalFiles) !== undefined) throw new Unsupported("external storage");
  const dataspace = onlyMessage(messages, MESSAGE.dataspace);
  const datatypeBody = onlyMessage(messages, MESSAGE.datatype);
  const layout = onlyMessage(messages, MESSAGE.layout);
  if (dataspace === undefined || datatypeBody === undefined || layout === undefined) {
    throw new Unsupported("not a dataset");
  }
  const shape = readDataspace(dataspace, source.lengthSize);
  const n = shape.reduce((a, b) => a * b, 1);
  const datatype = readDatatype(new Cursor(datatypeBody), source.offsetSize);
  const elementBytes = datatype.storedBytes;
  const type = storedType(datatype);
  const filters = onlyMessage(messages, MESSAGE.filters);
  const deflate = filters !== undefined && deflateOnly(filters);
  const cursor = new Cursor(layout);
  const version = cursor.u8();
  const layoutClass = cursor.u8();
  if (version < 3 || version > 4) throw new Unsupported(`layout version ${version}`);
  const whole = (storage: Omit<RawStorage, "type" | "elementBytes" | "length" | "chunkElements">) => ({
    datatype,
    shape,
    chunks: null,
    storage: { type, elementBytes, length: n, chunkElements: n, ...storage },
  });
  if (layoutClass === 0) {
    const bytes = cursor.bytesOf(cursor.u16());
    if (filters !== undefined || bytes.length !== n * elementBytes) throw new Unsupported("compact size");
    return whole({ layout: "compact", chunks: [], compact: bytes });
  }
  if (layoutClass === 1) {
    const at = cursor.address(source.offsetSize);
    const bytes = cursor.uint(source.lengthSize);
    if (filters !== undefined || bytes !== n * elementBytes) throw new Unsupported("contiguous size");
    if (n === 0) return whole({ layout: "contiguous", chunks: [] });
    if (at === UNDEFINED_ADDRESS) throw new Unsupported("contiguous storage never written");
    const chunk = { position: absolute(source, at, bytes), storedBytes: bytes, deflated: false };
    return whole({ layout: "contiguous", chunks: [chunk] });
  }
  // Version 4 indexes chunks with fixed or extensible arrays or v2 B-trees (the HDF5 library
  // writes the v1 B-tree index with a version 3 message only).
  if (layoutClass !== 2 || version !== 3) throw new Unsupported(`layout class ${layoutClass}`);
  if (shape.length !== 1 || cursor.u8() !== 2) throw new Unsupported("chunks of a dataset that is not 1-D");
  const tree = cursor.address(source.offsetSize);
  const chunkElements = cursor.u32();
  if (cursor.u32() !== elementBytes || chunkElements === 0) throw new Unsupported("chunk dimensions");
  const count = Math.ceil(n / chunkElements);
  if (count > MAX_CHUNKS) throw new Unsupported(`${count} chunks`);
  const chunks = count === 0 ? [] : chunkIndex(source, tree, count, chunkElements, elementBytes, deflate);
  return {
    datatype,
    shape,
    chunks: [chunkElements],
    storage: {
      type,
      layout: deflate ? "deflate" : "chunked",
      elementBytes,
      length: n,
      chunkElements,
      chunks,
    },
  };
}

/** float32 or int32: little-endian IEEE single or signed 32-bit integers; null for other types. */
function storedType(datatype: Datatype): RawStorage["type"] {
  if (datatype.type === TYPE_CLASS.float && datatype.size === 4) return "float32";
  if (datatype.type === TYPE_CLASS.integer && datatype.size === 4 && datatype.signed) return "int32";
  return null;
}

/** Whether a filter pipeline is deflate alone (true) or empty (false); any other filter is Unsupported. */
function deflateOnly(body: Buffer): boolean {
  const cursor = new Cursor(body);
  const version = cursor.u8();
  const count = cursor.u8();
  if (version === 1) cursor.skip(6);
  else if (version !== 2) throw new Unsupported(`filter pipeline version ${version}`);
  if (count > 1) throw new Unsupported(`${count} filters`);
  if (count === 0) return false;
  if (cursor.u16() !== DEFLATE) throw new Unsupported("a filter other than deflate");
  return true;
}

/**
 * Every chunk of a 1-D chunked dataset, from its v1 B-tree (type 1): each of the `count` chunks of
 * `chunkElements` present once, unfiltered ones stored at full size.
 */
function chunkIndex(
  source: Hdf5Source,
  tree: number,
  count: number,
  chunkElements: number,
  elementBytes: number,
  deflate: boolean,
): RawChunk[] {
  const chunks: (RawChunk | undefined)[] = new Array(count);
  const fullBytes = chunkElements * elementBytes;
  // Each node's children sit one level below it, so a corrupt tree cannot loop; the count
  // bounds how wide it may be.
  const nodes: { at: number; level: number }[] = [{ at: tree, level: -1 }];
  const keyBytes = 4 + 4 + 2 * 8;
  let visited = 0;
  let found = 0;
  while (nodes.length > 0) {
    const { at, level: expected } = nodes.pop()!;
    if (at === UNDEFINED_ADDRESS || ++visited > 2 * count + 64) throw new Unsupported("chunk B-tree");
    const header = new Cursor(readAt(source, at, 8));
    if (header.signature() !== "TREE" || header.u8() !== 1) throw new Unsupported("chunk B-tree node");
    const level = header.u8();
    const entries = header.u16();
    if ((expected >= 0 && level !== expected) || level > 64) throw new Unsupported("chunk B-tree levels");
    const start = 8 + 2 * source.offsetSize;
    const body = new Cursor(
      readAt(source, at, start + entries * (keyBytes + source.offsetSize) + keyBytes),
      start,
    );
    for (let i = 0; i < entries; i++) {
      const storedBytes = body.u32();
      const mask = body.u32();
      const offset = body.uint(8);
      if (body.uint(8) !== 0) throw new Unsupported("chunk offset in the element dimension");
      const child = body.address(source.offsetSize);
      if (level > 0) {
        nodes.push({ at: child, level: level - 1 });
        continue;
      }
      const k = offset / chunkElements;
      if (!Number.isInteger(k) || k >= count || chunks[k] !== undefined)
        throw new Unsupported("chunk offset");
      // A chunk whose filter was skipped (mask bit 0) is stored as is.
      const deflated = deflate && (mask & 1) === 0;
      if (mask & ~1 || (!deflated && storedBytes !== fullBytes) || storedBytes === 0) {
        throw new Unsupported("chunk size or filter mask");
      }
      if (child === UNDEFINED_ADDRESS) throw new Unsupported("chunk address");
      chunks[k] = { position: absolute(source, child, storedBytes), storedBytes, deflated };
      found++;
    }
  }
  // A missing chunk reads as the fill value, which the HDF5 library supplies.
  if (found !== count) throw new Unsupported(`${count - found} chunks not written`);
  return chunks as RawChunk[];
}
