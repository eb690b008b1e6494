// A Python pickle reader that never runs anything. Pickles are programs for a stack machine that
// can call any importable Python function; this interprets the opcodes that build data (strings,
// numbers, bytes, tuples, lists, dicts, the memo; protocols 2-5, documented in CPython's
// Lib/pickletools.py; sets come back as lists) and hands every global, call (REDUCE, NEWOBJ),
// BUILD, persistent id and non-str dict key to the caller's hooks, which decide what the few
// names they know mean, as data. Anything else is a FileFormatError naming the file, the opcode
// and its byte.
//
// The file is untrusted: every length is checked against the bytes left before anything is
// taken, strings must be valid UTF-8, and the values a pickle may create and the memo entries it
// may keep are bounded (MAX_PICKLE_VALUES, MAX_PICKLE_MEMO), so its memory is bounded however its
// opcodes are arranged. Nothing loops longer than the bytes it reads.

import { quote } from "../error-values.js";
import { FileFormatError } from "../errors.js";

/** A pickled value: Python data as JS values, or whatever the hooks return (opaque objects). */
export type PickleValue =
  | string
  | number
  | boolean
  | null
  | Uint8Array
  | PickleValue[]
  | Map<string, PickleValue>
  | { readonly [key: string]: unknown };

/**
 * Throws the reader's FileFormatError: `message` after the file and the opcode; `key` names
 * the field instead of the opcode, `value` is the value received.
 */
export type PickleFail = (message: string, key?: string, value?: unknown) => never;

export interface PickleHooks {
  /** GLOBAL / STACK_GLOBAL: what `module.name` stands for; return undefined to refuse it. */
  global(module: string, name: string): PickleValue | undefined;
  /** REDUCE: `callable(*args)` for a value global() returned. */
  call(callable: PickleValue, args: PickleValue[], fail: PickleFail): PickleValue;
  /** BUILD: applies `state` to `target` (e.g. an object's __setstate__); absent: refused. */
  build?(target: PickleValue, state: PickleValue, fail: PickleFail): void;
  /** BINPERSID: the object a persistent id stands for (torch's storages); absent: refused. */
  persistent?(id: PickleValue, fail: PickleFail): PickleValue;
  /** NEWOBJ: `cls.__new__(cls, *args)` for a value global() returned; absent: refused. */
  newobj?(cls: PickleValue, args: PickleValue[], fail: PickleFail): PickleValue;
  /**
   * A dict key that is not a str (torch's optimizer states key parameters by int), as the str
   * it is stored under; absent: such keys are refused.
   */
  key?(key: PickleValue, fail: PickleFail): string;
}

/** Where a pickle comes from, for errors: the file, the member of an archive it is, what it holds. */
export interface PickleSource {
  readonly file: string;
  readonly entry?: string;
  /** Said in parentheses after the file, e.g. "a pickled dict of str -> number". */
  readonly holds?: string;
}

/**
 * The most values one pickle may push (each string, number, container, memo reference and hook
 * result counts once): 4,194,304, some 80 times a Geneformer token dictionary's.
 */
export const MAX_PICKLE_VALUES = 2 ** 22;
/** The most memo entries one pickle may keep. */
export const MAX_PICKLE_MEMO = 2 ** 22;

const MARK = Symbol("mark");

const OPCODES = new Map<number, string>([
  [0x80, "PROTO"],
  [0x95, "FRAME"],
  [0x2e, "STOP"],
  [0x7d, "EMPTY_DICT"],
  [0x29, "EMPTY_TUPLE"],
  [0x5d, "EMPTY_LIST"],
  [0x28, "MARK"],
  [0x73, "SETITEM"],
  [0x75, "SETITEMS"],
  [0x61, "APPEND"],
  [0x65, "APPENDS"],
  [0x74, "TUPLE"],
  [0x85, "TUPLE1"],
  [0x86, "TUPLE2"],
  [0x87, "TUPLE3"],
  [0x58, "BINUNICODE"],
  [0x8c, "SHORT_BINUNICODE"],
  [0x8d, "BINUNICODE8"],
  [0x43, "SHORT_BINBYTES"],
  [0x42, "BINBYTES"],
  [0x4b, "BININT1"],
  [0x4d, "BININT2"],
  [0x4a, "BININT"],
  [0x8a, "LONG1"],
  [0x47, "BINFLOAT"],
  [0x4e, "NONE"],
  [0x88, "NEWTRUE"],
  [0x89, "NEWFALSE"],
  [0x94, "MEMOIZE"],
  [0x71, "BINPUT"],
  [0x72, "LONG_BINPUT"],
  [0x68, "BINGET"],
  [0x6a, "LONG_BINGET"],
  [0x63, "GLOBAL"],
  [0x93, "STACK_GLOBAL"],
  [0x52, "REDUCE"],
  [0x62, "BUILD"],
  [0x51, "BINPERSID"],
  [0x81, "NEWOBJ"],
  [0x8f, "EMPTY_SET"],
  [0x90, "ADDITEMS"],
  [0x91, "FROZENSET"],
]);

