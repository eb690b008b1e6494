// The stored (uncompressed) entries of a zip archive, as torch.save writes them (PKWARE's
// APPNOTE.TXT: end of central directory, central directory headers, local file headers; zip64
// records for archives past 4 GiB or 65,535 entries).
//
// The archive is untrusted, so every offset, length and count is checked against the file before
// it is used: the central directory lies before its end record, every header and name inside it,
// every entry's local header and data before the central directory, entries do not overlap and
// names do not repeat (overlapping entries are how small zips claim huge contents). Compressed
// entries are refused without inflating anything: torch never compresses its archives, and an
// entry that is never inflated cannot be a deflate bomb. Entries come back as views into the
// file's bytes: reading an archive allocates nothing in proportion to its claims.

import { quote } from "../error-values.js";
import { FileFormatError } from "../errors.js";

/** The most entries an archive may list (a torch state dict has one per storage, plus four). */
export const MAX_ZIP_ENTRIES = 2 ** 20;

const EOCD = 0x06054b50;
const EOCD64 = 0x06064b50;
const EOCD64_LOCATOR = 0x07064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
const EOCD_BYTES = 22;
const EOCD64_BYTES = 56;
const LOCATOR_BYTES = 20;
const CENTRAL_BYTES = 46;
const LOCAL_BYTES = 30;
const MAX_COMMENT = 65_535;

