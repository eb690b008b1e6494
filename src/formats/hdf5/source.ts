import { readSync } from "node:fs";

// The bytes of an HDF5 file's metadata, read with every address and length checked against the
// file's size before anything is read or allocated. The structures parsed here come from an
// untrusted file: whatever does not add up raises Unsupported, which the probe (dataset.ts) turns
// into "read this dataset through h5wasm", never into a wrong read.

/** An HDF5 file open for the direct reads: its descriptor, size and the superblock's parameters. */
export interface Hdf5Source {
  readonly fd: number;
  /** Bytes in the file when it was opened. */
  readonly size: number;
  /** Absolute position that the file's addresses are relative to (the userblock's size). */
  readonly base: number;
  /** Bytes of an address (size of offsets) and of a length (size of lengths): 2, 4 or 8. */
  readonly offsetSize: number;
  readonly lengthSize: number;
}

/** A structure the direct reader does not read (or cannot make sense of): h5wasm reads it instead. */
export class Unsupported extends Error {
  override name = "Unsupported";
}

/** The most bytes one metadata structure (an object header block, a B-tree node, a heap) may take. */
const MAX_STRUCTURE_BYTES = 1 << 24;

/** Node reads at most 2^31 - 1 bytes per call; larger runs go in pieces of 1 GiB. */
const MAX_READ_BYTES = 1 << 30;

/**
 * Reads `length` bytes at absolute position `position` into bytes[at, at + length); returns how
 * many it read, fewer only where the file ends first.
 */
export function readUpTo(
  fd: number,
  bytes: Uint8Array,
  at: number,
  length: number,
  position: number,
): number {
  let done = 0;
  while (done < length) {
    const n = readSync(fd, bytes, at + done, Math.min(length - done, MAX_READ_BYTES), position + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

/**
 * `length` bytes at absolute position `position`, or Unsupported when they are not all in the file
 * or more than `limit`.
 */
export function readBytes(
  fd: number,
  fileSize: number,
  position: number,
  length: number,
  limit = MAX_STRUCTURE_BYTES,
): Buffer {
  if (!Number.isSafeInteger(position) || !Number.isSafeInteger(length) || position < 0 || length < 0) {
    throw new Unsupported(`bytes [${position}, +${length})`);
  }
  if (length > limit || position + length > fileSize) {
    throw new Unsupported(`bytes [${position}, +${length}) outside the file's ${fileSize} bytes`);
  }
  const bytes = Buffer.allocUnsafe(length);
  const done = readUpTo(fd, bytes, 0, length, position);
  if (done < length) throw new Unsupported(`file ends at byte ${position + done}`);
  return bytes;
}

/** The absolute position of file address `address` holding `length` bytes, checked. */
export function absolute(source: Hdf5Source, address: number, length: number): number {
  const position = source.base + address;
  if (!Number.isSafeInteger(position) || position + length > source.size) {
    throw new Unsupported(`address ${address} (+${length} bytes) outside the file`);
  }
  return position;
}

/** The bytes at file address `address` (relative to the base address), at most `limit`. */
export function readAt(source: Hdf5Source, address: number, length: number, limit?: number): Buffer {
  return readBytes(source.fd, source.size, absolute(source, address, length), length, limit);
}

/** The all-ones "undefined address". */
export const UNDEFINED_ADDRESS = -1;

/** Little-endian fields of a structure read into memory, each read checked against its end. */
export class Cursor {
  constructor(
    readonly bytes: Buffer,
    public at = 0,
  ) {}

  get left(): number {
    return this.bytes.length - this.at;
  }

  skip(n: number): this {
    this.need(n);
    this.at += n;
    return this;
  }

  u8(): number {
    this.need(1);
    return this.bytes[this.at++]!;
  }

  u16(): number {
    return this.uint(2);
  }

  u32(): number {
    return this.uint(4);
  }

  /** An unsigned little-endian integer of `n` bytes (1 to 8); beyond 2^53 Unsupported. */
  uint(n: number): number {
    this.need(n);
    let value = 0;
    for (let i = n - 1; i >= 0; i--) value = value * 256 + this.bytes[this.at + i]!;
    if (!Number.isSafeInteger(value)) throw new Unsupported(`a ${n}-byte value beyond 2^53`);
    this.at += n;
    return value;
  }

  /** An address of `n` bytes: all ones (the undefined address) as UNDEFINED_ADDRESS. */
  address(n: number): number {
    this.need(n);
    let allOnes = true;
    for (let i = 0; i < n; i++) if (this.bytes[this.at + i] !== 0xff) allOnes = false;
    if (!allOnes) return this.uint(n);
    this.at += n;
    return UNDEFINED_ADDRESS;
  }

  bytesOf(n: number): Buffer {
    this.need(n);
    const out = this.bytes.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }

  /** The 4 ASCII characters of a signature ("TREE", "SNOD", ...). */
  signature(): string {
    return this.bytesOf(4).toString("latin1");
  }

  private need(n: number): void {
    if (n < 0 || this.at + n > this.bytes.length) {
      throw new Unsupported(`a structure ends after ${this.bytes.length} bytes`);
    }
  }
}
