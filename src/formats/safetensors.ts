// The safetensors container (https://github.com/huggingface/safetensors, "Format" section), encoded
// and decoded in memory so that it also works in browsers:
//   8 bytes     N, the header length, unsigned 64-bit little-endian
//   N bytes     JSON: {"__metadata__": {string: string}?, name: {dtype, shape, data_offsets: [begin, end]}}
//               padded with spaces so that the data start at a multiple of 8
//   rest        the tensors' bytes, little-endian, row-major, offsets relative to the end of the header,
//               covering the rest exactly: no holes, no overlaps
// Typed arrays are in the host's byte order, and Node runs only on little-endian hosts (x64, arm64),
// so bytes are copied as they are.

import { quote } from "../error-values.js";
import { ArgumentError, FileFormatError } from "../errors.js";

export type SafetensorsDtype =
  | "F64"
  | "F32"
  | "F16"
  | "BF16"
  | "I64"
  | "I32"
  | "I16"
  | "I8"
  | "U64"
  | "U32"
  | "U16"
  | "U8"
  | "BOOL";

export type SafetensorsArray =
  | Float64Array
  | Float32Array
  | BigInt64Array
  | Int32Array
  | Int16Array
  | Int8Array
  | BigUint64Array
  | Uint32Array
  | Uint16Array
  | Uint8Array;

/**
 * A tensor in a safetensors file. Encoding needs the array type of the dtype (BOOL: Uint8Array of
 * 0/1). Decoded F16/BF16 come as Float32Array (read-only support), and I64/U64 as Float64Array
 * with the `int64AsNumber` option.
 */
export interface SafetensorsTensor {
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  readonly data: SafetensorsArray;
}

export interface SafetensorsContents {
  readonly tensors: Record<string, SafetensorsTensor>;
  /** The `__metadata__` map ({} when the file has none). */
  readonly metadata: Record<string, string>;
}

export interface DecodeSafetensorsOptions {
  /** Names the input in error messages (a file path); default "safetensors". */
  readonly source?: string;
  /** Decode I64/U64 to Float64Array, failing on values beyond 2^53 - 1, instead of BigInt arrays. */
  readonly int64AsNumber?: boolean;
}

type ArrayConstructor = {
  new (length: number): SafetensorsArray;
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): SafetensorsArray;
};

interface DtypeInfo {
  readonly size: number;
  /** The array of the stored element type (for F16/BF16, the raw 16-bit words). */
  readonly array: ArrayConstructor;
  /** F16/BF16 are decoded to float32 and cannot be encoded. */
  readonly decodeOnly?: boolean;
}

const DTYPES: Record<SafetensorsDtype, DtypeInfo> = {
  F64: { size: 8, array: Float64Array },
  F32: { size: 4, array: Float32Array },
  F16: { size: 2, array: Uint16Array, decodeOnly: true },
  BF16: { size: 2, array: Uint16Array, decodeOnly: true },
  I64: { size: 8, array: BigInt64Array },
  I32: { size: 4, array: Int32Array },
  I16: { size: 2, array: Int16Array },
  I8: { size: 1, array: Int8Array },
  U64: { size: 8, array: BigUint64Array },
  U32: { size: 4, array: Uint32Array },
  U16: { size: 2, array: Uint16Array },
  U8: { size: 1, array: Uint8Array },
  BOOL: { size: 1, array: Uint8Array },
};

const METADATA_KEY = "__metadata__";
// The reference implementation refuses headers above 100 MB (safetensors' MAX_HEADER_SIZE).
const MAX_HEADER_BYTES = 100_000_000;

function isDtype(value: unknown): value is SafetensorsDtype {
  return typeof value === "string" && Object.hasOwn(DTYPES, value);
}

function isShape(value: unknown): value is number[] {
  return Array.isArray(value) && value.every((d) => Number.isSafeInteger(d) && d >= 0);
}

function elementCount(shape: readonly number[]): number {
  let count = 1;
  for (const d of shape) count *= d;
  return count;
}

/**
 * Encodes tensors and optional string metadata into safetensors bytes. Tensors are laid out by
 * decreasing element size, then by name (the reference writer's order), so that every tensor
 * starts at a multiple of its element size and decodes without copying.
 */
