import { Cursor, type Hdf5Source, readAt, Unsupported } from "./source.js";

// Global heap collections (HDF5 file format specification, "Global Heap"): where the bytes of
// variable-length strings live. A collection is read whole once and its objects indexed.

/**
 * The largest collection read (within the file's size, checked first): the HDF5 library gives a
 * string longer than its default collection a collection of its own, as long as the string.
 */
const MAX_COLLECTION_BYTES = 1 << 30;

/** A collection's objects: their offsets and sizes in its bytes, by heap object index. */
interface Collection {
  readonly bytes: Buffer;
  readonly offsets: Map<number, { at: number; size: number }>;
}

/** The collections of one file, each read on first use. */
export class GlobalHeap {
  private readonly collections = new Map<number, Collection>();

  constructor(private readonly source: Hdf5Source) {}

  /** The bytes of object `index` of the collection at file address `address`. */
  object(address: number, index: number): Buffer {
    let collection = this.collections.get(address);
    if (collection === undefined) {
      collection = readCollection(this.source, address);
      this.collections.set(address, collection);
    }
    const found = collection.offsets.get(index);
    if (found === undefined) throw new Unsupported(`global heap object ${index} at ${address}`);
    return collection.bytes.subarray(found.at, found.at + found.size);
  }
}

function readCollection(source: Hdf5Source, address: number): Collection {
  const headerBytes = 8 + source.lengthSize;
  const header = new Cursor(readAt(source, address, headerBytes));
  if (header.signature() !== "GCOL" || header.u8() !== 1) throw new Unsupported("global heap collection");
  header.skip(3);
  const size = header.uint(source.lengthSize);
  if (size < headerBytes) throw new Unsupported("global heap collection size");
  const bytes = readAt(source, address, size, MAX_COLLECTION_BYTES);
  const cursor = new Cursor(bytes, headerBytes);
  const offsets = new Map<number, { at: number; size: number }>();
  // Objects until the free space (index 0) or the end; each padded to a multiple of 8 bytes.
  while (cursor.left >= 8 + source.lengthSize) {
    const index = cursor.u16();
    cursor.skip(2 + 4); // reference count, reserved
    const objectSize = cursor.uint(source.lengthSize);
    if (index === 0) break;
    const at = cursor.at;
    cursor.skip(objectSize);
    cursor.skip(Math.min((8 - (objectSize % 8)) % 8, cursor.left));
    offsets.set(index, { at, size: objectSize });
  }
  return { bytes, offsets };
}
