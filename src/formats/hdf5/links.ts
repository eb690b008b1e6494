import { MESSAGE, readObjectHeader } from "./object-header.js";
import { Cursor, type Hdf5Source, readAt, UNDEFINED_ADDRESS, Unsupported } from "./source.js";

// From the root group to an object by its path (HDF5 file format specification, "Groups"):
// old-style groups (a symbol table: a v1 B-tree of SNOD nodes, names in a local heap) and
// new-style compact groups (hard Link messages). Dense link storage (a fractal heap), soft and
// external links are not followed: Unsupported.

/** The most B-tree nodes one group's lookup visits (a corrupt tree could loop or fan out). */
const MAX_GROUP_NODES = 1 << 16;

/** The object header address of `path` ("/X/data"), from the root group's at `root`. */
export function findObject(source: Hdf5Source, root: number, path: string): number {
  let at = root;
  for (const name of path.split("/")) {
    if (name !== "") at = findLink(source, at, name);
  }
  return at;
}

function findLink(source: Hdf5Source, group: number, name: string): number {
  const messages = readObjectHeader(source, group);
  const table = messages.find((m) => m.type === MESSAGE.symbolTable);
  if (table !== undefined) {
    const cursor = new Cursor(table.body);
    return findInSymbolTable(
      source,
      cursor.address(source.offsetSize),
      cursor.address(source.offsetSize),
      name,
    );
  }
  for (const message of messages) {
    if (message.type !== MESSAGE.link) continue;
    const link = readLink(source, message.body);
    if (link.name === name) {
      if (link.address === undefined) throw new Unsupported(`${name} is a soft or external link`);
      return link.address;
    }
  }
  // Not among the compact links: dense storage (a Link Info message with a fractal heap), or absent.
  throw new Unsupported(`no compact link ${name}`);
}

/** A Link message: its name, and the target's address for a hard link. */
function readLink(source: Hdf5Source, body: Buffer): { name: string; address?: number } {
  const cursor = new Cursor(body);
  if (cursor.u8() !== 1) throw new Unsupported("link message version");
  const flags = cursor.u8();
  const type = flags & 0x08 ? cursor.u8() : 0;
  if (flags & 0x04) cursor.skip(8); // creation order
  if (flags & 0x10) cursor.skip(1); // character set
  const nameLength = cursor.uint(1 << (flags & 0x03));
  const name = cursor.bytesOf(nameLength).toString("utf8");
  return type === 0 ? { name, address: cursor.address(source.offsetSize) } : { name };
}

/** Walks a group's v1 B-tree (type 0) to the SNOD entry named `name`. */
function findInSymbolTable(source: Hdf5Source, tree: number, heap: number, name: string): number {
  const names = localHeap(source, heap);
  const nodes = [tree];
  const seen = new Set<number>();
  while (nodes.length > 0) {
    const node = nodes.pop()!;
    if (node === UNDEFINED_ADDRESS || seen.has(node) || seen.size >= MAX_GROUP_NODES) {
      throw new Unsupported("group B-tree loop");
    }
    seen.add(node);
    const header = new Cursor(readAt(source, node, 8));
    if (header.signature() !== "TREE" || header.u8() !== 0) throw new Unsupported("group B-tree node");
    const level = header.u8();
    const entries = header.u16();
    const keyBytes = source.lengthSize;
    const body = new Cursor(
      readAt(source, node, 8 + 2 * source.offsetSize + entries * (keyBytes + source.offsetSize) + keyBytes),
      8 + 2 * source.offsetSize,
    );
    for (let i = 0; i < entries; i++) {
      body.skip(keyBytes);
      const child = body.address(source.offsetSize);
      if (level > 0) nodes.push(child);
      else {
        const found = findInSymbolNode(source, child, names, name);
        if (found !== undefined) return found;
      }
    }
  }
  throw new Unsupported(`no link ${name}`);
}

function findInSymbolNode(source: Hdf5Source, node: number, names: Buffer, name: string): number | undefined {
  const header = new Cursor(readAt(source, node, 8));
  if (header.signature() !== "SNOD" || header.u8() !== 1) throw new Unsupported("symbol table node");
  header.skip(1);
  const count = header.u16();
  const entryBytes = 2 * source.offsetSize + 24;
  const entries = new Cursor(readAt(source, node, 8 + count * entryBytes), 8);
  for (let i = 0; i < count; i++) {
    const nameAt = entries.uint(source.lengthSize);
    const objectHeader = entries.address(source.offsetSize);
    entries.skip(24); // cache type, reserved, scratch pad
    if (heapString(names, nameAt) === name) return objectHeader;
  }
  return undefined;
}

/** The data segment of the local heap at `at` (the names of a group's links). */
function localHeap(source: Hdf5Source, at: number): Buffer {
  const header = new Cursor(readAt(source, at, 8 + 2 * source.lengthSize + source.offsetSize));
  if (header.signature() !== "HEAP" || header.u8() !== 0) throw new Unsupported("local heap");
  header.skip(3);
  const size = header.uint(source.lengthSize);
  header.uint(source.lengthSize); // free list
  return readAt(source, header.address(source.offsetSize), size);
}

function heapString(heap: Buffer, at: number): string {
  const end = heap.indexOf(0, at);
  if (at >= heap.length || end < 0) throw new Unsupported("a link name outside the local heap");
  return heap.toString("utf8", at, end);
}
