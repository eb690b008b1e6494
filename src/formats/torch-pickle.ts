// Any torch.save'd object (a Lightning `.ckpt`: dicts, lists, tensors, pickled nn.Module objects,
// numpy arrays) read as data, never executed. The safe unpickler of pickle.ts hands every global
// and call to the hooks here; the few names whose meaning is data are evaluated (OrderedDict,
// torch's tensor and parameter rebuilders, meta tensors, numpy arrays and dtypes, sets, bytes),
// every other global stays a name (PyGlobal) and every other call or NEWOBJ a record of the class
// and its arguments (PyObject), whose BUILD state and dict items are kept beside it. Nothing
// is imported or run, so a class the caller does not know is just a name it can refuse.
//
// Tensors stay unchecked views (torch-state-dict.ts) until the caller asks for one by name: only
// then is the view checked against its storage and copied out, within a budget of
// MAX_VIEW_EXPANSION times the elements of the archive's storages. numpy arrays are decoded at
// BUILD from bytes the pickle holds, each length checked against those bytes first.

import { quote } from "../error-values.js";
import { FileFormatError } from "../errors.js";
import { type PickleFail, type PickleValue, unpickle } from "./pickle.js";
import {
  isTensorView,
  MAX_VIEW_EXPANSION,
  materializeView,
  openTorchArchive,
  rebuildTensor,
  storageElements,
  storageGlobal,
  storageKey,
  type TensorView,
  type TorchTensor,
} from "./torch-state-dict.js";

/** A global the pickle names but that is not evaluated: `torch.optim.adam.Adam`, `torch.float32`. */
export interface PyGlobal {
  readonly py: "global";
  readonly name: string;
}

/**
 * An object of a class not evaluated (a pickled nn.Module, a BertConfig, an AttributeDict): the
 * class, the arguments of its NEWOBJ or REDUCE, its BUILD state (for most objects their __dict__;
 * null when none) and, for dict subclasses, the items SETITEMS gave it (the Map itself).
 */
export class PyObject extends Map<string, PickleValue> {
  readonly py = "object";
  state: PickleValue = null;
  constructor(
    readonly cls: string,
    readonly args: readonly PickleValue[],
  ) {
    super();
  }

  /** The object's __dict__ (its BUILD state, or the dict of a (dict, slots) state); empty if none. */
  attributes(): Map<string, PickleValue> {
    const state = this.state;
    if (state instanceof Map && !(state instanceof PyObject)) return state;
    if (Array.isArray(state) && state[0] instanceof Map) return state[0] as Map<string, PickleValue>;
    return new Map();
  }
}

/** A tensor on torch's meta device: a dtype and a shape, no values (upstream's hyper_parameters). */
export interface MetaTensor {
  readonly py: "meta";
  readonly dtype: string;
  readonly shape: readonly number[];
}

/**
 * A numpy array: strings and objects as a list, numbers as float64; a structured array (crick's
 * centroids: mean f8, weight u4) as one float64 column per numeric field.
 */
export interface NdArray {
  readonly py: "ndarray";
  shape: number[];
  values: Array<PickleValue> | Float64Array;
  columns?: Record<string, Float64Array>;
}

type Dtype = {
  py: "dtype";
  code: string;
  order: string;
  /** A structured dtype's fields: name -> (dtype, byte offset). */
  fields?: Map<string, PickleValue>;
};

export const isPyGlobal = (v: unknown): v is PyGlobal =>
  typeof v === "object" && v !== null && (v as PyGlobal).py === "global";
export const isMetaTensor = (v: unknown): v is MetaTensor =>
  typeof v === "object" && v !== null && (v as MetaTensor).py === "meta";
export const isNdArray = (v: unknown): v is NdArray =>
  typeof v === "object" && v !== null && (v as NdArray).py === "ndarray";
const isDtype = (v: unknown): v is Dtype =>
  typeof v === "object" && v !== null && (v as Dtype).py === "dtype";

export { isTensorView, type TensorView };

/** Python's plain dict (or OrderedDict), not a PyObject that happens to hold items. */
export const isDict = (v: unknown): v is Map<string, PickleValue> =>
  v instanceof Map && !(v instanceof PyObject);

const NDARRAY_RECONSTRUCT = new Set([
  "numpy.core.multiarray._reconstruct",
  "numpy._core.multiarray._reconstruct",
]);
const SETS = new Set(["__builtin__.set", "builtins.set", "__builtin__.frozenset", "builtins.frozenset"]);
const PARAMETERS = new Set(["torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state"]);

/** A torch.save'd object read as data, with its tensors copied out on request. */
export interface TorchPickle {
  readonly root: PickleValue;
  /** The tensor `value` stands for, checked and copied; FileFormatError naming `name` otherwise. */
  tensor(value: TensorView, name: string): TorchTensor;
}