export function encodeSafetensors(
  tensors: Record<string, SafetensorsTensor>,
  metadata?: Record<string, string>,
): Uint8Array {
  const names = Object.keys(tensors);
  for (const name of names) {
    const { dtype, shape, data } = tensors[name]!;
    const where = `encodeSafetensors: tensor "${name}"`;
    if (name === METADATA_KEY) throw new ArgumentError(`${where}: the name is reserved for metadata`);
    if (!isDtype(dtype)) throw new ArgumentError(`${where}: unknown dtype ${JSON.stringify(dtype)}`);
    const info = DTYPES[dtype];
    if (info.decodeOnly) throw new ArgumentError(`${where}: dtype ${dtype} can be decoded but not encoded`);
    if (!(data instanceof info.array)) {
      throw new ArgumentError(
        `${where}: dtype ${dtype} needs a ${info.array.name}, got ${data?.constructor.name}`,
      );
    }
    if (!isShape(shape) || elementCount(shape) !== data.length) {
      throw new ArgumentError(
        `${where}: shape ${JSON.stringify(shape)} does not hold ${data.length} elements`,
      );
    }
    if (dtype === "BOOL" && !(data as Uint8Array).every((v) => v <= 1)) {
      throw new ArgumentError(`${where}: BOOL data must be 0 or 1`);
    }
  }
  if (metadata !== undefined) {
    for (const [key, value] of Object.entries(metadata)) {
      if (typeof value !== "string") {
        throw new ArgumentError(`encodeSafetensors: metadata "${key}" must be a string, got ${typeof value}`);
      }
    }
  }
  names.sort((a, b) => {
    const sizeOrder = DTYPES[tensors[b]!.dtype].size - DTYPES[tensors[a]!.dtype].size;
    return sizeOrder !== 0 ? sizeOrder : a < b ? -1 : a > b ? 1 : 0;
  });
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) header[METADATA_KEY] = metadata;
  let offset = 0;
  for (const name of names) {
    const { dtype, shape, data } = tensors[name]!;
    header[name] = { dtype, shape, data_offsets: [offset, offset + data.byteLength] };
    offset += data.byteLength;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerLength = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLength);
  let position = 8 + headerLength;
  for (const name of names) {
    const { data } = tensors[name]!;
    out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), position);
    position += data.byteLength;
  }
  return out;
}

interface HeaderEntry {
  readonly name: string;
  readonly dtype: SafetensorsDtype;
  readonly shape: number[];
  readonly begin: number;
  readonly end: number;
}

/**
 * Decodes safetensors bytes, validating the header strictly (FileFormatError with one line naming
 * `source`, the field and the problem, and the fields file, key, value). Every length and offset is
 * checked against the bytes before anything is allocated: the header must fit the file and
 * MAX_HEADER_BYTES, each tensor's data_offsets must lie within the data, hold exactly its shape's
 * bytes, and the tensors must tile the data with no overlap and no gap. Tensors are views into
 * `bytes` where their offset is aligned for their type (always for files written by
 * encodeSafetensors or the reference writer), copies otherwise.
 */
