// torch.save's format for a state dict (Hugging Face's pytorch_model.bin): a zip archive holding
// `<name>/data.pkl`, a pickle of an OrderedDict whose tensors are calls of
// torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...) on storages given as
// persistent ids ("storage", torch.FloatStorage, key, location, numel), and one raw little-endian
// file `<name>/data/<key>` per storage. The pickle is read by the safe unpickler of pickle.ts,
// which knows only those names and evaluates them as data: nothing in the file is executed.
//
// The file is untrusted. Unpickling only records each tensor's (storage, offset, size, stride);
// then, before anything is allocated, every view is checked against its storage's actual bytes
// in the archive and against the limits below, so a view cannot read outside its storage (no
// negative offsets or strides) nor make a small file expand into a huge one (a stride-0 view of
// 2e9 elements, or thousands of views of one storage).

import { quote } from "../error-values.js";
import { FileFormatError } from "../errors.js";
import { type PickleFail, type PickleValue, unpickle } from "./pickle.js";
import { bfloat16ToFloat32, halfToFloat32 } from "./safetensors.js";
import { readZipEntries } from "./zip.js";

/** A tensor of the state dict: floats as float32 (float64 kept), integers as float64. */
export type TorchTensor = {
  readonly shape: number[];
  readonly data: Float32Array | Float64Array;
};

/** The most elements one tensor may hold. */
export const MAX_TENSOR_ELEMENTS = 2 ** 31;
/** The most dimensions one tensor may have. */
export const MAX_TENSOR_DIMS = 64;
/**
 * All tensors of a file together hold at most this many times the elements of the storages they
 * view; a tensor saved under several names (tied weights) counts once.
 */
export const MAX_VIEW_EXPANSION = 2;

type StorageKind = {
  readonly name: string;
  readonly size: number;
  readonly decode: (raw: Uint8Array) => Float32Array | Float64Array;
};
/** A storage of the archive: its bytes (a view into the file) and element type. */
type Storage = { readonly key: string; readonly kind: StorageKind; readonly bytes: Uint8Array };
type StorageRef = { readonly storage: Storage };
/** A tensor as the pickle describes it; checked and copied out only after unpickling. */
type View = {
  readonly view: { storage: Storage; offset: number; size: number[]; stride: number[] };
};
type Marker = { readonly marker: string };

/** A copy of the bytes in a buffer of their own (aligned; a Node Buffer's slice would be a view). */
const own = (raw: Uint8Array): ArrayBuffer => new Uint8Array(raw).buffer;

// torch's storage classes: element size and decoding of the raw bytes.
const STORAGES: Record<string, Omit<StorageKind, "name">> = {
  FloatStorage: { size: 4, decode: (raw) => new Float32Array(own(raw)) },
  DoubleStorage: { size: 8, decode: (raw) => new Float64Array(own(raw)) },
  HalfStorage: { size: 2, decode: (raw) => halfToFloat32(new Uint16Array(own(raw))) },
  BFloat16Storage: { size: 2, decode: (raw) => bfloat16ToFloat32(new Uint16Array(own(raw))) },
  IntStorage: { size: 4, decode: (raw) => Float64Array.from(new Int32Array(own(raw))) },
  LongStorage: {
    size: 8,
    decode: (raw) => Float64Array.from(new BigInt64Array(own(raw)), (v) => Number(v)),
  },
};

const GLOBALS: Record<string, string> = {
  "collections.OrderedDict": "OrderedDict",
  "torch._utils._rebuild_tensor_v2": "rebuild_tensor",
  "torch._utils._rebuild_parameter": "rebuild_parameter",
};

const isMarker = (v: unknown): v is Marker => typeof v === "object" && v !== null && "marker" in v;
const isStorage = (v: unknown): v is StorageRef => typeof v === "object" && v !== null && "storage" in v;
const isView = (v: unknown): v is View => typeof v === "object" && v !== null && "view" in v;
const ints = (v: PickleValue | undefined): v is number[] =>
  Array.isArray(v) && v.every((d) => Number.isSafeInteger(d));

/** A torch.save archive: its pickle and the storages its persistent ids name. */
export interface TorchArchive {
  /** The pickle's entry name, e.g. `archive/data.pkl`. */
  readonly pickleName: string;
  readonly pickle: Uint8Array;
  /** BINPERSID: a storage of the archive, checked against its entry's bytes. */
  persistent(id: PickleValue, fail: PickleFail): PickleValue;
}