export function readTorchPickle(bytes: Uint8Array, source: string): TorchPickle {
  const archive = openTorchArchive(bytes, source);
  const storages = new Map<string, number>();
  const root = unpickle(
    archive.pickle,
    { file: source, entry: archive.pickleName },
    {
      global: (module, name) => storageGlobal(module, name) ?? { py: "global", name: `${module}.${name}` },
      persistent: archive.persistent,
      key: (key, fail) => {
        // torch's optimizer state dicts key their states by parameter index.
        if (typeof key === "number" && Number.isInteger(key)) return String(key);
        return fail("a dict key is neither a str nor an int", undefined, key);
      },
      newobj: (cls, args, fail) => {
        if (!isPyGlobal(cls))
          return fail("creates an object of something that is not a class", undefined, cls);
        if (cls.name === "collections.OrderedDict") return new Map();
        return new PyObject(cls.name, args);
      },
      call: (callable, args, fail) => call(callable, args, fail, storages),
      build: (target, state, fail) => build(target, state, fail),
    },
  );
  let held = 0;
  for (const elements of storages.values()) held += elements;
  let copied = 0;
  return {
    root,
    tensor(value, name) {
      const out = materializeView(value, name, source);
      copied += out.data.length;
      if (copied > MAX_VIEW_EXPANSION * held) {
        throw new FileFormatError(
          `${source}: tensor ${quote(name)}: its tensors hold ${copied} elements, more than ${MAX_VIEW_EXPANSION} times the ${held} their storages hold`,
          { file: source, key: name, value: copied },
        );
      }
      return out;
    },
  };
}

function call(callable: PickleValue, args: PickleValue[], fail: PickleFail, storages: Map<string, number>) {
  if (!isPyGlobal(callable)) return fail("calls something that is not a global", undefined, callable);
  const name = callable.name;
  if (name === "collections.OrderedDict") {
    const dict = new Map<string, PickleValue>();
    const items = args[0];
    if (Array.isArray(items)) {
      for (const pair of items) {
        if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== "string")
          return fail("OrderedDict needs (str, value) pairs", undefined, pair);
        dict.set(pair[0], pair[1]!);
      }
    }
    return dict;
  }
  if (name === "torch._utils._rebuild_tensor_v2") {
    const view = rebuildTensor(args, fail);
    storages.set(storageKey(view), storageElements(view));
    return view;
  }
  if (PARAMETERS.has(name)) {
    if (!isTensorView(args[0]) && !isMetaTensor(args[0]))
      return fail(`${name} needs a tensor`, undefined, args[0]);
    return args[0]!;
  }
  if (name === "torch._utils._rebuild_meta_tensor_no_storage") {
    const [dtype, size] = args;
    if (
      !isPyGlobal(dtype) ||
      !Array.isArray(size) ||
      !size.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)
    )
      return fail("_rebuild_meta_tensor_no_storage needs (dtype, size, ...)", undefined, args);
    return { py: "meta", dtype: dtype.name, shape: size as number[] } satisfies MetaTensor;
  }
  if (NDARRAY_RECONSTRUCT.has(name)) return { py: "ndarray", shape: [], values: [] } satisfies NdArray;
  if (name === "numpy.dtype") {
    if (typeof args[0] !== "string") return fail("numpy.dtype needs a type code", undefined, args[0]);
    return { py: "dtype", code: args[0], order: "=" } satisfies Dtype;
  }
  if (name === "_codecs.encode") {
    const text = args[0];
    if (typeof text !== "string" || args[1] !== "latin1" || [...text].some((c) => c.charCodeAt(0) > 0xff))
      return fail("_codecs.encode needs (str of latin-1 characters, 'latin1')", undefined, args);
    return Uint8Array.from(text, (c) => c.charCodeAt(0));
  }
  if (SETS.has(name)) {
    if (args.length === 0) return [];
    if (!Array.isArray(args[0])) return fail(`${name} needs a list`, undefined, args[0]);
    return [...args[0]];
  }
  if (name === "torch.Size") {
    if (!Array.isArray(args[0])) return fail("torch.Size needs a tuple", undefined, args[0]);
    return args[0];
  }
  return new PyObject(name, args);
}

function build(target: PickleValue, state: PickleValue, fail: PickleFail): void {
  if (target instanceof PyObject) {
    target.state = state;
    return;
  }
  // An OrderedDict's instance attributes (a state dict's _metadata): not needed.
  if (target instanceof Map) return;
  if (isDtype(target)) {
    if (!Array.isArray(state) || typeof state[1] !== "string")
      fail("numpy dtype state lacks its byte order", undefined, state);
    target.order = (state as PickleValue[])[1] as string;
    const fields = (state as PickleValue[])[4];
    if (isDict(fields)) target.fields = fields;
    return;
  }
  if (isNdArray(target)) {
    buildArray(target, state, fail);
    return;
  }
  fail("BUILD of something that is neither an object, a dict, a numpy array nor a dtype", undefined, target);
}

const NUMERIC_KINDS = new Set(["f", "i", "u", "b"]);

