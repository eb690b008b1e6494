import { FileFormatError } from "../../errors.js";

// Conversions at the h5wasm boundary. h5wasm returns 64-bit integers as BigInt64Array /
// BigUint64Array; reading their elements as BigInt allocates one object per element, so these
// loops read the two 32-bit halves instead (little-endian: low word first).

export type NumericArray =
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array
  | Float32Array
  | Float64Array;

const TWO_POW_32 = 4294967296;

export function isNumericArray(value: unknown): value is NumericArray {
  return ArrayBuffer.isView(value) && !(value instanceof DataView);
}

function words(values: BigInt64Array | BigUint64Array): Int32Array {
  return new Int32Array(values.buffer, values.byteOffset, values.length * 2);
}

/** Int32 copy of integer indices; `where` names the dataset in the error for values outside int32. */
export function toInt32(values: NumericArray, where: string): Int32Array {
  if (values instanceof Int32Array) return values;
  const n = values.length;
  if (values instanceof BigInt64Array || values instanceof BigUint64Array) {
    const w = words(values);
    const out = new Int32Array(n);
    const unsigned = values instanceof BigUint64Array;
    for (let i = 0; i < n; i++) {
      const lo = w[2 * i]!;
      const hi = w[2 * i + 1]!;
      // In range iff the high word is the sign extension of the low word (0 for unsigned).
      if (hi !== lo >> 31 || (unsigned && lo < 0)) {
        throw new FileFormatError(`${where}: integer ${values[i]} at position ${i} does not fit in int32`);
      }
      out[i] = lo;
    }
    return out;
  }
  if (values instanceof Float32Array || values instanceof Float64Array) {
    throw new FileFormatError(`${where}: expected integers, found ${values.constructor.name}`);
  }
  if (values instanceof Uint32Array) {
    for (let i = 0; i < n; i++) {
      if (values[i]! > 0x7fffffff) {
        throw new FileFormatError(`${where}: integer ${values[i]} at position ${i} does not fit in int32`);
      }
    }
  }
  return Int32Array.from(values);
}

/** Float64 view of any numeric array: exact for every type but 64-bit integers beyond 2^53 (rounded). */
export function toFloat64(values: NumericArray): Float64Array {
  if (values instanceof Float64Array) return values;
  if (values instanceof BigInt64Array || values instanceof BigUint64Array) {
    const out = new Float64Array(values.length);
    fillFrom64(out, values);
    return out;
  }
  return new Float64Array(values);
}

/** Float32 copy of any numeric array (the dtype of every X block); float32 input is returned as is. */
export function toFloat32(values: NumericArray): Float32Array {
  if (values instanceof Float32Array) return values;
  if (values instanceof BigInt64Array || values instanceof BigUint64Array) {
    const out = new Float32Array(values.length);
    fillFrom64(out, values);
    return out;
  }
  return new Float32Array(values);
}

function fillFrom64(out: Float32Array | Float64Array, values: BigInt64Array | BigUint64Array): void {
  const w = words(values);
  const signed = values instanceof BigInt64Array;
  for (let i = 0; i < out.length; i++) {
    const lo = w[2 * i]! >>> 0;
    const hi = w[2 * i + 1]!;
    out[i] = (signed ? hi : hi >>> 0) * TWO_POW_32 + lo;
  }
}

/** A scalar read from HDF5 (number or bigint) as a number. */
export function toNumber(value: number | bigint): number {
  return typeof value === "bigint" ? Number(value) : value;
}
