// A Python pickle reader that never runs anything. Pickles are programs for a stack machine that
// can call any importable Python function; this interprets the opcodes that build data (strings,
// numbers, bytes, tuples, lists, dicts, the memo; protocols 2-5, documented in CPython's
// Lib/pickletools.py) and hands every global, call (REDUCE), BUILD and persistent id to the
// caller's hooks, which decide what the few names they know mean, as data. Anything else is a
// FileFormatError naming the opcode or the global.

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

export interface PickleHooks {
  /** GLOBAL / STACK_GLOBAL: what `module.name` stands for; return undefined to refuse it. */
  global(module: string, name: string): PickleValue | undefined;
  /** REDUCE: `callable(*args)` for a value global() returned. */
  call(callable: PickleValue, args: PickleValue[], fail: (message: string) => never): PickleValue;
  /** BUILD: applies `state` to `target` (e.g. an object's __setstate__); absent: refused. */
  build?(target: PickleValue, state: PickleValue, fail: (message: string) => never): void;
  /** BINPERSID: the object a persistent id stands for (torch's storages); absent: refused. */
  persistent?(id: PickleValue, fail: (message: string) => never): PickleValue;
}

const MARK = Symbol("mark");

/** Reads one pickled object; `source` names the file in errors. */
export function unpickle(bytes: Uint8Array, source: string, hooks: PickleHooks): PickleValue {
  const fail = (message: string): never => {
    throw new FileFormatError(`${source}: ${message}`);
  };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const text = new TextDecoder("utf-8", { fatal: true });
  const stack: Array<PickleValue | typeof MARK> = [];
  const memo = new Map<number, PickleValue>();
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
  const pop = (): PickleValue => {
    const v = stack.pop();
    if (v === undefined || v === MARK) return fail(`stack underflow at byte ${pos}`);
    return v;
  };
  const popMark = (): PickleValue[] => {
    const at = stack.lastIndexOf(MARK);
    if (at < 0) fail(`no MARK before byte ${pos}`);
    const items = stack.splice(at) as PickleValue[];
    items.shift();
    return items;
  };
  const top = (): PickleValue => {
    const v = stack[stack.length - 1];
    if (v === undefined || v === MARK) return fail(`stack underflow at byte ${pos}`);
    return v;
  };
  const setItems = (dict: PickleValue, items: PickleValue[]) => {
    if (!(dict instanceof Map)) return fail("SETITEM on something that is not a dict");
    for (let i = 0; i + 1 < items.length; i += 2) {
      const key = items[i];
      if (typeof key !== "string") fail(`a dict key is not a str (${typeof key})`);
      dict.set(key as string, items[i + 1]!);
    }
  };
  const global = (module: string, name: string) => {
    const value = hooks.global(module, name);
    if (value === undefined) fail(`refuses to load the global ${module}.${name}`);
    stack.push(value!);
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
      case 0x2e: // STOP
        return pop();
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
        // SETITEMS (the items first: the dict is below the MARK)
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x61: {
        // APPEND
        const value = pop();
        const list = top();
        if (!Array.isArray(list)) fail("APPEND to something that is not a list");
        (list as PickleValue[]).push(value);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        const list = top();
        if (!Array.isArray(list)) fail("APPENDS to something that is not a list");
        (list as PickleValue[]).push(...items);
        break;
      }
      case 0x74: // TUPLE
        stack.push(popMark());
        break;
      case 0x85: // TUPLE1
      case 0x86: // TUPLE2
      case 0x87: {
        // TUPLE3
        const items: PickleValue[] = [];
        for (let i = 0; i < op - 0x84; i++) items.unshift(pop());
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
        global(line(), line());
        break;
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== "string" || typeof name !== "string") fail("STACK_GLOBAL needs two str");
        global(module as string, name as string);
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        const callable = pop();
        if (!Array.isArray(args)) fail(`REDUCE without an argument tuple at byte ${pos}`);
        stack.push(hooks.call(callable, args as PickleValue[], fail));
        break;
      }
      case 0x62: {
        // BUILD
        const state = pop();
        if (!hooks.build) fail(`BUILD at byte ${pos - 1} is not supported`);
        hooks.build!(top(), state, fail);
        break;
      }
      case 0x51: {
        // BINPERSID
        const id = pop();
        if (!hooks.persistent) fail(`persistent id at byte ${pos - 1} is not supported`);
        stack.push(hooks.persistent!(id, fail));
        break;
      }
      default:
        fail(`opcode 0x${op.toString(16)} at byte ${pos - 1} is not supported`);
    }
  }
}