/** numpy.ndarray.__setstate__((version, shape, dtype, is_fortran, raw)), decoded as data. */
function buildArray(target: NdArray, state: PickleValue, fail: PickleFail): void {
  if (!Array.isArray(state) || state.length !== 5)
    fail("numpy array state is not (version, shape, dtype, is_fortran, data)", undefined, state);
  const [, shape, dtype, fortran, raw] = state;
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0))
    fail("numpy array shape is not a tuple of sizes", undefined, shape);
  if (!isDtype(dtype)) fail("numpy array has no dtype", undefined, dtype);
  let count = 1;
  for (const d of shape as number[]) count = Math.min(count * d, Number.MAX_SAFE_INTEGER);
  if (fortran === true && shape.length > 1)
    fail("Fortran-ordered numpy arrays of more than one dimension are not read", undefined, shape);
  target.shape = shape as number[];
  const code = dtype.code;
  if (code === "O8" || code === "O4") {
    if (!Array.isArray(raw) || raw.length !== count)
      fail(`numpy object array of ${count} elements has ${quote(raw)}`, undefined, raw);
    target.values = raw;
    return;
  }
  if (!(raw instanceof Uint8Array)) fail(`numpy ${code} array data is not bytes`, undefined, raw);
  const match = /^([UuSfiubV])(\d+)$/.exec(code);
  const kind = match?.[1];
  const size = Number(match?.[2]);
  if (kind === "V") {
    buildStructured(target, dtype, count, size, raw, fail);
    return;
  }
  if (kind === undefined || !(kind === "U" || kind === "S" || NUMERIC_KINDS.has(kind)))
    fail(`numpy dtype ${quote(code)} is not supported`, undefined, code);
  const itemBytes = kind === "U" ? size * 4 : size;
  if (!Number.isSafeInteger(itemBytes) || itemBytes * count !== raw.length)
    fail(
      `numpy ${code} array of shape ${quote(shape)} does not match its ${raw.length} bytes`,
      undefined,
      raw.length,
    );
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const little = dtype.order !== ">";
  if (kind === "U" || kind === "S") {
    const values: string[] = [];
    for (let i = 0; i < count; i++) {
      let text = "";
      for (let c = 0; c < size; c++) {
        const at = i * itemBytes + (kind === "U" ? c * 4 : c);
        const point = kind === "U" ? view.getUint32(at, little) : raw[at]!;
        if (point === 0) break;
        if (point > 0x10ffff) fail(`numpy ${code} array holds code point ${point}`, undefined, point);
        text += String.fromCodePoint(point);
      }
      values.push(text);
    }
    target.values = values;
    return;
  }
  const reader = numberReader(`${kind}${size}`, view, little);
  if (reader === undefined) fail(`numpy dtype ${quote(code)} is not supported`, undefined, code);
  target.values = Float64Array.from({ length: count }, (_, i) => reader(i * size));
}

/** A structured array's numeric fields, one float64 column each; other fields are left out. */
function buildStructured(
  target: NdArray,
  dtype: Dtype,
  count: number,
  itemBytes: number,
  raw: Uint8Array,
  fail: PickleFail,
): void {
  if (!dtype.fields) fail(`numpy dtype ${quote(dtype.code)} has no fields`, undefined, dtype.code);
  if (!Number.isSafeInteger(itemBytes) || itemBytes * count !== raw.length)
    fail(
      `numpy ${dtype.code} array of ${count} records does not match its ${raw.length} bytes`,
      undefined,
      raw.length,
    );
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const columns: Record<string, Float64Array> = {};
  for (const [name, field] of dtype.fields) {
    if (!Array.isArray(field) || !isDtype(field[0]) || !Number.isSafeInteger(field[1])) continue;
    const fieldType = field[0];
    const offset = field[1] as number;
    const reader = numberReader(fieldType.code, view, fieldType.order !== ">");
    const bytes = Number(/\d+$/.exec(fieldType.code)?.[0]);
    if (reader === undefined || offset < 0 || offset + bytes > itemBytes) continue;
    columns[name] = Float64Array.from({ length: count }, (_, i) => reader(i * itemBytes + offset));
  }
  target.values = [];
  target.columns = columns;
}

/** Reads one number of numpy type `code` (e.g. "f8") at a byte offset; undefined for other types. */
function numberReader(code: string, view: DataView, little: boolean): ((at: number) => number) | undefined {
  const read: Record<string, ((at: number) => number) | undefined> = {
    f4: (at) => view.getFloat32(at, little),
    f8: (at) => view.getFloat64(at, little),
    i1: (at) => view.getInt8(at),
    i2: (at) => view.getInt16(at, little),
    i4: (at) => view.getInt32(at, little),
    i8: (at) => Number(view.getBigInt64(at, little)),
    u1: (at) => view.getUint8(at),
    u2: (at) => view.getUint16(at, little),
    u4: (at) => view.getUint32(at, little),
    u8: (at) => Number(view.getBigUint64(at, little)),
    b1: (at) => view.getUint8(at),
  };
  return Object.hasOwn(read, code) ? read[code] : undefined;
}
