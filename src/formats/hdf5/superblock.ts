import { checksumMatches } from "./checksum.js";
import { Cursor, type Hdf5Source, readBytes, UNDEFINED_ADDRESS, Unsupported } from "./source.js";

// The superblock (HDF5 file format specification, "Disk Format: Level 0A"): where the file's
// addresses start, how wide they are, and the root group's object header.

const SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);
/** Versions 0 and 1 take at most 8 + 20 + 4 addresses + a symbol table entry (2 addresses + 24). */
const MAX_SUPERBLOCK_BYTES = 8 + 20 + 6 * 8 + 24;

/** `fd`'s superblock, and the address of the root group's object header. */
export function readSuperblock(fd: number, size: number): { source: Hdf5Source; root: number } {
  const at = findSignature(fd, size);
  const cursor = new Cursor(readBytes(fd, size, at, Math.min(MAX_SUPERBLOCK_BYTES, size - at)), 8);
  const version = cursor.u8();
  let offsetSize: number;
  let lengthSize: number;
  if (version === 0 || version === 1) {
    cursor.skip(4); // free-space, root symbol table entry, reserved, shared header message versions
    offsetSize = cursor.u8();
    lengthSize = cursor.u8();
    cursor.skip(1 + 2 + 2 + 4 + (version === 1 ? 4 : 0)); // reserved, group K's, flags, storage K
  } else if (version === 2 || version === 3) {
    offsetSize = cursor.u8();
    lengthSize = cursor.u8();
    cursor.skip(1); // file consistency flags
  } else {
    throw new Unsupported(`superblock version ${version}`);
  }
  if (![2, 4, 8].includes(offsetSize) || ![2, 4, 8].includes(lengthSize)) {
    throw new Unsupported(`sizes of offsets ${offsetSize} and lengths ${lengthSize}`);
  }
  const base = cursor.address(offsetSize);
  // The addresses are relative to the base address, which writers set to the superblock's own
  // position (the userblock's size); a file that says otherwise is left to the HDF5 library.
  if (base !== at) throw new Unsupported(`base address ${base} with the superblock at ${at}`);
  let root: number;
  let end: number;
  if (version <= 1) {
    cursor.address(offsetSize); // free-space info
    end = cursor.address(offsetSize);
    cursor.address(offsetSize); // driver information block
    cursor.address(offsetSize); // root entry: link name offset
    root = cursor.address(offsetSize);
  } else {
    cursor.address(offsetSize); // superblock extension
    end = cursor.address(offsetSize);
    root = cursor.address(offsetSize);
    if (!checksumMatches(cursor.bytes.subarray(0, cursor.at + 4)))
      throw new Unsupported("superblock checksum");
  }
  // A file shorter than its end-of-file address was truncated: the HDF5 library says so. (The
  // library writes the end of file as an absolute position, userblock included.)
  if (end === UNDEFINED_ADDRESS || root === UNDEFINED_ADDRESS || end > size) {
    throw new Unsupported(`end of file address ${end}, ${size} bytes in the file`);
  }
  return { source: { fd, size, base, offsetSize, lengthSize }, root };
}

/** The superblock's position: 0, 512, 1024, 2048, ... (after a userblock). */
function findSignature(fd: number, size: number): number {
  for (let at = 0; at + SIGNATURE.length <= size; at = at === 0 ? 512 : at * 2) {
    if (readBytes(fd, size, at, SIGNATURE.length).equals(SIGNATURE)) return at;
  }
  throw new Unsupported("no HDF5 signature");
}
