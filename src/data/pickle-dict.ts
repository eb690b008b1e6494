// A reader for one kind of Python pickle: a flat dict from str to a number, the shape of
// Geneformer's published dictionaries (token_dictionary.pkl: gene id -> token id,
// gene_median_dictionary.pkl: gene id -> median). Pickles are programs for a stack machine that can
// call any importable Python function, so this interprets the opcodes itself and never calls
// anything: it knows the opcodes that build strings, numbers, tuples, dicts and the memo
// (protocols 2-5, https://github.com/python/cpython/blob/main/Lib/pickletools.py documents them),
// and recognises by name only the three globals a dict of numpy scalars needs (numpy.dtype,
// numpy.core.multiarray.scalar, _codecs.encode for protocol 2 bytes), decoding their arguments
// as data. Anything else is a FileFormatError naming the opcode or global.

import { FileFormatError } from "../errors.js";

type Global = { global: "dtype" | "scalar" | "encode" };
type Dtype = { dtype: string; order: string };
type Value = string | number | boolean | null | Uint8Array | Value[] | Map<string, Value> | Global | Dtype;

const MARK = Symbol("mark");

const GLOBALS: Record<string, Global["global"]> = {
  "numpy dtype": "dtype",
  "numpy.core.multiarray scalar": "scalar",
  "numpy._core.multiarray scalar": "scalar",
  "_codecs encode": "encode",
};

function isGlobal(v: unknown): v is Global {
  return typeof v === "object" && v !== null && "global" in v;
}

function isDtype(v: unknown): v is Dtype {
  return typeof v === "object" && v !== null && "dtype" in v;
}

