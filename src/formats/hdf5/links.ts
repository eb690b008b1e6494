import { type HeaderMessage, MESSAGE, readObjectHeader } from "./object-header.js";
import { Cursor, type Hdf5Source, readAt, UNDEFINED_ADDRESS, Unsupported } from "./source.js";

// A group's links, and from the root group to an object by its path (HDF5 file format
// specification, "Groups"): old-style groups (a symbol table: a v1 B-tree of SNOD nodes, names in a local heap) and
// new-style compact groups (hard Link messages). Dense link storage (a fractal heap), soft and
// external links are not followed: Unsupported.

/** The most B-tree nodes one group's lookup visits (a corrupt tree could loop or fan out). */
const MAX_GROUP_NODES = 1 << 16;

/** A link of a group: its name, and its target's object header for a hard link (undefined: soft or external). */
export interface Link {
  readonly name: string;
  readonly address?: number;
}

/** The object header address of `path` ("/X/data"), from the root group's at `root`. */
export function findObject(source: Hdf5Source, root: number, path: string): number {
  let at = root;
  for (const name of path.split("/")) {
    if (name === "") continue;
    const link = groupLinks(source, readObjectHeader(source, at))?.find((l) => l.name === name);
    if (link === undefined) throw new Unsupported(`no link ${name}`);
    if (link.address === undefined) throw new Unsupported(`${name} is a soft or external link`);
    at = link.address;
  }
  return at;
}

/**
 * The links of the object whose header holds `messages`, or undefined when it is not a group:
 * the entries of a symbol table (old-style groups) or the Link messages (new-style compact
 * groups). Dense link storage (a fractal heap) is Unsupported, and so are links indexed by
 * creation order when `nameOrder` (the HDF5 library lists those in creation order).
 */
export function groupLinks(
  source: Hdf5Source,
  messages: readonly HeaderMessage[],
  nameOrder = false,
): Link[] | undefined {
  const table = messages.find((m) => m.type === MESSAGE.symbolTable);
  if (table !== undefined) {
    const cursor = new Cursor(table.body);
    return symbolTableLinks(source, cursor.address(source.offsetSize), cursor.address(source.offsetSize));
  }
  const info = messages.find((m) => m.type === MESSAGE.linkInfo);
  if (info !== undefined && denseStorage(source, info.body, nameOrder))
    throw new Unsupported("dense link storage");
  const links = messages.filter((m) => m.type === MESSAGE.link).map((m) => readLink(source, m.body));
  return info === undefined && links.length === 0 ? undefined : links;
}

/**
 * Whether a Link Info message points to a fractal heap (the group's links stored densely);
 * Unsupported for links indexed by creation order when `nameOrder`.
 */
function denseStorage(source: Hdf5Source, body: Buffer, nameOrder: boolean): boolean {
  const cursor = new Cursor(body);
  if (cursor.u8() !== 0) throw new Unsupported("link info message version");
  const flags = cursor.u8();
  if (nameOrder && flags & 0x02) throw new Unsupported("links indexed by creation order");
  if (flags & 0x01) cursor.skip(8); // the maximum creation index
  return cursor.address(source.offsetSize) !== UNDEFINED_ADDRESS;
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

/**
 * Every entry of a group's v1 B-tree (type 0) of SNOD nodes, names from the local heap at `heap`.
 * Each child's names must lie between the keys around it (the tree's order, which the HDF5
 * library's lookups rely on): a file where they do not is left to the library.
 */
function symbolTableLinks(source: Hdf5Source, tree: number, heap: number): Link[] {
  const names = localHeap(source, heap);
  const links: Link[] = [];
  const nodes: { at: number; lower?: Buffer; upper?: Buffer }[] = [{ at: tree }];
  const seen = new Set<number>();
  while (nodes.length > 0) {
    const { at: node, lower, upper } = nodes.pop()!;
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
    let left = heapName(names, body.uint(keyBytes));
    for (let i = 0; i < entries; i++) {
      const child = body.address(source.offsetSize);
      const right = heapName(names, body.uint(keyBytes));
      // (left, right] within the parent's (lower, upper].
      if (
        (lower !== undefined && Buffer.compare(left, lower) < 0) ||
        (upper !== undefined && Buffer.compare(right, upper) > 0)
      ) {
        throw new Unsupported("group B-tree keys out of order");
      }
      if (level > 0) nodes.push({ at: child, lower: left, upper: right });
      else {
        for (const link of symbolNodeLinks(source, child, names)) {
          const name = Buffer.from(link.name);
          if (Buffer.compare(name, left) <= 0 || Buffer.compare(name, right) > 0) {
            throw new Unsupported("a group entry outside its B-tree keys");
          }
          links.push(link);
        }
      }
      left = right;
    }
  }
  return links;
}

function symbolNodeLinks(source: Hdf5Source, node: number, names: Buffer): Link[] {
  const header = new Cursor(readAt(source, node, 8));
  if (header.signature() !== "SNOD" || header.u8() !== 1) throw new Unsupported("symbol table node");
  header.skip(1);
  const count = header.u16();
  const entryBytes = 2 * source.offsetSize + 24;
  const entries = new Cursor(readAt(source, node, 8 + count * entryBytes), 8);
  const links: Link[] = [];
  for (let i = 0; i < count; i++) {
    const nameAt = entries.uint(source.lengthSize);
    const objectHeader = entries.address(source.offsetSize);
    // Cache type 2 marks a symbolic (soft) link, whose target is a name, not an object header.
    const cacheType = entries.u32();
    entries.skip(20); // reserved, scratch pad
    const name = heapName(names, nameAt).toString("utf8");
    links.push(cacheType === 2 ? { name } : { name, address: objectHeader });
  }
  return links;
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

/** The NUL-terminated name at offset `at` of a local heap's data. */
function heapName(heap: Buffer, at: number): Buffer {
  const end = heap.indexOf(0, at);
  if (at >= heap.length || end < 0) throw new Unsupported("a link name outside the local heap");
  return heap.subarray(at, end);
}