/** Opens a torch.save zip archive: finds its data.pkl and serves its storages. */
export function openTorchArchive(bytes: Uint8Array, source: string): TorchArchive {
  const entries = readZipEntries(bytes, source);
  const pickleName = [...entries.keys()].find((n) => n.endsWith("data.pkl"));
  if (pickleName === undefined) {
    throw new FileFormatError(`${source}: no data.pkl in the archive (not a torch.save file)`, {
      file: source,
      key: "data.pkl",
    });
  }
  const prefix = pickleName.slice(0, -"data.pkl".length);
  const storages = new Map<string, Storage>();
  const persistent = (id: PickleValue, fail: PickleFail): StorageRef => {
    if (!Array.isArray(id) || id[0] !== "storage" || !isMarker(id[1]) || typeof id[2] !== "string")
      return fail(`is not ("storage", type, key, location, numel): ${quote(id)}`, "persistent id", id);
    const [, type, key, , numel] = id;
    const name = type.marker;
    const kind = Object.hasOwn(STORAGES, name) ? { name, ...STORAGES[name]! } : undefined;
    if (kind === undefined)
      return fail(`type ${quote(name)} is not supported`, `storage ${quote(key)}`, name);
    const known = storages.get(key);
    if (known !== undefined) {
      if (known.kind.name !== name)
        fail(`is both ${known.kind.name} and ${name}`, `storage ${quote(key)}: type`, name);
      return { storage: known };
    }
    const raw = entries.get(`${prefix}data/${key}`);
    if (raw === undefined) return fail("is missing from the archive", `storage ${quote(key)}`, key);
    if (
      numel !== undefined &&
      (!Number.isSafeInteger(numel) || (numel as number) * kind.size !== raw.length)
    ) {
      fail(
        `${quote(numel)} elements of ${kind.size} bytes do not match the entry's ${raw.length} bytes`,
        `storage ${quote(key)}: numel`,
        numel,
      );
    }
    if (raw.length % kind.size !== 0)
      fail(`${raw.length} bytes are not whole ${name} elements`, `storage ${quote(key)}: size`, raw.length);
    const storage = { key, kind, bytes: raw };
    storages.set(key, storage);
    return { storage };
  };
  return { pickleName, pickle: entries.get(pickleName)!, persistent };
}

/** GLOBAL of a torch storage class (`torch.FloatStorage`) as the marker persistent ids carry. */
export function storageGlobal(module: string, name: string): PickleValue | undefined {
  return module === "torch" && Object.hasOwn(STORAGES, name) ? { marker: name } : undefined;
}

/** torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...) as an unchecked view. */
export function rebuildTensor(args: PickleValue[], fail: PickleFail): TensorView {
  const [storage, offset, size, stride] = args;
  if (!isStorage(storage) || !Number.isSafeInteger(offset) || !ints(size) || !ints(stride))
    return fail("_rebuild_tensor_v2 needs (storage, offset, size, stride, ...)", undefined, args);
  return { view: { storage: storage.storage, offset: offset as number, size, stride } };
}

/** A tensor as a pickle describes it (rebuildTensor), not yet checked nor copied. */
export type TensorView = View;
export const isTensorView = (v: unknown): v is TensorView => isView(v);

/** Elements a view's storage holds (for bounds on what views may copy out of a file). */
export function storageElements(view: TensorView): number {
  return view.view.storage.bytes.length / view.view.storage.kind.size;
}

/** Identifies a storage (views of one storage share it). */
export function storageKey(view: TensorView): string {
  return view.view.storage.key;
}

/** Checks `view` against its storage and the limits (FileFormatError naming `name`), then copies it out. */
export function materializeView(view: TensorView, name: string, source: string): TorchTensor {
  checkView(view.view, name, source);
  return copyView(view.view);
}

/** The tensors of a torch.save'd state dict, by name. */
export function readTorchStateDict(bytes: Uint8Array, source: string): Record<string, TorchTensor> {
  const { pickleName, pickle, persistent } = openTorchArchive(bytes, source);
  const result = unpickle(
    pickle,
    { file: source, entry: pickleName },
    {
      global: (module, name) => {
        const storage = storageGlobal(module, name);
        if (storage !== undefined) return storage;
        const qualified = `${module}.${name}`;
        return Object.hasOwn(GLOBALS, qualified) ? { marker: GLOBALS[qualified]! } : undefined;
      },
      persistent,
      call: (callable, args, fail) => {
        if (!isMarker(callable))
          return fail("calls something that is not a known global", undefined, callable);
        if (callable.marker === "OrderedDict") return new Map();
        if (callable.marker === "rebuild_parameter") {
          if (!isView(args[0])) fail("_rebuild_parameter needs a tensor", undefined, args[0]);
          return args[0]!;
        }
        if (callable.marker !== "rebuild_tensor") return fail(`${callable.marker} cannot be called`);
        return rebuildTensor(args, fail);
      },
      // OrderedDict's state (the state dict's _metadata attribute): not needed.
      build: (target, _state, fail) => {
        if (!(target instanceof Map)) fail("BUILD of something other than an OrderedDict", undefined, target);
      },
    },
  );
  if (!(result instanceof Map)) {
    throw new FileFormatError(`${source}: the pickled object is not a state dict but ${quote(result)}`, {
      file: source,
      key: pickleName,
    });
  }
  const views: Array<[string, View["view"]]> = [];
  for (const [name, value] of result) {
    if (!isView(value)) {
      throw new FileFormatError(`${source}: ${quote(name)} is not a tensor but ${quote(value)}`, {
        file: source,
        key: name,
      });
    }
    views.push([name, value.view]);
  }
  return Object.fromEntries(copyViews(views, source));
}