export function decodeSafetensors(
  bytes: Uint8Array,
  options: DecodeSafetensorsOptions = {},
): SafetensorsContents {
  const source = options.source ?? "safetensors";
  const fail = (message: string, key?: string, value?: unknown): never => {
    throw new FileFormatError(`${source}: ${message}`, { file: source, key, value });
  };
  if (bytes.length < 8)
    fail(`${bytes.length} bytes is too short for the 8-byte header length`, "header length", bytes.length);
  const declared = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (declared > BigInt(bytes.length - 8)) {
    fail(
      `header length ${declared} goes beyond the end of the ${bytes.length}-byte file`,
      "header length",
      declared,
    );
  }
  const headerLength = Number(declared);
  if (headerLength > MAX_HEADER_BYTES)
    fail(`header length ${headerLength} exceeds ${MAX_HEADER_BYTES} bytes`, "header length", headerLength);
  const dataStart = 8 + headerLength;
  const dataLength = bytes.length - dataStart;
  let header: unknown;
  try {
    // The reference reader requires the JSON to start with "{" (no leading padding), which also
    // makes a successfully parsed header an object.
    if (bytes[8] !== 0x7b) throw new Error("the header does not start with {");
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, dataStart)));
  } catch (error) {
    // JSON.parse quotes the text around the error, which may hold line breaks: one line, bounded.
    const reason = (error as Error).message.replace(/\s+/g, " ").slice(0, 200);
    fail(`header is not valid UTF-8 JSON (${reason})`, "header");
  }

  const metadata: Array<[string, string]> = [];
  const entries: HeaderEntry[] = [];
  for (const [name, value] of Object.entries(header as Record<string, unknown>)) {
    if (name === METADATA_KEY) {
      if (typeof value !== "object" || value === null || Array.isArray(value))
        fail(`${METADATA_KEY} is not an object`, METADATA_KEY, value);
      for (const [key, text] of Object.entries(value as Record<string, unknown>)) {
        if (typeof text !== "string")
          fail(`${METADATA_KEY} ${quote(key)} is not a string`, `${METADATA_KEY}: ${key}`, text);
        metadata.push([key, text as string]);
      }
      continue;
    }
    const entry = (typeof value === "object" && value !== null ? value : {}) as Record<string, unknown>;
    const { dtype, shape, data_offsets: offsets } = entry;
    const where = `tensor ${quote(name)}`;
    if (!isDtype(dtype)) fail(`${where}: unknown dtype ${quote(dtype)}`, `${name}: dtype`, dtype);
    if (!isShape(shape))
      fail(`${where}: shape ${quote(shape)} is not a list of non-negative integers`, `${name}: shape`, shape);
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) ||
      offsets[0] > offsets[1]
    ) {
      fail(
        `${where}: data_offsets ${quote(offsets)} is not [begin, end] with 0 <= begin <= end`,
        `${name}: data_offsets`,
        offsets,
      );
    }
    const [begin, end] = offsets as [number, number];
    if (end > dataLength) {
      fail(
        `${where}: data_offsets [${begin}, ${end}] go beyond the ${dataLength} data bytes`,
        `${name}: data_offsets`,
        offsets,
      );
    }
    // Past 2^53 the product is inexact, but then it is far above any byte count of a file.
    const expected = elementCount(shape as number[]) * DTYPES[dtype as SafetensorsDtype].size;
    if (end - begin !== expected) {
      fail(
        `${where}: shape ${quote(shape)} of ${dtype} needs ${expected} bytes, data_offsets give ${end - begin}`,
        `${name}: shape`,
        shape,
      );
    }
    entries.push({ name, dtype: dtype as SafetensorsDtype, shape: shape as number[], begin, end });
  }

  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  for (const { name, begin, end } of entries) {
    const where = `tensor ${quote(name)}: data_offsets [${begin}, ${end}]`;
    if (begin < covered) fail(`${where} overlap the previous tensor`, `${name}: data_offsets`, [begin, end]);
    if (begin > covered)
      fail(`${where} leave bytes ${covered}..${begin} unused`, `${name}: data_offsets`, [begin, end]);
    covered = end;
  }
  if (covered !== dataLength)
    fail(`tensors cover ${covered} of the ${dataLength} data bytes`, "data_offsets", covered);

  const tensors: Array<[string, SafetensorsTensor]> = [];
  for (const { name, dtype, shape, begin, end } of entries) {
    let data = readArray(bytes, dataStart + begin, dataStart + end, DTYPES[dtype]);
    if (dtype === "F16") data = halfToFloat32(data as Uint16Array);
    else if (dtype === "BF16") data = bfloat16ToFloat32(data as Uint16Array);
    else if (options.int64AsNumber && (dtype === "I64" || dtype === "U64")) {
      data = toSafeNumbers(data as BigInt64Array | BigUint64Array, name, fail);
    }
    tensors.push([name, { dtype, shape, data }]);
  }
  // fromEntries makes every name an own property, "__proto__" included.
  return { tensors: Object.fromEntries(tensors), metadata: Object.fromEntries(metadata) };
}

// A view when the absolute byte offset suits the element type, else a copy (typed arrays cannot
// be unaligned). The copy is Uint8Array's slice: a Node Buffer's own slice is a view of the same
// memory, whose .buffer would start at the pool's (or the file's) first byte.
function readArray(bytes: Uint8Array, start: number, end: number, info: DtypeInfo): SafetensorsArray {
  const count = (end - start) / info.size;
  const offset = bytes.byteOffset + start;
  if (offset % info.size === 0) return new info.array(bytes.buffer, offset, count);
  return new info.array(Uint8Array.prototype.slice.call(bytes, start, end).buffer, 0, count);
}

function toSafeNumbers(
  data: BigInt64Array | BigUint64Array,
  name: string,
  fail: (message: string, key?: string, value?: unknown) => never,
): Float64Array {
  const out = new Float64Array(data.length);
  const max = BigInt(Number.MAX_SAFE_INTEGER);
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (v > max || v < -max)
      fail(`tensor ${quote(name)}: element ${i} = ${v} is beyond 2^53 - 1, cannot be a number`, name, v);
    out[i] = Number(v);
  }
  return out;
}

// IEEE 754 binary16: 1 sign bit, 5 exponent bits (bias 15), 10 fraction bits.
export function halfToFloat32(words: Uint16Array): Float32Array {
  const out = new Float32Array(words.length);
  for (let i = 0; i < words.length; i++) {
    const h = words[i]!;
    const sign = h & 0x8000 ? -1 : 1;
    const exponent = (h >> 10) & 0x1f;
    const fraction = h & 0x3ff;
    if (exponent === 0) out[i] = sign * fraction * 2 ** -24;
    else if (exponent === 31) out[i] = fraction === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN;
    else out[i] = sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
  }
  return out;
}

// bfloat16 is the upper half of a float32.
export function bfloat16ToFloat32(words: Uint16Array): Float32Array {
  const out = new Float32Array(words.length);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < words.length; i++) bits[i] = words[i]! << 16;
  return out;
}