/** numpy.core.multiarray.scalar(dtype, bytes): the number those bytes hold. */
function numpyScalar(dtype: Dtype, bytes: Uint8Array, fail: (m: string) => never): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const little = dtype.order !== ">";
  const code = dtype.dtype;
  const size = Number(code.slice(1));
  if (bytes.length !== size) fail(`numpy scalar of dtype ${code} has ${bytes.length} bytes`);
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
  const fail = (message: string): never => {
    throw new FileFormatError(`${source}: ${message} (only a pickled dict of str -> number can be read)`);
  };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const text = new TextDecoder("utf-8", { fatal: true });
  const stack: Array<Value | typeof MARK> = [];
  const memo = new Map<number, Value>();
  let pos = 0;
  const need = (n: number) => {
    if (pos + n > bytes.length) fail(`truncated at byte ${pos}`);
  };
  const u8 = () => {
    need(1);
    return bytes[pos++]!;
  };
  const u32 = () => {
    need(4);
    const v = view.getUint32(pos, true);
    pos += 4;
    return v;
  };
  const u64 = () => {
    need(8);
    const v = Number(view.getBigUint64(pos, true));
    pos += 8;
    return v;
  };
  const take = (n: number) => {
    need(n);
    const out = bytes.subarray(pos, pos + n);
    pos += n;
    return out;
  };
  const line = () => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) fail(`unterminated line at byte ${pos}`);
    const out = text.decode(bytes.subarray(pos, end));
    pos = end + 1;
    return out;
  };
  const pop = (): Value => {
    const v = stack.pop();
    if (v === undefined || v === MARK) return fail(`stack underflow at byte ${pos}`);
    return v;
  };
  const popMark = (): Value[] => {
    const at = stack.lastIndexOf(MARK);
    if (at < 0) fail(`no MARK before byte ${pos}`);
    const items = stack.splice(at) as Value[];
    items.shift();
    return items;
  };
  const top = (): Value => {
    const v = stack[stack.length - 1];
    if (v === undefined || v === MARK) return fail(`stack underflow at byte ${pos}`);
    return v;
  };
  const setItems = (dict: Value, items: Value[]) => {
    if (!(dict instanceof Map)) fail("SETITEM on something that is not a dict");
    for (let i = 0; i + 1 < items.length; i += 2) {
      const key = items[i];
      if (typeof key !== "string") fail(`a key is not a str (${typeof key})`);
      (dict as Map<string, Value>).set(key as string, items[i + 1]!);
    }
  };
  const global = (name: string) => {
    const known = GLOBALS[name];
    if (!known) fail(`refuses to load the global ${name.replace(" ", ".")}`);
    stack.push({ global: known! });
  };

  for (;;) {
    const op = u8();
    switch (op) {
      case 0x80: // PROTO
        u8();
        break;
      case 0x95: // FRAME
        u64();
        break;
      case 0x2e: {
        // STOP
        const result = pop();
        if (!(result instanceof Map)) return fail("the pickled object is not a dict");
        const out = new Map<string, number>();
        for (const [key, value] of result) {
          if (typeof value !== "number") fail(`the value of "${key}" is not a number`);
          out.set(key, value as number);
        }
        return out;
      }
      case 0x7d: // EMPTY_DICT
        stack.push(new Map());
        break;
      case 0x29: // EMPTY_TUPLE
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x28: // MARK
        stack.push(MARK);
        break;
      case 0x73: {
        // SETITEM
        const value = pop();
        const key = pop();
        setItems(top(), [key, value]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x74: // TUPLE
        stack.push(popMark());
        break;
      case 0x85: // TUPLE1
      case 0x86: // TUPLE2
      case 0x87: {
        // TUPLE3
        const n = op - 0x84;
        const items: Value[] = [];
        for (let i = 0; i < n; i++) items.unshift(pop());
        stack.push(items);
        break;
      }
      case 0x58: // BINUNICODE
        stack.push(text.decode(take(u32())));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(text.decode(take(u8())));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(text.decode(take(u64())));
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(take(u8()).slice());
        break;
      case 0x42: // BINBYTES
        stack.push(take(u32()).slice());
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        need(2);
        stack.push(view.getUint16(pos, true));
        pos += 2;
        break;
      case 0x4a: // BININT
        need(4);
        stack.push(view.getInt32(pos, true));
        pos += 4;
        break;
      case 0x8a: {
        // LONG1: little-endian two's complement of n bytes
        const n = u8();
        const raw = take(n);
        let v = 0n;
        for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(raw[i]!);
        if (n > 0 && raw[n - 1]! >= 0x80) v -= 1n << BigInt(8 * n);
        if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER))
          fail(`integer ${v} does not fit a double exactly`);
        stack.push(Number(v));
        break;
      }
      case 0x47: // BINFLOAT (big-endian)
        need(8);
        stack.push(view.getFloat64(pos, false));
        pos += 8;
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
      case 0x89: // NEWFALSE
        stack.push(op === 0x88);
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x68: // BINGET
      case 0x6a: {
        // LONG_BINGET
        const key = op === 0x68 ? u8() : u32();
        if (!memo.has(key)) fail(`memo entry ${key} is missing`);
        stack.push(memo.get(key)!);
        break;
      }
      case 0x63: // GLOBAL "module\nname\n"
        global(`${line()} ${line()}`);
        break;
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== "string" || typeof name !== "string") fail("STACK_GLOBAL needs two str");
        global(`${module} ${name}`);
        break;
      }
      case 0x52: {
        // REDUCE: only the three known globals, evaluated as data
        const args = pop();
        const callable = pop();
        if (!isGlobal(callable) || !Array.isArray(args))
          return fail(`REDUCE of an unknown callable at byte ${pos}`);
        if (callable.global === "dtype") {
          if (typeof args[0] !== "string") fail("numpy.dtype needs a type code");
          stack.push({ dtype: args[0] as string, order: "<" });
        } else if (callable.global === "encode") {
          // _codecs.encode(str, "latin1"): how protocol 2 pickles bytes
          if (typeof args[0] !== "string" || args[1] !== "latin1")
            fail("_codecs.encode needs (str, 'latin1')");
          stack.push(Uint8Array.from(args[0] as string, (c) => c.charCodeAt(0)));
        } else {
          const [dtype, raw] = args;
          if (!isDtype(dtype) || !(raw instanceof Uint8Array)) fail("numpy scalar needs (dtype, bytes)");
          stack.push(numpyScalar(dtype as Dtype, raw as Uint8Array, fail));
        }
        break;
      }
      case 0x62: {
        // BUILD: numpy.dtype's state tuple (version, byte order, ...)
        const state = pop();
        const target = top();
        if (!isDtype(target) || !Array.isArray(state) || typeof state[1] !== "string") {
          return fail(`BUILD of something other than a numpy dtype at byte ${pos}`);
        }
        target.order = state[1] as string;
        break;
      }
      default:
        fail(`opcode 0x${op.toString(16)} at byte ${pos - 1} is not supported`);
    }
  }
}
