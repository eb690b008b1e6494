import { Cursor, Unsupported } from "./source.js";

// Datatype and dataspace messages (HDF5 file format specification, "Datatype Message" and
// "Dataspace Message"): the element types AnnData files hold (little-endian integers, IEEE
// floats, fixed- and variable-length strings, h5py's boolean enums) and shapes of any rank.
// Every other type is Unsupported, so that h5wasm reads the file.

/** h5wasm's type classes (H5T_class_t), which the h5ad reader's metadata checks compare. */
export const TYPE_CLASS = { integer: 0, float: 1, string: 3, enum: 8 } as const;

/** An element type, described with h5wasm's metadata fields. */
export interface Datatype {
  readonly type: (typeof TYPE_CLASS)[keyof typeof TYPE_CLASS];
  /** Bytes of an element in memory (a variable-length string: h5wasm's 4-byte pointer). */
  readonly size: number;
  readonly signed: boolean;
  readonly littleEndian: boolean;
  /** A variable-length string: stored as a global heap ID. */
  readonly vlen: boolean;
  /** Strings' character set: 0 ASCII, 1 UTF-8 (absent for other types, as in h5wasm). */
  readonly cset?: number;
  /** Bytes of an element as stored in the file. */
  readonly storedBytes: number;
  /** An enum's base integer type and its members by name. */
  readonly enum_type?: {
    readonly type: typeof TYPE_CLASS.integer;
    readonly size: number;
    readonly signed: boolean;
    readonly members: Record<string, number>;
  };
}

/** The element sizes of integers, and of IEEE floats with their exponent and mantissa fields. */
const INTEGER_BYTES = [1, 2, 4, 8];
const IEEE_FIELDS: Record<number, string> = { 4: "32,31,23,8,0,23,127", 8: "64,63,52,11,0,52,1023" };
/** h5wasm is 32-bit WebAssembly: a variable-length string is a 4-byte pointer there. */
const WASM_POINTER_BYTES = 4;
const MAX_ENUM_MEMBERS = 1 << 16;

