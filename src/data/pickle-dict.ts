// Pickled dicts from str to a number, the shape of Geneformer's published dictionaries
// (token_dictionary.pkl: gene id -> token id, gene_median_dictionary.pkl: gene id -> median),
// read by the safe unpickler of pickle.ts. Besides plain ints and floats, the values may be numpy
// scalars: the only globals known are the three those need (numpy.dtype,
// numpy.core.multiarray.scalar, and _codecs.encode, how protocol 2 pickles bytes), evaluated as
// data.

import { FileFormatError } from "../errors.js";
import { type PickleValue, unpickle } from "./pickle.js";

type Known = { readonly known: "dtype" | "scalar" | "encode" };
type Dtype = { dtype: string; order: string };

const GLOBALS: Record<string, Known["known"]> = {
  "numpy.dtype": "dtype",
  "numpy.core.multiarray.scalar": "scalar",
  "numpy._core.multiarray.scalar": "scalar",
  "_codecs.encode": "encode",
};

const isKnown = (v: unknown): v is Known => typeof v === "object" && v !== null && "known" in v;
const isDtype = (v: unknown): v is Dtype => typeof v === "object" && v !== null && "dtype" in v;

/** numpy.core.multiarray.scalar(dtype, bytes): the number those bytes hold. */
function numpyScalar(dtype: Dtype, bytes: Uint8Array, fail: (m: string) => never): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const little = dtype.order !== ">";
  const code = dtype.dtype;
  if (bytes.length !== Number(code.slice(1))) fail(`numpy scalar of dtype ${code} has ${bytes.length} bytes`);
  switch (code) {
    case "f8":
      return view.getFloat64(0, little);
    case "f4":
      return view.getFloat32(0, little);
    case "i8":
      return Number(view.getBigInt64(0, little));
    case "i4":
      return view.getInt32(0, little);
    case "u8":
      return Number(view.getBigUint64(0, little));
    case "u4":
      return view.getUint32(0, little);
    default:
      return fail(`numpy scalar dtype ${code} is not supported`);
  }
}

/** Reads a pickled dict of str -> number; `source` names the file in errors. */
export function readPickledDict(bytes: Uint8Array, source: string): Map<string, number> {
  const where = `${source} (a pickled dict of str -> number)`;
  const result = unpickle(bytes, where, {
    global: (module, name) => {
      const known = GLOBALS[`${module}.${name}`];
      return known ? { known } : undefined;
    },
    call: (callable, args, fail) => {
      if (!isKnown(callable)) return fail("REDUCE of an unknown callable");
      if (callable.known === "dtype") {
        if (typeof args[0] !== "string") fail("numpy.dtype needs a type code");
        return { dtype: args[0] as string, order: "<" };
      }
      if (callable.known === "encode") {
        if (typeof args[0] !== "string" || args[1] !== "latin1") fail("_codecs.encode needs (str, 'latin1')");
        return Uint8Array.from(args[0] as string, (c) => c.charCodeAt(0));
      }
      const [dtype, raw] = args;
      if (!isDtype(dtype) || !(raw instanceof Uint8Array)) return fail("numpy scalar needs (dtype, bytes)");
      return numpyScalar(dtype, raw, fail);
    },
    // numpy.dtype's state tuple: (version, byte order, ...)
    build: (target, state, fail) => {
      if (!isDtype(target) || !Array.isArray(state) || typeof state[1] !== "string")
        fail("BUILD of something other than a numpy dtype");
      (target as Dtype).order = (state as PickleValue[])[1] as string;
    },
  });
  if (!(result instanceof Map)) throw new FileFormatError(`${where}: the pickled object is not a dict`);
  const out = new Map<string, number>();
  for (const [key, value] of result) {
    if (typeof value !== "number")
      throw new FileFormatError(`${where}: the value of "${key}" is not a number`);
    out.set(key, value);
  }
  return out;
}
