// The stored (uncompressed) entries of a zip archive, as torch.save writes them (PKWARE's
// APPNOTE.TXT: end of central directory, central directory headers, local file headers; zip64
// records for archives past 4 GiB or 65,535 entries). Compressed entries are refused: torch never
// compresses its archives.

import { FileFormatError } from "../errors.js";

const EOCD = 0x06054b50;
const EOCD64 = 0x06064b50;
const EOCD64_LOCATOR = 0x07064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

/** Entry name -> its bytes (views into `bytes`). */
export function readZipEntries(bytes: Uint8Array, source: string): Map<string, Uint8Array> {
  const fail = (message: string): never => {
    throw new FileFormatError(`${source}: ${message} (reading it as a zip archive)`);
  };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u16 = (at: number) => view.getUint16(at, true);
  const u32 = (at: number) => view.getUint32(at, true);
  const u64 = (at: number) => Number(view.getBigUint64(at, true));
  let eocd = -1;
  for (let at = bytes.length - 22; at >= Math.max(0, bytes.length - 22 - 65535); at--) {
    if (u32(at) === EOCD) {
      eocd = at;
      break;
    }
  }
  if (eocd < 0) fail("no end of central directory record");
  let count = u16(eocd + 10);
  let directory = u32(eocd + 16);
  const locator = eocd - 20;
  if (locator >= 0 && u32(locator) === EOCD64_LOCATOR) {
    const record = u64(locator + 8);
    if (u32(record) !== EOCD64) fail("bad zip64 end of central directory");
    count = u64(record + 32);
    directory = u64(record + 48);
  }
  const decoder = new TextDecoder();
  const entries = new Map<string, Uint8Array>();
  let at = directory;
  for (let i = 0; i < count; i++) {
    if (at + 46 > bytes.length || u32(at) !== CENTRAL) fail(`bad central directory header ${i}`);
    const method = u16(at + 10);
    let size = u32(at + 24);
    let compressedSize = u32(at + 20);
    const nameLength = u16(at + 28);
    const extraLength = u16(at + 30);
    const commentLength = u16(at + 32);
    let offset = u32(at + 42);
    const name = decoder.decode(bytes.subarray(at + 46, at + 46 + nameLength));
    // zip64 extended information: the 0xFFFFFFFF fields, in order, as 8-byte values.
    for (let e = at + 46 + nameLength; e + 4 <= at + 46 + nameLength + extraLength; ) {
      const id = u16(e);
      const length = u16(e + 2);
      if (id === 0x0001) {
        let field = e + 4;
        if (size === 0xffffffff) {
          size = u64(field);
          field += 8;
        }
        if (compressedSize === 0xffffffff) {
          compressedSize = u64(field);
          field += 8;
        }
        if (offset === 0xffffffff) offset = u64(field);
      }
      e += 4 + length;
    }
    if (method !== 0) fail(`entry "${name}" is compressed (method ${method}); only stored entries are read`);
    if (offset + 30 > bytes.length || u32(offset) !== LOCAL) fail(`bad local header of "${name}"`);
    const start = offset + 30 + u16(offset + 26) + u16(offset + 28);
    if (start + size > bytes.length) fail(`entry "${name}" runs past the end of the file`);
    entries.set(name, bytes.subarray(start, start + size));
    at += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}