/**
 * Checks every view against its storage and the limits, then copies each distinct view out
 * (names that share one view share its tensor).
 */
function copyViews(views: Array<[string, View["view"]]>, source: string): Array<[string, TorchTensor]> {
  const distinct = new Map<string, View["view"]>();
  const named: Array<[string, string]> = [];
  for (const [name, view] of views) {
    const id = JSON.stringify([view.storage.key, view.offset, view.size, view.stride]);
    if (!distinct.has(id)) {
      checkView(view, name, source);
      distinct.set(id, view);
    }
    named.push([name, id]);
  }
  let held = 0;
  for (const storage of new Set([...distinct.values()].map((v) => v.storage)))
    held += storage.bytes.length / storage.kind.size;
  let total = 0;
  for (const { size } of distinct.values()) total += size.reduce((a, b) => a * b, 1);
  if (total > MAX_VIEW_EXPANSION * held) {
    throw new FileFormatError(
      `${source}: its tensors hold ${total} elements, more than ${MAX_VIEW_EXPANSION} times the ${held} their storages hold`,
      { file: source, key: "tensors", value: total },
    );
  }
  const copies = new Map<string, TorchTensor>();
  for (const [id, view] of distinct) copies.set(id, copyView(view));
  return named.map(([name, id]) => [name, copies.get(id)!]);
}

/** Throws unless `view` lies within its storage and within the limits. */
function checkView(view: View["view"], name: string, source: string): void {
  const { storage, offset, size, stride } = view;
  const fail = (message: string, field: string, value: unknown): never => {
    throw new FileFormatError(`${source}: tensor ${quote(name)}: ${field} ${quote(value)} ${message}`, {
      file: source,
      key: `${name}: ${field}`,
      value,
    });
  };
  const numel = storage.bytes.length / storage.kind.size;
  if (size.length > MAX_TENSOR_DIMS) fail(`has more than ${MAX_TENSOR_DIMS} dimensions`, "size", size);
  if (stride.length !== size.length)
    fail(`does not have one entry per dimension of ${quote(size)}`, "stride", stride);
  let count = 1;
  for (const d of size) {
    if (d < 0) fail("has a negative dimension", "size", size);
    count = Math.min(count * d, MAX_TENSOR_ELEMENTS + 1);
  }
  if (count > MAX_TENSOR_ELEMENTS) fail(`holds more than ${MAX_TENSOR_ELEMENTS} elements`, "size", size);
  if (count > numel) {
    fail(
      `holds ${count} elements, more than its ${storage.kind.name} of ${numel} (views that repeat elements, such as stride 0, are not read)`,
      "size",
      size,
    );
  }
  if (stride.some((s) => s < 0)) fail("is negative (torch never saves negative strides)", "stride", stride);
  if (offset < 0 || offset > numel)
    fail(`is outside its ${storage.kind.name} of ${numel} elements`, "offset", offset);
  if (count === 0) return;
  let last = offset;
  for (let d = 0; d < size.length; d++) last += (size[d]! - 1) * stride[d]!;
  if (last >= numel) {
    fail(
      `reaches element ${last} of its ${storage.kind.name} of ${numel} elements (offset ${offset}, size ${quote(size)})`,
      "stride",
      stride,
    );
  }
}

/** The elements of a checked view, copied row-major and decoded. */
function copyView({ storage, offset, size, stride }: View["view"]): TorchTensor {
  const { bytes, kind } = storage;
  const count = size.reduce((a, b) => a * b, 1);
  let contiguous = true;
  for (let d = size.length - 1, expected = 1; d >= 0; d--) {
    if (size[d]! !== 1 && stride[d]! !== expected) contiguous = false;
    expected *= size[d]!;
  }
  const es = kind.size;
  if (contiguous || count === 0)
    return { shape: size, data: kind.decode(bytes.subarray(offset * es, (offset + count) * es)) };
  // Gather the elements' bytes in row-major order, then decode them as one contiguous run.
  const gathered = new Uint8Array(count * es);
  const index = new Array<number>(size.length).fill(0);
  for (let i = 0; i < count; i++) {
    let at = offset;
    for (let d = 0; d < size.length; d++) at += index[d]! * stride[d]!;
    gathered.set(bytes.subarray(at * es, (at + 1) * es), i * es);
    for (let d = size.length - 1; d >= 0; d--) {
      if (++index[d]! < size[d]!) break;
      index[d] = 0;
    }
  }
  return { shape: size, data: kind.decode(gathered) };
}