/** Reads one pickled object; `source` names the file (a path, or the file and archive member). */
export function unpickle(bytes: Uint8Array, source: string | PickleSource, hooks: PickleHooks): PickleValue {
  const { file, entry, holds } = typeof source === "string" ? ({ file: source } as PickleSource) : source;
  const where = `${file}${entry === undefined ? "" : `: ${entry}`}${holds === undefined ? "" : ` (${holds})`}`;
  let pos = 0;
  let opAt = 0;
  let opName = "start";
  const fail: PickleFail = (message, key, value) => {
    const field = key ?? `${opName} at byte ${opAt}`;
    throw new FileFormatError(`${where}: ${field}: ${message}`, {
      file,
      key: entry === undefined ? field : `${entry}: ${field}`,
      value,
    });
  };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const utf8 = new TextDecoder("utf-8", { fatal: true });
  const decode = (raw: Uint8Array): string => {
    try {
      return utf8.decode(raw);
    } catch {
      return fail(`a string of ${raw.length} bytes is not valid UTF-8`);
    }
  };
  const stack: Array<PickleValue | typeof MARK> = [];
  const memo = new Map<number, PickleValue>();
  let values = 0;
  const push = (value: PickleValue | typeof MARK) => {
    if (++values > MAX_PICKLE_VALUES) fail(`more than ${MAX_PICKLE_VALUES} values`, undefined, values);
    stack.push(value);
  };
  const remember = (key: number, value: PickleValue) => {
    if (!memo.has(key) && memo.size >= MAX_PICKLE_MEMO)
      fail(`more than ${MAX_PICKLE_MEMO} memo entries`, undefined, memo.size + 1);
    memo.set(key, value);
  };
  const need = (n: number) => {
    if (n > bytes.length - pos)
      fail(`truncated: needs ${n} bytes, ${bytes.length - pos} are left`, undefined, n);
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
    const v = view.getBigUint64(pos, true);
    pos += 8;
    // Beyond 2^53 no length can fit the file; the exact value only matters to the message.
    return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
  };
  const take = (n: number) => {
    need(n);
    const out = bytes.subarray(pos, pos + n);
    pos += n;
    return out;
  };
  const line = () => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) fail("truncated: unterminated line");
    const out = decode(bytes.subarray(pos, end));
    pos = end + 1;
    return out;
  };
  const pop = (): PickleValue => {
    const v = stack.pop();
    if (v === undefined || v === MARK) return fail("stack underflow");
    return v;
  };
  const popMark = (): PickleValue[] => {
    const at = stack.lastIndexOf(MARK);
    if (at < 0) fail("no MARK before it");
    const items = stack.splice(at) as PickleValue[];
    items.shift();
    return items;
  };
  const top = (): PickleValue => {
    const v = stack[stack.length - 1];
    if (v === undefined || v === MARK) return fail("stack underflow");
    return v;
  };
  const setItems = (dict: PickleValue, items: PickleValue[]) => {
    if (!(dict instanceof Map)) return fail("sets items of something that is not a dict", undefined, dict);
    if (items.length % 2 !== 0) fail(`has ${items.length} items, not key-value pairs`);
    for (let i = 0; i < items.length; i += 2) {
      let key = items[i];
      if (typeof key !== "string") {
        if (!hooks.key) fail("a dict key is not a str", undefined, key);
        key = hooks.key!(key!, fail);
      }
      dict.set(key as string, items[i + 1]!);
    }
  };
  const appendTo = (list: PickleValue, items: PickleValue[]) => {
    if (!Array.isArray(list)) return fail("appends to something that is not a list", undefined, list);
    // One push per item: a spread of many items would overflow the call stack.
    for (const item of items) list.push(item);
  };
  const global = (module: string, name: string) => {
    const value = hooks.global(module, name);
    if (value === undefined)
      fail(`refuses to load the global ${module}.${name}`, undefined, `${module}.${name}`);
    push(value!);
  };

  for (;;) {
    opAt = pos;
    const op = u8();
    opName = OPCODES.get(op) ?? `opcode 0x${op.toString(16).padStart(2, "0")}`;
    switch (op) {
      case 0x80: // PROTO
        u8();
        break;
      case 0x95: // FRAME
        u64();
        break;
      case 0x2e: // STOP
        return pop();
      case 0x7d: // EMPTY_DICT
        push(new Map());
        break;
      case 0x29: // EMPTY_TUPLE
      case 0x5d: // EMPTY_LIST
        push([]);
        break;
      case 0x28: // MARK
        push(MARK);
        break;
      case 0x73: {
        // SETITEM
        const value = pop();
        const key = pop();
        setItems(top(), [key, value]);
        break;
      }
      case 0x75: {
        // SETITEMS (the items first: the dict is below the MARK)
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x61: {
        // APPEND
        const value = pop();
        appendTo(top(), [value]);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        appendTo(top(), items);
        break;
      }
      case 0x74: // TUPLE
        push(popMark());
        break;
      case 0x85: // TUPLE1
      case 0x86: // TUPLE2
      case 0x87: {
        // TUPLE3
        const items: PickleValue[] = [];
        for (let i = 0; i < op - 0x84; i++) items.unshift(pop());
        push(items);
        break;
      }
      case 0x58: // BINUNICODE
        push(decode(take(u32())));
        break;
      case 0x8c: // SHORT_BINUNICODE
        push(decode(take(u8())));
        break;
      case 0x8d: // BINUNICODE8
        push(decode(take(u64())));
        break;
      case 0x43: // SHORT_BINBYTES
        push(take(u8()).slice());
        break;
      case 0x42: // BINBYTES
        push(take(u32()).slice());
        break;
      case 0x4b: // BININT1
        push(u8());
        break;
      case 0x4d: // BININT2
        need(2);
        push(view.getUint16(pos, true));
        pos += 2;
        break;
      case 0x4a: // BININT
        need(4);
        push(view.getInt32(pos, true));
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
          fail(`integer ${quote(v)} does not fit a double exactly`, undefined, v);
        push(Number(v));
        break;
      }
      case 0x47: // BINFLOAT (big-endian)
        need(8);
        push(view.getFloat64(pos, false));
        pos += 8;
        break;
      case 0x4e: // NONE
        push(null);
        break;
      case 0x88: // NEWTRUE
      case 0x89: // NEWFALSE
        push(op === 0x88);
        break;
      case 0x94: // MEMOIZE
        remember(memo.size, top());
        break;
      case 0x71: // BINPUT
        remember(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        remember(u32(), top());
        break;
      case 0x68: // BINGET
      case 0x6a: {
        // LONG_BINGET
        const key = op === 0x68 ? u8() : u32();
        if (!memo.has(key)) fail(`memo entry ${key} is missing`, undefined, key);
        push(memo.get(key)!);
        break;
      }
      case 0x63: // GLOBAL "module\nname\n"
        global(line(), line());
        break;
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== "string" || typeof name !== "string")
          fail("needs two str", undefined, [module, name]);
        global(module as string, name as string);
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        const callable = pop();
        if (!Array.isArray(args)) fail("has no argument tuple", undefined, args);
        push(hooks.call(callable, args as PickleValue[], fail));
        break;
      }
      case 0x62: {
        // BUILD
        const state = pop();
        if (!hooks.build) fail("is not supported in this file");
        hooks.build!(top(), state, fail);
        break;
      }
      case 0x51: {
        // BINPERSID
        const id = pop();
        if (!hooks.persistent) fail("a persistent id is not supported in this file");
        push(hooks.persistent!(id, fail));
        break;
      }
      case 0x81: {
        // NEWOBJ
        const args = pop();
        const cls = pop();
        if (!Array.isArray(args)) fail("has no argument tuple", undefined, args);
        if (!hooks.newobj) fail("is not supported in this file");
        push(hooks.newobj!(cls, args as PickleValue[], fail));
        break;
      }
      case 0x8f: // EMPTY_SET: sets are read as lists
        push([]);
        break;
      case 0x90: {
        // ADDITEMS
        const items = popMark();
        appendTo(top(), items);
        break;
      }
      case 0x91: // FROZENSET
        push(popMark());
        break;
      default:
        fail("is not supported (not an opcode that builds plain data)", undefined, op);
    }
  }
}
