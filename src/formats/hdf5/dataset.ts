import { endianness } from "node:os";
import { findObject } from "./links.js";
import { type HeaderMessage, MESSAGE, readObjectHeader, SHARED } from "./object-header.js";
import { absolute, Cursor, type Hdf5Source, readAt, UNDEFINED_ADDRESS, Unsupported } from "./source.js";
import { readSuperblock } from "./superblock.js";

// Where a 1-D dataset's elements lie in the file, for the layouts read without the HDF5 library:
// little-endian float32 or int32 elements, stored contiguous or in chunks indexed by a v1 B-tree,
// unfiltered or deflated, every chunk present. Anything else is Unsupported (h5wasm reads it).

/** A dataset's stored bytes: chunk `k` holds elements [k * chunkElements, (k + 1) * chunkElements). */
export interface RawStorage {
  readonly type: "float32" | "int32";
  /** contiguous, chunked (unfiltered chunks) or deflate (chunks through the deflate filter). */
  readonly layout: "contiguous" | "chunked" | "deflate";
  /** Elements in the dataset. */
  readonly length: number;
  /** Elements per chunk (a contiguous dataset is one chunk). */
  readonly chunkElements: number;
  /** Per chunk: its absolute position in the file, its stored bytes and whether they are deflated. */
  readonly chunks: readonly RawChunk[];
}

export interface RawChunk {
  readonly position: number;
  readonly storedBytes: number;
  readonly deflated: boolean;
}

const ELEMENT_BYTES = 4;
/** The most chunks a dataset may have here (a corrupt extent or chunk size could ask for more). */
const MAX_CHUNKS = 1 << 24;
const DEFLATE = 1;

/**
 * The raw storage of the dataset at `path` ("/X/data") of the HDF5 file open as `fd` (`size`
 * bytes), or undefined when its layout is one the direct reader does not take (h5wasm reads it):
 * never an error, whatever the file holds.
 */
export function findRawStorage(fd: number, size: number, path: string): RawStorage | undefined {
  if (endianness() !== "LE") return undefined;
  try {
    const { source, root } = readSuperblock(fd, size);
    return datasetStorage(source, readObjectHeader(source, findObject(source, root, path)));
  } catch {
    // Unsupported, or a structure this parser misread: h5wasm (the HDF5 library) decides.
    return undefined;
  }
}

function datasetStorage(source: Hdf5Source, messages: HeaderMessage[]): RawStorage {
  const only = (type: number): Buffer | undefined => {
    const found = messages.filter((m) => m.type === type);
    if (found.length > 1 || found.some((m) => m.flags & SHARED)) throw new Unsupported(`message ${type}`);
    return found[0]?.body;
  };
  if (only(MESSAGE.externalFiles) !== undefined) throw new Unsupported("external storage");
  const dataspace = only(MESSAGE.dataspace);
  const datatype = only(MESSAGE.datatype);
  const layout = only(MESSAGE.layout);
  if (dataspace === undefined || datatype === undefined || layout === undefined) {
    throw new Unsupported("not a dataset");
  }
  const n = extent(source, dataspace);
  const type = elementType(datatype);
  const filters = only(MESSAGE.filters);
  const deflate = filters !== undefined && deflateOnly(filters);
  const cursor = new Cursor(layout);
  const version = cursor.u8();
  const layoutClass = cursor.u8();
  if (version < 3 || version > 4) throw new Unsupported(`layout version ${version}`);
  if (layoutClass === 1) {
    const at = cursor.address(source.offsetSize);
    const bytes = cursor.uint(source.lengthSize);
    if (filters !== undefined || bytes !== n * ELEMENT_BYTES) throw new Unsupported("contiguous size");
    if (n === 0) return { type, layout: "contiguous", length: 0, chunkElements: 0, chunks: [] };
    if (at === UNDEFINED_ADDRESS) throw new Unsupported("contiguous storage never written");
    const chunk = { position: absolute(source, at, bytes), storedBytes: bytes, deflated: false };
    return { type, layout: "contiguous", length: n, chunkElements: n, chunks: [chunk] };
  }
  // Version 4 indexes chunks with fixed or extensible arrays or v2 B-trees (the HDF5 library
  // writes the v1 B-tree index with a version 3 message only); compact storage is not read here.
  if (layoutClass !== 2 || version !== 3) throw new Unsupported(`layout class ${layoutClass}`);
  if (cursor.u8() !== 2) throw new Unsupported("chunks of a 1-D dataset have 2 dimensions");
  const tree = cursor.address(source.offsetSize);
  const chunkElements = cursor.u32();
  if (cursor.u32() !== ELEMENT_BYTES || chunkElements === 0) throw new Unsupported("chunk dimensions");
  const count = Math.ceil(n / chunkElements);
  if (count > MAX_CHUNKS) throw new Unsupported(`${count} chunks`);
  const chunks = count === 0 ? [] : chunkIndex(source, tree, count, chunkElements, deflate);
  return { type, layout: deflate ? "deflate" : "chunked", length: n, chunkElements, chunks };
}

/** The length of a 1-D dataspace. */
function extent(source: Hdf5Source, body: Buffer): number {
  const cursor = new Cursor(body);
  const version = cursor.u8();
  const rank = cursor.u8();
  const flags = cursor.u8();
  if (version === 1) cursor.skip(5);
  else if (version !== 2 || cursor.u8() !== 1) throw new Unsupported(`dataspace version ${version}`);
  if (rank !== 1) throw new Unsupported(`a ${rank}-D dataspace`);
  const n = cursor.uint(source.lengthSize);
  // The maximum extent (all ones: unlimited), which the HDF5 library checks against the extent.
  const max = flags & 0x01 ? cursor.address(source.lengthSize) : UNDEFINED_ADDRESS;
  if (max !== UNDEFINED_ADDRESS && max < n) throw new Unsupported(`extent ${n} beyond its maximum ${max}`);
  return n;
}

/** float32 or int32, little-endian IEEE / two's complement, all 32 bits used. */
function elementType(body: Buffer): RawStorage["type"] {
  const cursor = new Cursor(body);
  const classAndVersion = cursor.u8();
  const bits = [cursor.u8(), cursor.u8(), cursor.u8()] as const;
  const size = cursor.u32();
  const offset = cursor.u16();
  const precision = cursor.u16();
  if (size !== ELEMENT_BYTES || offset !== 0 || precision !== 32) throw new Unsupported("element size");
  const typeClass = classAndVersion & 0x0f;
  // Fixed-point: bit 0 byte order (0: little-endian), bit 3 signed.
  if (typeClass === 0 && (bits[0] & 0x09) === 0x08) return "int32";
  // Floating-point: bits 0 and 6 byte order, bits 4-5 mantissa normalization (2: implied leading
  // one), bits 8-15 the sign's position; then IEEE single's exponent and mantissa fields.
  if (typeClass === 1 && (bits[0] & 0x71) === 0x20 && bits[1] === 31) {
    const fields = [cursor.u8(), cursor.u8(), cursor.u8(), cursor.u8(), cursor.u32()];
    if (fields.join() === "23,8,0,23,127") return "float32";
  }
  throw new Unsupported("element type");
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
 * Every chunk of a chunked dataset, from its v1 B-tree (type 1): each of the `count` chunks of
 * `chunkElements` present once, unfiltered ones stored at full size.
 */
function chunkIndex(
  source: Hdf5Source,
  tree: number,
  count: number,
  chunkElements: number,
  deflate: boolean,
): RawChunk[] {
  const chunks: (RawChunk | undefined)[] = new Array(count);
  const fullBytes = chunkElements * ELEMENT_BYTES;
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
