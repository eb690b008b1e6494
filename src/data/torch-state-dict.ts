// torch.save's format for a state dict (Hugging Face's pytorch_model.bin): a zip archive holding
// `<name>/data.pkl`, a pickle of an OrderedDict whose tensors are calls of
// torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...) on storages given as
// persistent ids ("storage", torch.FloatStorage, key, location, numel), and one raw little-endian
// file `<name>/data/<key>` per storage. The pickle is read by the safe unpickler of pickle.ts,
// which knows only those names and evaluates them as data: nothing in the file is executed.

import { FileFormatError } from "../errors.js";
import { bfloat16ToFloat32, halfToFloat32 } from "../tensor/safetensors.js";
import { type PickleValue, unpickle } from "./pickle.js";
import { readZipEntries } from "./zip.js";

/** A tensor of the state dict: floats as float32 (float64 kept), integers as float64. */
export type TorchTensor = {
  readonly shape: number[];
  readonly data: Float32Array | Float64Array;
};

type Storage = { readonly storage: Float32Array | Float64Array };
type Marker = { readonly marker: "OrderedDict" | "rebuild_tensor" | "rebuild_parameter" | string };

/** A copy of the bytes in a buffer of their own (aligned; a Node Buffer's slice would be a view). */
const own = (raw: Uint8Array): ArrayBuffer => new Uint8Array(raw).buffer;

// torch's storage classes: element size and decoding of the raw bytes.
const STORAGES: Record<string, { size: number; decode: (raw: Uint8Array) => Float32Array | Float64Array }> = {
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
const isStorage = (v: unknown): v is Storage => typeof v === "object" && v !== null && "storage" in v;
const isTensor = (v: unknown): v is TorchTensor => typeof v === "object" && v !== null && "shape" in v;
const ints = (v: PickleValue): v is number[] => Array.isArray(v) && v.every((d) => Number.isInteger(d));

/** The tensors of a torch.save'd state dict, by name. */
export function readTorchStateDict(bytes: Uint8Array, source: string): Record<string, TorchTensor> {
  const entries = readZipEntries(bytes, source);
  const pickleName = [...entries.keys()].find((n) => n.endsWith("data.pkl"));
  if (pickleName === undefined)
    throw new FileFormatError(`${source}: no data.pkl in the archive (not a torch.save file)`);
  const prefix = pickleName.slice(0, -"data.pkl".length);
  const result = unpickle(entries.get(pickleName)!, `${source}: ${pickleName}`, {
    global: (module, name) => {
      const key = `${module}.${name}`;
      if (module === "torch" && STORAGES[name]) return { marker: name };
      return GLOBALS[key] ? { marker: GLOBALS[key]! } : undefined;
    },
    persistent: (id, fail) => {
      if (!Array.isArray(id) || id[0] !== "storage" || !isMarker(id[1]) || typeof id[2] !== "string")
        return fail(`unexpected persistent id ${JSON.stringify(id)}`);
      const kind = STORAGES[id[1].marker];
      const raw = entries.get(`${prefix}data/${id[2]}`);
      if (!kind || !raw) return fail(`storage ${id[2]} of type ${id[1].marker} is missing or unsupported`);
      if (raw.length % kind.size !== 0) fail(`storage ${id[2]} has ${raw.length} bytes`);
      return { storage: kind.decode(raw) };
    },
    call: (callable, args, fail) => {
      if (!isMarker(callable)) return fail("REDUCE of an unknown callable");
      if (callable.marker === "OrderedDict") return new Map();
      if (callable.marker === "rebuild_parameter") {
        if (!isTensor(args[0])) fail("_rebuild_parameter needs a tensor");
        return args[0]!;
      }
      if (callable.marker !== "rebuild_tensor") return fail(`${callable.marker} cannot be called`);
      const [storage, offset, size, stride] = args;
      if (!isStorage(storage) || typeof offset !== "number" || !ints(size!) || !ints(stride!))
        return fail("_rebuild_tensor_v2 needs (storage, offset, size, stride, ...)");
      return strided(storage.storage, offset, size as number[], stride as number[], fail);
    },
    // OrderedDict's state (the state dict's _metadata attribute): not needed.
    build: (target, _state, fail) => {
      if (!(target instanceof Map)) fail("BUILD of something other than an OrderedDict");
    },
  });
  if (!(result instanceof Map))
    throw new FileFormatError(`${source}: the pickled object is not a state dict`);
  const out: Record<string, TorchTensor> = {};
  for (const [name, value] of result) {
    if (!isTensor(value)) throw new FileFormatError(`${source}: "${name}" is not a tensor`);
    out[name] = value;
  }
  return out;
}

/** The elements of a strided view of a storage, copied row-major. */
function strided(
  storage: Float32Array | Float64Array,
  offset: number,
  size: number[],
  stride: number[],
  fail: (m: string) => never,
): TorchTensor {
  const count = size.reduce((a, b) => a * b, 1);
  const out = storage instanceof Float32Array ? new Float32Array(count) : new Float64Array(count);
  const index = new Array<number>(size.length).fill(0);
  for (let i = 0; i < count; i++) {
    let at = offset;
    for (let d = 0; d < size.length; d++) at += index[d]! * stride[d]!;
    if (at >= storage.length) fail(`tensor view reaches element ${at} of a storage of ${storage.length}`);
    out[i] = storage[at]!;
    for (let d = size.length - 1; d >= 0; d--) {
      if (++index[d]! < size[d]!) break;
      index[d] = 0;
    }
  }
  return { shape: size, data: out };
}
