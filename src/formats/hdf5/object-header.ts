import { checksumMatches } from "./checksum.js";
import { Cursor, type Hdf5Source, readAt, UNDEFINED_ADDRESS, Unsupported } from "./source.js";

// Object headers (HDF5 file format specification, "Disk Format: Level 2A1"), versions 1 and 2:
// the list of an object's header messages, continuation blocks followed.

export interface HeaderMessage {
  readonly type: number;
  readonly flags: number;
  readonly body: Buffer;
}

export const MESSAGE = {
  dataspace: 0x01,
  linkInfo: 0x02,
  datatype: 0x03,
  link: 0x06,
  externalFiles: 0x07,
  layout: 0x08,
  filters: 0x0b,
  attribute: 0x0c,
  continuation: 0x10,
  symbolTable: 0x11,
  attributeInfo: 0x15,
} as const;

/** Flag bit of a message stored elsewhere (a shared message): never followed here. */
export const SHARED = 0x02;

/** The most continuation blocks one object header may chain (a corrupt chain could loop). */
const MAX_BLOCKS = 1024;
/** Version 1's prefix: version, reserved, message count, reference count, header size, padding. */
const V1_PREFIX = 16;

/** The messages of the object header at file address `at`. */
export function readObjectHeader(source: Hdf5Source, at: number): HeaderMessage[] {
  if (at === UNDEFINED_ADDRESS) throw new Unsupported("an object header at the undefined address");
  const first = readAt(source, at, Math.min(V1_PREFIX, source.size - source.base - at));
  const v2 = first.subarray(0, 4).toString("latin1") === "OHDR";
  const messages: HeaderMessage[] = [];
  const pending: { at: number; length: number }[] = [];
  let flags = 0;
  if (v2) {
    const prefix = new Cursor(first, 4);
    if (prefix.u8() !== 2) throw new Unsupported("object header version");
    flags = prefix.u8();
    const sizeBytes = 1 << (flags & 0x03);
    const prefixBytes = 6 + (flags & 0x20 ? 16 : 0) + (flags & 0x10 ? 4 : 0);
    const sized = new Cursor(readAt(source, at, prefixBytes + sizeBytes), prefixBytes);
    const chunk = sized.uint(sizeBytes);
    // The first block: its messages, then the checksum.
    const block = readAt(source, at, prefixBytes + sizeBytes + chunk + 4);
    if (!checksumMatches(block)) throw new Unsupported("object header checksum");
    readMessages(source, block.subarray(prefixBytes + sizeBytes, block.length - 4), flags, messages, pending);
  } else {
    const prefix = new Cursor(first);
    if (prefix.u8() !== 1) throw new Unsupported("object header version");
    prefix.skip(1 + 2 + 4);
    const size = prefix.u32();
    readMessages(source, readAt(source, at + V1_PREFIX, size), undefined, messages, pending);
  }
  const seen = new Set<number>([at]);
  while (pending.length > 0) {
    const next = pending.shift()!;
    if (seen.has(next.at) || seen.size > MAX_BLOCKS) throw new Unsupported("object header continuation loop");
    seen.add(next.at);
    const block = readAt(source, next.at, next.length);
    if (!v2) readMessages(source, block, undefined, messages, pending);
    else {
      if (block.subarray(0, 4).toString("latin1") !== "OCHK" || !checksumMatches(block)) {
        throw new Unsupported("object header continuation block signature or checksum");
      }
      readMessages(source, block.subarray(4, block.length - 4), flags, messages, pending);
    }
  }
  return messages;
}

/**
 * The messages of one block: version 1's message header is type (2 bytes), size (2), flags and 3
 * reserved bytes; version 2's (`v2Flags`: the object header's flags) type (1), size (2), flags and
 * the creation order (2) where it is tracked.
 */
function readMessages(
  source: Hdf5Source,
  block: Buffer,
  v2Flags: number | undefined,
  messages: HeaderMessage[],
  pending: { at: number; length: number }[],
): void {
  const cursor = new Cursor(block);
  const headerBytes = v2Flags === undefined ? 8 : v2Flags & 0x04 ? 6 : 4;
  // Fewer bytes left than a message header: the gap at the end of a block.
  while (cursor.left >= headerBytes) {
    const type = v2Flags === undefined ? cursor.u16() : cursor.u8();
    const size = cursor.u16();
    const flags = cursor.u8();
    cursor.skip(headerBytes - (v2Flags === undefined ? 5 : 4));
    take(source, { type, flags, body: cursor.bytesOf(size) }, messages, pending);
  }
}

function take(
  source: Hdf5Source,
  message: HeaderMessage,
  messages: HeaderMessage[],
  pending: { at: number; length: number }[],
): void {
  if (message.type !== MESSAGE.continuation) {
    messages.push(message);
    return;
  }
  const cursor = new Cursor(message.body);
  pending.push({ at: cursor.address(source.offsetSize), length: cursor.uint(source.lengthSize) });
}