/** Entry name -> its bytes (views into `bytes`). */
export function readZipEntries(bytes: Uint8Array, source: string): Map<string, Uint8Array> {
  const fail = (message: string, key: string, value?: unknown): never => {
    throw new FileFormatError(`${source}: ${key}: ${message} (reading it as a zip archive)`, {
      file: source,
      key,
      value,
    });
  };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u16 = (at: number) => view.getUint16(at, true);
  const u32 = (at: number) => view.getUint32(at, true);
  // Past 2^53 no offset or size can fit the file: MAX_SAFE_INTEGER fails every bound as well.
  const u64 = (at: number) => {
    const v = view.getBigUint64(at, true);
    return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
  };
  const utf8 = new TextDecoder("utf-8", { fatal: true });

  let eocd = -1;
  for (let at = bytes.length - EOCD_BYTES; at >= Math.max(0, bytes.length - EOCD_BYTES - MAX_COMMENT); at--) {
    if (u32(at) === EOCD) {
      eocd = at;
      break;
    }
  }
  if (eocd < 0) fail(`not found in the last ${EOCD_BYTES + MAX_COMMENT} bytes`, "end of central directory");
  if (u16(eocd + 4) !== 0 && u16(eocd + 4) !== 0xffff)
    fail(
      "is not 0: multi-disk archives are not read",
      "end of central directory: disk number",
      u16(eocd + 4),
    );
  let count = u16(eocd + 10);
  let directory = u32(eocd + 16);
  let directorySize = u32(eocd + 12);
  let directoryEnd = eocd;
  const locator = eocd - LOCATOR_BYTES;
  if (locator >= 0 && u32(locator) === EOCD64_LOCATOR) {
    const record = u64(locator + 8);
    if (record > locator - EOCD64_BYTES)
      fail(
        `${record} is beyond the zip64 locator at ${locator}`,
        "zip64 end of central directory offset",
        record,
      );
    if (u32(record) !== EOCD64)
      fail("has no zip64 record signature", "zip64 end of central directory", record);
    count = u64(record + 32);
    directorySize = u64(record + 40);
    directory = u64(record + 48);
    directoryEnd = record;
  }
  if (directory > directoryEnd || directorySize > directoryEnd - directory) {
    fail(
      `offset ${directory} and size ${directorySize} reach beyond the directory's end at byte ${directoryEnd}`,
      "central directory",
      directory,
    );
  }
  directoryEnd = directory + directorySize;
  if (count > MAX_ZIP_ENTRIES)
    fail(`${count} entries exceed the limit of ${MAX_ZIP_ENTRIES}`, "entry count", count);
  if (count * CENTRAL_BYTES > directorySize) {
    fail(`${count} entries cannot fit the central directory's ${directorySize} bytes`, "entry count", count);
  }

  const entries = new Map<string, Uint8Array>();
  // [local header offset, end of data) of every entry, to check that none overlap.
  const spans: Array<[number, number, string]> = [];
  let at = directory;
  for (let i = 0; i < count; i++) {
    const header = `central directory header ${i}`;
    if (CENTRAL_BYTES > directoryEnd - at || u32(at) !== CENTRAL)
      fail(`no header signature at byte ${at}`, header, at);
    const flags = u16(at + 8);
    const method = u16(at + 10);
    let compressedSize = u32(at + 20);
    let size = u32(at + 24);
    const nameLength = u16(at + 28);
    const extraLength = u16(at + 30);
    const commentLength = u16(at + 32);
    let offset = u32(at + 42);
    const nameAt = at + CENTRAL_BYTES;
    const next = nameAt + nameLength + extraLength + commentLength;
    if (next > directoryEnd) {
      fail(
        `name, extra field and comment (${nameLength} + ${extraLength} + ${commentLength} bytes) run past the central directory`,
        `${header}: name length`,
        nameLength,
      );
    }
    const rawName = bytes.subarray(nameAt, nameAt + nameLength);
    let name = "";
    try {
      name = utf8.decode(rawName);
    } catch {
      fail("is not valid UTF-8", `${header}: name`, rawName.slice(0, 80));
    }
    const where = `entry ${quote(name)}`;
    // zip64 extended information: the 0xFFFFFFFF fields, in this order, as 8-byte values.
    const extraEnd = nameAt + nameLength + extraLength;
    for (let e = nameAt + nameLength; e + 4 <= extraEnd; ) {
      const id = u16(e);
      const length = u16(e + 2);
      if (length > extraEnd - e - 4)
        fail(`${length} bytes run past the extra field`, `${where}: extra field`, length);
      if (id === 0x0001) {
        let field = e + 4;
        const read = (what: string): number => {
          if (field + 8 > e + 4 + length)
            fail("is missing from the zip64 extra field", `${where}: zip64 ${what}`);
          const v = u64(field);
          field += 8;
          return v;
        };
        if (size === 0xffffffff) size = read("size");
        if (compressedSize === 0xffffffff) compressedSize = read("compressed size");
        if (offset === 0xffffffff) offset = read("local header offset");
      }
      e += 4 + length;
    }
    if (flags & 1) fail("is encrypted", `${where}: flags`, flags);
    if (method !== 0)
      fail(
        `is ${method}, compressed; only stored entries (method 0) are read`,
        `${where}: compression method`,
        method,
      );
    if (compressedSize !== size)
      fail(
        `${compressedSize} differs from the size ${size} of a stored entry`,
        `${where}: compressed size`,
        compressedSize,
      );
    if (offset > directory - LOCAL_BYTES || u32(offset) !== LOCAL)
      fail(
        `byte ${offset} holds no local header before the central directory`,
        `${where}: local header offset`,
        offset,
      );
    const localName = u16(offset + 26);
    const start = offset + LOCAL_BYTES + localName + u16(offset + 28);
    if (start > directory || size > directory - start) {
      fail(
        `data at bytes ${start}..${start + size} run past the central directory at ${directory}`,
        `${where}: size`,
        size,
      );
    }
    const sameName =
      localName === nameLength && rawName.every((b, k) => b === bytes[offset + LOCAL_BYTES + k]);
    if (!sameName) fail("differs from the central directory's name", `${where}: local header name`);
    if (entries.has(name)) fail("appears twice", where);
    entries.set(name, bytes.subarray(start, start + size));
    spans.push([offset, start + size, name]);
    at = next;
  }
  spans.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < spans.length; i++) {
    const [offset, , name] = spans[i]!;
    const [, end, previous] = spans[i - 1]!;
    if (offset < end)
      fail(`overlaps entry ${quote(previous)}`, `entry ${quote(name)}: local header offset`, offset);
  }
  return entries;
}