/** The datatype at `cursor` (a datatype message's body); `offsetSize` sizes a global heap ID. */
export function readDatatype(cursor: Cursor, offsetSize: number): Datatype {
  const classAndVersion = cursor.u8();
  const version = classAndVersion >> 4;
  const typeClass = classAndVersion & 0x0f;
  const bits = [cursor.u8(), cursor.u8(), cursor.u8()] as const;
  const size = cursor.u32();
  if (version < 1 || version > 3) throw new Unsupported(`datatype version ${version}`);
  if (typeClass === 0) {
    const offset = cursor.u16();
    const precision = cursor.u16();
    // Bit 0: byte order (1 big-endian); bits 1-2: padding; bit 3: signed.
    if (bits[0] & 0x07 || offset !== 0 || precision !== size * 8 || !INTEGER_BYTES.includes(size)) {
      throw new Unsupported(`integer type of ${size} bytes`);
    }
    const signed = (bits[0] & 0x08) !== 0;
    return { type: 0, size, signed, littleEndian: true, vlen: false, storedBytes: size };
  }
  if (typeClass === 1) {
    const offset = cursor.u16();
    // Precision, the sign bit's position, exponent location and size, mantissa location and
    // size, exponent bias.
    const fields = [cursor.u16(), bits[1], cursor.u8(), cursor.u8(), cursor.u8(), cursor.u8(), cursor.u32()];
    // Bits 0 and 6: byte order; 1-3: padding; 4-5: mantissa normalization (2: implied one).
    const ieee = (bits[0] & 0x4f) === 0 && (bits[0] & 0x30) === 0x20 && offset === 0;
    if (!ieee || IEEE_FIELDS[size] !== fields.join()) {
      throw new Unsupported(`float type of ${size} bytes`);
    }
    return { type: 1, size, signed: false, littleEndian: true, vlen: false, storedBytes: size };
  }
  if (typeClass === 3) {
    // Bits 0-3: padding (NUL-terminated, NUL-padded, space-padded); 4-7: character set.
    const cset = bits[0] >> 4;
    if (cset > 1 || (bits[0] & 0x0f) > 2 || size === 0) throw new Unsupported("string type");
    return { type: 3, size, signed: false, littleEndian: false, vlen: false, cset, storedBytes: size };
  }
  if (typeClass === 9) {
    // Bits 0-3: sequence (0) or string (1); 8-11: character set; then the base type (a byte).
    const cset = bits[1] & 0x0f;
    if ((bits[0] & 0x0f) !== 1 || cset > 1) throw new Unsupported("variable-length sequence type");
    readDatatype(cursor, offsetSize);
    const storedBytes = 4 + offsetSize + 4;
    return {
      type: 3,
      size: WASM_POINTER_BYTES,
      signed: false,
      littleEndian: true,
      vlen: true,
      cset,
      storedBytes,
    };
  }
  if (typeClass === 8) {
    const count = bits[0] | (bits[1] << 8);
    const base = readDatatype(cursor, offsetSize);
    if (base.type !== 0 || base.size !== size || count > MAX_ENUM_MEMBERS) throw new Unsupported("enum type");
    const names: string[] = [];
    for (let i = 0; i < count; i++) {
      const end = cursor.bytes.indexOf(0, cursor.at);
      if (end < 0) throw new Unsupported("enum member name");
      names.push(cursor.bytes.toString("utf8", cursor.at, end));
      // Versions 1 and 2 pad each name, its NUL included, to a multiple of 8 bytes.
      const length = end + 1 - cursor.at;
      cursor.skip(version < 3 ? Math.ceil(length / 8) * 8 : length);
    }
    const members: Record<string, number> = {};
    for (const name of names) members[name] = enumValue(cursor, size, base.signed);
    const enumType = { type: 0 as const, size, signed: base.signed, members };
    return { ...base, type: 8, enum_type: enumType };
  }
  throw new Unsupported(`datatype class ${typeClass}`);
}

/** An enum member's value: a little-endian integer of its base type (beyond 2^53 Unsupported). */
function enumValue(cursor: Cursor, size: number, signed: boolean): number {
  if (!signed) return cursor.uint(size);
  const bytes = cursor.bytesOf(size);
  const value = size === 8 ? Number(bytes.readBigInt64LE(0)) : bytes.readIntLE(0, size);
  if (!Number.isSafeInteger(value)) throw new Unsupported("an enum value beyond 2^53");
  return value;
}

/** The most dimensions a dataspace may have here. */
const MAX_RANK = 32;

/** A dataspace's shape ([] for a scalar); `lengthSize` bytes per dimension. */
export function readDataspace(body: Buffer, lengthSize: number): number[] {
  const cursor = new Cursor(body);
  const version = cursor.u8();
  const rank = cursor.u8();
  const flags = cursor.u8();
  if (version === 1) cursor.skip(5);
  else if (version !== 2) throw new Unsupported(`dataspace version ${version}`);
  // Version 2's type: 0 scalar, 1 simple, 2 null (h5py's Empty, which h5wasm reads).
  if (version === 2 && cursor.u8() === 2) throw new Unsupported("a null dataspace");
  if (rank > MAX_RANK || flags & 0x02) throw new Unsupported(`dataspace of rank ${rank}`);
  const shape: number[] = [];
  for (let d = 0; d < rank; d++) shape.push(cursor.uint(lengthSize));
  // The maximum extents (all ones: unlimited), which the HDF5 library checks against the extents.
  if (flags & 0x01) {
    for (const n of shape) {
      const max = cursor.address(lengthSize);
      if (max !== -1 && max < n) throw new Unsupported(`extent ${n} beyond its maximum ${max}`);
    }
  }
  let elements = 1;
  for (const n of shape) elements *= n;
  if (!Number.isSafeInteger(elements)) throw new Unsupported(`shape [${shape.join(", ")}]`);
  return shape;
}
