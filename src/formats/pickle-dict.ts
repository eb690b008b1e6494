// Pickled dicts from str to a number, the shape of Geneformer's published dictionaries
// (token_dictionary.pkl: gene id -> token id, gene_median_dictionary.pkl: gene id -> median),
// read by the safe unpickler of pickle.ts. Besides plain ints and floats, the values may be numpy
// scalars: the only globals known are the three those need (numpy.dtype,
// numpy.core.multiarray.scalar, and _codecs.encode, how protocol 2 pickles bytes), evaluated as
// data.

import { quote } from "../error-values.js";
import { FileFormatError } from "../errors.js";
import { type PickleFail, type PickleValue, unpickle } from "./pickle.js";

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
function numpyScalar(dtype: Dtype, bytes: Uint8Array, fail: PickleFail): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const little = dtype.order !== ">";
  const code = dtype.dtype;
  if (bytes.length !== Number(code.slice(1)))
    fail(`numpy scalar of dtype ${quote(code)} has ${bytes.length} bytes`, undefined, code);
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
      return fail(`numpy scalar dtype ${quote(code)} is not supported`, undefined, code);
  }
}

/** Reads a pickled dict of str -> number; `source` names the file in errors. */
export function readPickledDict(bytes: Uint8Array, source: string): Map<string, number> {
  const holds = "a pickled dict of str -> number";
  const result = unpickle(
    bytes,
    { file: source, holds },
    {
      global: (module, name) => {
        const qualified = `${module}.${name}`;
        return Object.hasOwn(GLOBALS, qualified) ? { known: GLOBALS[qualified]! } : undefined;
      },
      call: (callable, args, fail) => {
        if (!isKnown(callable)) return fail("REDUCE of an unknown callable");
        if (callable.known === "dtype") {
          if (typeof args[0] !== "string") fail("numpy.dtype needs a type code");
          return { dtype: args[0] as string, order: "<" };
        }
        if (callable.known === "encode") {
          const text = args[0];
          if (
            typeof text !== "string" ||
            args[1] !== "latin1" ||
            [...text].some((c) => c.charCodeAt(0) > 0xff)
          )
            fail("_codecs.encode needs (str of latin-1 characters, 'latin1')", undefined, args);
          return Uint8Array.from(text as string, (c) => c.charCodeAt(0));
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
    },
  );
  const where = `${source} (${holds})`;
  if (!(result instanceof Map))
    throw new FileFormatError(`${where}: the pickled object is not a dict`, {
      file: source,
      key: "pickled object",
      value: result,
    });
  const out = new Map<string, number>();
  for (const [key, value] of result) {
    if (typeof value !== "number") {
      throw new FileFormatError(`${where}: the value of ${quote(key)} is not a number: ${quote(value)}`, {
        file: source,
        key,
        value,
      });
    }
    out.set(key, value);
  }
  return out;
}
