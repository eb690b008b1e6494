// Untrusted pretrained files (SPEC section 9): pickles, torch .bin archives, zips, safetensors and
// config.json, crafted to break the readers. Real writers make the inputs where they help
// (/usr/bin/python3 with pickle, zipfile and torch); malformed bytes are built here by hand. Every
// case must end in a typed error whose one-line message and fields name the file and the field,
// before anything large is allocated; a seeded fuzz pass checks that mutated files either load or
// throw a CellariumError, quickly and without allocating absurdly.

import assert from "node:assert/strict";
import { copyFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { CellariumError, ConfigError, FileFormatError } from "../../src/errors.js";
import { MAX_PICKLE_VALUES, type PickleValue, unpickle } from "../../src/formats/pickle.js";
import { readPickledDict } from "../../src/formats/pickle-dict.js";
import { decodeSafetensors } from "../../src/formats/safetensors.js";
import { readTorchStateDict } from "../../src/formats/torch-state-dict.js";
import { readZipEntries } from "../../src/formats/zip.js";
import { loadPretrainedGeneformer } from "../../src/io/pretrained-geneformer.js";
import { checkBertConfig, MAX_BERT_PARAMETERS } from "../../src/models/geneformer-import.js";
import { runPython } from "../helpers/python.js";
import { tempDir } from "../helpers/temp.js";
import { hasTorch } from "../tensor/helpers.js";

const FIXTURES = new URL("../fixtures/geneformer-pretrained/", import.meta.url).pathname;
const fixture = (name: string) => new Uint8Array(readFileSync(join(FIXTURES, name)));

/**
 * Asserts that `run` throws `Type` with `file` in its fields and at the start of its one-line
 * message, a key (the field) matching `field` whose last part the message names, and a message
 * matching `message`.
 */
function assertFault(
  run: () => unknown,
  Type: typeof CellariumError,
  file: string,
  field: RegExp,
  message?: RegExp,
): void {
  assert.throws(run, (error: Error) => {
    assert.ok(error instanceof Type, `expected ${Type.name}, got ${error?.name}: ${error?.message}`);
    const e = error as CellariumError;
    assert.equal(e.file, file, e.message);
    assert.ok(e.message.startsWith(file), e.message);
    assert.ok(!e.message.includes("\n") && e.message.length < 400, e.message);
    assert.match(e.key ?? "", field, `key of: ${e.message}`);
    const named = e.key!.split(": ").at(-1)!;
    assert.ok(e.message.includes(named), `the message does not name ${named}: ${e.message}`);
    if (message) assert.match(e.message, message);
    return true;
  });
}

async function assertRejects(
  run: () => Promise<unknown>,
  Type: typeof CellariumError,
  file: string,
  field: RegExp,
  message?: RegExp,
): Promise<void> {
  let error: unknown;
  try {
    await run();
  } catch (e) {
    error = e;
  }
  assertFault(
    () => {
      if (error === undefined) throw new Error("did not reject");
      throw error;
    },
    Type,
    file,
    field,
    message,
  );
}

// ---------------------------------------------------------------------------------------------
// Pickles

/** Pickle bytes from opcodes and raw values (numbers are bytes, strings latin-1 text). */
function pickleBytes(...parts: Array<number | string | Uint8Array>): Uint8Array {
  const out: number[] = [];
  for (const part of parts) {
    if (typeof part === "number") out.push(part);
    else if (typeof part === "string") for (const c of part) out.push(c.charCodeAt(0));
    else out.push(...part);
  }
  return Uint8Array.from(out);
}
const u32le = (n: number) => Uint8Array.from([n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24]);

/** A protocol-2 pickle of one list: MARK, `items` (each as given), APPENDS, STOP. */
function repeatedAppends(count: number, item: number[]): Uint8Array {
  const out = new Uint8Array(4 + count * item.length + 2);
  out.set([0x80, 2, 0x5d, 0x28]);
  for (let i = 0; i < count; i++) out.set(item, 4 + i * item.length);
  out.set([0x65, 0x2e], 4 + count * item.length);
  return out;
}

const refuseAll = {
  global: () => undefined,
  call: (_c: PickleValue, _a: PickleValue[], fail: (m: string) => never) => fail("no calls"),
};

test("pickles: globals outside the allow-list are refused and nothing runs", () => {
  const dir = tempDir("untrusted-pickle-");
  const marker = join(dir, "ran");
  const pickles = runPython(
    `import base64, json, os, pickle, sys
marker = json.load(sys.stdin)["marker"]
class Run:
    def __init__(self, f, *args): self.f, self.args = f, args
    def __reduce__(self): return (self.f, self.args)
out = {
  "os.system": pickle.dumps({"a": Run(os.system, "touch " + marker)}, protocol=2),
  "builtins.eval": pickle.dumps({"a": Run(eval, "open(%r, 'w')" % marker)}, protocol=4),
  "builtins.getattr": pickle.dumps({"a": Run(getattr, 1, "real")}, protocol=3),
}
print(json.dumps({k: base64.b64encode(v).decode() for k, v in out.items()}))`,
    { marker },
  ) as Record<string, string>;
  for (const [name, b64] of Object.entries(pickles)) {
    assertFault(
      () => readPickledDict(Buffer.from(b64, "base64"), "evil.pkl"),
      FileFormatError,
      "evil.pkl",
      /GLOBAL|STACK_GLOBAL/,
      new RegExp(`refuses to load the global (${name}|posix.system)`),
    );
  }
  // Names an object literal would find on its prototype are not in any allow-list.
  for (const name of ["constructor", "__proto__", "toString", "hasOwnProperty"]) {
    assertFault(
      () => readPickledDict(pickleBytes(0x80, 2, 0x63, `numpy\n${name}\n`, 0x2e), "evil.pkl"),
      FileFormatError,
      "evil.pkl",
      /GLOBAL at byte 2/,
      new RegExp(`refuses to load the global numpy.${name}`),
    );
  }
  assert.ok(!existsSync(marker), "a pickle ran a command");
});

test("pickles: invalid UTF-8, truncations, bad opcodes and huge integers are FileFormatErrors", () => {
  const cases: Array<[Uint8Array, RegExp, RegExp]> = [
    [pickleBytes(0x80, 2, 0x8c, 2, 0xc3, 0x28, 0x2e), /SHORT_BINUNICODE at byte 2/, /not valid UTF-8/],
    [pickleBytes(0x80, 2, 0x58, u32le(2), 0xff, 0xfe, 0x2e), /BINUNICODE at byte 2/, /not valid UTF-8/],
    [pickleBytes(0x80, 2, 0x63, "mod\xff\nname\n", 0x2e), /GLOBAL at byte 2/, /not valid UTF-8/],
    [pickleBytes(0x80, 2, 0x58, u32le(0xffffffff), "ab"), /BINUNICODE at byte 2/, /truncated/],
    [
      pickleBytes(0x80, 4, 0x8d, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff),
      /BINUNICODE8 at byte 2/,
      /truncated/,
    ],
    [pickleBytes(0x80, 2, 0x42, u32le(0x7fffffff)), /BINBYTES at byte 2/, /truncated/],
    [pickleBytes(0x80, 2, 0x63, "os"), /GLOBAL at byte 2/, /unterminated line/],
    [pickleBytes(0x80, 2, 0x8a, 9, ...new Array(9).fill(0xff).fill(0x7f, 8), 0x2e), /LONG1/, /does not fit/],
    [pickleBytes(0x80, 2, 0x65), /APPENDS at byte 2/, /no MARK/],
    [pickleBytes(0x80, 2, 0x61), /APPEND at byte 2/, /stack underflow/],
    [pickleBytes(0x80, 2, 0x68, 7), /BINGET at byte 2/, /memo entry 7 is missing/],
    [pickleBytes(0x80, 2, 0x7d, 0x4b, 1, 0x4b, 2, 0x73, 0x2e), /SETITEM at byte 7/, /key is not a str/],
    [pickleBytes(0x80, 2, 0x7d, 0x28, 0x4e, 0x75, 0x2e), /SETITEMS at byte 5/, /not key-value pairs/],
    [pickleBytes(0x80, 2, 0x4e, 0x4e, 0x52), /REDUCE at byte 4/, /no argument tuple/],
    [pickleBytes(0x80, 2, 0x69), /opcode 0x69 at byte 2/, /not supported/],
  ];
  for (const [bytes, field, message] of cases) {
    assertFault(() => readPickledDict(bytes, "bad.pkl"), FileFormatError, "bad.pkl", field, message);
  }
});

test("pickles: a 300,000-item APPENDS loads; counts beyond MAX_PICKLE_VALUES are refused", () => {
  const long = repeatedAppends(300_000, [0x4b, 7]);
  const list = unpickle(long, "long.pkl", refuseAll) as number[];
  assert.equal(list.length, 300_000);
  assert.equal(list[299_999], 7);
  assertFault(
    () => readPickledDict(long, "long.pkl"),
    FileFormatError,
    "long.pkl",
    /pickled object/,
    /not a dict/,
  );
  // 300,000 SETITEMS pairs: a dictionary that large loads too.
  const pairs: number[] = [0x80, 2, 0x7d, 0x28];
  for (let i = 0; i < 300_000; i++) pairs.push(0x8c, 1, 0x41 + (i % 26), 0x4a, ...u32le(i));
  pairs.push(0x75, 0x2e);
  assert.equal(readPickledDict(Uint8Array.from(pairs), "big.pkl").get("Z"), 299_999 - ((299_999 - 25) % 26));
  // One NONE more than the limit, each a value on the stack.
  const many = repeatedAppends(MAX_PICKLE_VALUES + 1, [0x4e]);
  assertFault(
    () => unpickle(many, "many.pkl", refuseAll),
    FileFormatError,
    "many.pkl",
    /NONE at byte/,
    /more than 4194304 values/,
  );
});

test("pickles: deep and cyclic values are quoted on one bounded line", () => {
  // {"a": [[[...100,000 deep...]]]}: 100,000 EMPTY_LISTs, each APPENDed to the one below.
  const depth = 100_000;
  const deep = [
    0x80,
    2,
    0x7d,
    0x8c,
    1,
    0x61,
    ...new Array(depth).fill(0x5d),
    ...new Array(depth - 1).fill(0x61),
  ];
  assertFault(
    () => readPickledDict(Uint8Array.from([...deep, 0x73, 0x2e]), "deep.pkl"),
    FileFormatError,
    "deep.pkl",
    /^a$/,
    /is not a number: \[\[\[\[/,
  );
  // {"a": l} with l = [l]: EMPTY_LIST, BINPUT 0, BINGET 0, APPEND.
  const cyclic = pickleBytes(0x80, 2, 0x7d, 0x8c, 1, "a", 0x5d, 0x71, 0, 0x68, 0, 0x61, 0x73, 0x2e);
  assertFault(() => readPickledDict(cyclic, "cyclic.pkl"), FileFormatError, "cyclic.pkl", /^a$/, /<cycle>/);
});

// ---------------------------------------------------------------------------------------------
// torch .bin archives, written by Python: torch.save for what torch itself writes, a pickler
// with torch's persistent ids and zipfile for views and ids torch would not write.

const CRAFT_TORCH = `
import base64, collections, io, json, pickle, sys, zipfile
import torch

class Storage:
    def __init__(self, key, numel, kind=torch.FloatStorage, pid=None):
        self.key, self.numel, self.kind, self.pid = key, numel, kind, pid

class View:
    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, tuple(size), tuple(stride), False, collections.OrderedDict())
    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2, self.args)

class Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            return obj.pid if obj.pid is not None else ("storage", obj.kind, obj.key, "cpu", obj.numel)
        return None

def archive(state, storages, patch=None):
    buf = io.BytesIO()
    Pickler(buf, protocol=2).dump(collections.OrderedDict(state))
    data = buf.getvalue()
    if patch:
        data = data.replace(*patch)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", data)
        for key, raw in storages.items():
            z.writestr(f"archive/data/{key}", raw)
        z.writestr("archive/version", "3\\n")
    return out.getvalue()

four = {"0": torch.arange(4, dtype=torch.float32).numpy().tobytes()}
s = Storage("0", 4)
cycle = []
cycle.append(cycle)
cases = {
    "transposed": archive({"w": View(s, 0, (2, 2), (1, 2)), "tied": View(s, 0, (2, 2), (1, 2))}, four),
    "negative offset": archive({"w": View(s, -1, (2,), (1,))}, four),
    "negative stride": archive({"w": View(s, 3, (4,), (-1,))}, four),
    "past the end": archive({"w": View(s, 1, (4,), (1,))}, four),
    "stride past the end": archive({"w": View(s, 0, (2, 2), (3, 1))}, four),
    "stride rank": archive({"w": View(s, 0, (2, 2), (1,))}, four),
    "too many dims": archive({"w": View(s, 0, (1,) * 65, (1,) * 65)}, four),
    "2^31 elements": archive({"w": View(s, 0, (2**16, 2**15 + 1), (0, 0))}, four),
    "numel": archive({"w": View(Storage("0", 5), 0, (4,), (1,))}, four),
    "two types": archive({"w": View(s, 0, (4,), (1,)), "h": View(Storage("0", 8, torch.HalfStorage), 0, (2,), (1,))}, four),
    "missing storage": archive({"w": View(Storage("9", 4), 0, (4,), (1,))}, four),
    "cyclic id": archive({"w": View(Storage("0", 4, pid=cycle), 0, (1,), (1,))}, four),
    "storage type": archive({"w": View(s, 0, (4,), (1,))}, four, (b"torch\\nFloatStorage\\n", b"torch\\nconstructor\\n")),
    "expansion": archive({f"w{k}": View(s, 0, (k,), (1,)) for k in range(1, 5)}, four),
    "not a tensor": archive({"w": 3}, four),
}
path = json.load(sys.stdin)["path"]
base = torch.zeros(1)
torch.save({"w": base.as_strided((2_000_000_000,), (0,))}, path)
cases["stride 0"] = open(path, "rb").read()
print(json.dumps({k: base64.b64encode(v).decode() for k, v in cases.items()}))
`;

test("torch .bin: every view is checked against its storage and the limits before a copy", {
  skip: !hasTorch,
  timeout: 60_000,
}, () => {
  const path = join(tempDir("untrusted-torch-"), "stride0.bin");
  const cases = runPython(CRAFT_TORCH, { path }) as Record<string, string>;
  const bytes = (name: string) => new Uint8Array(Buffer.from(cases[name]!, "base64"));
  // A correct non-contiguous view, saved twice: copied as torch reads it, one tensor for both names.
  const ok = readTorchStateDict(bytes("transposed"), "ok.bin");
  assert.deepEqual(Array.from(ok.w!.data), [0, 2, 1, 3]);
  assert.equal(ok.tied, ok.w);
  assert.ok(bytes("stride 0").length < 1000);
  const faults: Array<[string, RegExp, RegExp]> = [
    ["stride 0", /w: size/, /holds 2000000000 elements, more than its FloatStorage of 1/],
    ["negative offset", /w: offset/, /offset -1 is outside its FloatStorage of 4 elements/],
    ["negative stride", /w: stride/, /is negative/],
    ["past the end", /w: stride/, /reaches element 4 of its FloatStorage of 4/],
    ["stride past the end", /w: stride/, /reaches element 4/],
    ["stride rank", /w: stride/, /does not have one entry per dimension/],
    ["too many dims", /w: size/, /more than 64 dimensions/],
    ["2^31 elements", /w: size/, /more than 2147483648 elements/],
    ["numel", /storage "0": numel/, /5 elements of 4 bytes do not match the entry's 16 bytes/],
    ["two types", /storage "0": type/, /is both FloatStorage and HalfStorage/],
    ["missing storage", /storage "9"/, /is missing from the archive/],
    ["cyclic id", /persistent id/, /<cycle>/],
    ["storage type", /GLOBAL/, /refuses to load the global torch.constructor/],
    ["expansion", /tensors/, /hold 10 elements, more than 2 times the 4/],
    ["not a tensor", /w/, /"w" is not a tensor but 3/],
  ];
  for (const [name, field, message] of faults) {
    const file = `${name}.bin`;
    const before = process.memoryUsage().arrayBuffers;
    assertFault(() => readTorchStateDict(bytes(name), file), FileFormatError, file, field, message);
    assert.ok(process.memoryUsage().arrayBuffers - before < 64 * 2 ** 20, `${name}: allocated too much`);
  }
});

// ---------------------------------------------------------------------------------------------
// Zip archives, built byte by byte.

/** Little-endian fields: [value, bytes] pairs. */
function fields(...pairs: Array<[number, 2 | 4 | 8]>): number[] {
  const out: number[] = [];
  for (const [value, width] of pairs) {
    let v = BigInt(value);
    for (let i = 0; i < width; i++, v >>= 8n) out.push(Number(v & 0xffn));
  }
  return out;
}
const text = (s: string) => [...new TextEncoder().encode(s)];

interface CentralSpec {
  name: number[];
  offset: number;
  size: number;
  compressedSize?: number;
  method?: number;
  flags?: number;
  nameLength?: number;
  extra?: number[];
}

const local = (name: number[], data: number[], method = 0) => [
  ...fields([0x04034b50, 4], [20, 2], [0, 2], [method, 2], [0, 4], [0, 4], [data.length, 4]),
  ...fields([data.length, 4], [name.length, 2], [0, 2]),
  ...name,
  ...data,
];
const central = (c: CentralSpec) => [
  ...fields([0x02014b50, 4], [20, 2], [20, 2], [c.flags ?? 0, 2], [c.method ?? 0, 2], [0, 4], [0, 4]),
  ...fields([c.compressedSize ?? c.size, 4], [c.size, 4], [c.nameLength ?? c.name.length, 2]),
  ...fields([c.extra?.length ?? 0, 2], [0, 2], [0, 2], [0, 2], [0, 4], [c.offset, 4]),
  ...c.name,
  ...(c.extra ?? []),
];
const endRecord = (count: number, size: number, offset: number) =>
  fields([0x06054b50, 4], [0, 2], [0, 2], [count, 2], [count, 2], [size, 4], [offset, 4], [0, 2]);

/** An archive of `locals` then `centrals` and the end record (count and offset overridable). */
function zipOf(
  locals: number[],
  centrals: CentralSpec[],
  end: { count?: number; offset?: number; before?: number[] } = {},
): Uint8Array {
  const directory = centrals.flatMap(central);
  const tail = endRecord(end.count ?? centrals.length, directory.length, end.offset ?? locals.length);
  return Uint8Array.from([...locals, ...directory, ...(end.before ?? []), ...tail]);
}

test("zips: every offset, size, name length and zip64 field is checked against the file", () => {
  const a = text("a");
  const data = [1, 2, 3, 4];
  const one = local(a, data);
  const ok = zipOf(one, [{ name: a, offset: 0, size: 4 }]);
  assert.deepEqual([...readZipEntries(ok, "ok.zip").get("a")!], data);
  const zip64 = (values: number[]) => [
    ...fields([1, 2], [values.length * 8, 2]),
    ...values.flatMap((v) => fields([v, 8])),
  ];
  const b = text("b");
  const two = local(a, local(b, data));
  const cases: Array<[string, Uint8Array, RegExp, RegExp]> = [
    ["empty", new Uint8Array(10), /end of central directory/, /not found/],
    [
      "offset",
      zipOf(one, [{ name: a, offset: 0x7fff_fff0, size: 4 }]),
      /entry "a": local header offset/,
      /2147483632/,
    ],
    ["size", zipOf(one, [{ name: a, offset: 0, size: 0x7fff_ffff }]), /entry "a": size/, /run past/],
    [
      "compressed size",
      zipOf(one, [{ name: a, offset: 0, size: 4, compressedSize: 3 }]),
      /entry "a": compressed size/,
      /differs from the size 4/,
    ],
    [
      "name length",
      zipOf(one, [{ name: a, offset: 0, size: 4, nameLength: 0xffff }]),
      /central directory header 0: name length/,
      /run past the central directory/,
    ],
    [
      "name",
      zipOf(local([0xff], data), [{ name: [0xff], offset: 0, size: 4 }]),
      /central directory header 0: name/,
      /not valid UTF-8/,
    ],
    [
      "zip64 missing",
      zipOf(one, [{ name: a, offset: 0, size: 0xffffffff, extra: [...fields([1, 2], [4, 2]), 0, 0, 0, 0] }]),
      /entry "a": zip64 size/,
      /is missing/,
    ],
    [
      "zip64 extra length",
      zipOf(one, [{ name: a, offset: 0, size: 4, extra: fields([1, 2], [0xfff0, 2]) }]),
      /entry "a": extra field/,
      /run past the extra field/,
    ],
    [
      "zip64 size",
      zipOf(one, [{ name: a, offset: 0, size: 0xffffffff, extra: zip64([2 ** 52, 2 ** 52]) }]),
      /entry "a": size/,
      /run past/,
    ],
    [
      "zip64 locator",
      zipOf(one, [{ name: a, offset: 0, size: 4 }], {
        before: fields([0x07064b50, 4], [0, 4], [0xffff_ffff_ff, 8], [1, 4]),
      }),
      /zip64 end of central directory offset/,
      /beyond the zip64 locator/,
    ],
    [
      "entry count",
      zipOf(one, [{ name: a, offset: 0, size: 4 }], { count: 0xffff }),
      /entry count/,
      /cannot fit/,
    ],
    [
      "directory offset",
      zipOf(one, [{ name: a, offset: 0, size: 4 }], { offset: 0xfffffff0 }),
      /central directory/,
      /reach beyond/,
    ],
    [
      "deflate bomb",
      zipOf(local(a, [0x4b, 0x04, 0], 8), [
        { name: a, offset: 0, size: 0xfffffffe, compressedSize: 3, method: 8 },
      ]),
      /entry "a": compression method/,
      /is 8, compressed/,
    ],
    ["encrypted", zipOf(one, [{ name: a, offset: 0, size: 4, flags: 1 }]), /entry "a": flags/, /encrypted/],
    [
      "twice",
      zipOf(
        [...one, ...one],
        [
          { name: a, offset: 0, size: 4 },
          { name: a, offset: one.length, size: 4 },
        ],
      ),
      /entry "a"/,
      /appears twice/,
    ],
    [
      "overlap",
      zipOf(two, [
        { name: a, offset: 0, size: local(b, data).length },
        { name: b, offset: 31, size: 4 },
      ]),
      /entry "b": local header offset/,
      /overlaps entry "a"/,
    ],
    [
      "local name",
      zipOf(local(b, data), [{ name: a, offset: 0, size: 4 }]),
      /entry "a": local header name/,
      /differs/,
    ],
  ];
  for (const [name, bytes, field, message] of cases) {
    const file = `${name}.zip`;
    assertFault(() => readZipEntries(bytes, file), FileFormatError, file, field, message);
  }
});

// ---------------------------------------------------------------------------------------------
// safetensors, built byte by byte.

/** An 8-byte length, the header JSON, then `data` bytes; `declared` overrides the length. */
function safetensorsOf(header: unknown, data: number, declared?: number | bigint): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data);
  new DataView(out.buffer).setBigUint64(0, BigInt(declared ?? json.length), true);
  out.set(json, 8);
  return out;
}

test("safetensors: lengths, offsets and byte counts checked; names quoted; fields filled", () => {
  const f32 = (begin: number, end: number, shape = [(end - begin) / 4]) => ({
    dtype: "F32",
    shape,
    data_offsets: [begin, end],
  });
  const cases: Array<[string, Uint8Array, RegExp, RegExp]> = [
    ["header length", safetensorsOf({}, 0, 2n ** 64n - 1n), /header length/, /goes beyond the end/],
    ["overlap", safetensorsOf({ a: f32(0, 8), b: f32(4, 12) }, 12), /b: data_offsets/, /overlap/],
    ["range", safetensorsOf({ a: f32(0, 2 ** 40) }, 4), /a: data_offsets/, /go beyond the 4 data bytes/],
    [
      "bytes",
      safetensorsOf({ a: f32(0, 8, [2 ** 31, 2 ** 31]) }, 8),
      /a: shape/,
      /needs 18446744073709552000 bytes/,
    ],
    ["line break", safetensorsOf({ "a\nb": f32(0, 4, [2]) }, 4), /a\nb: shape/, /tensor "a\\nb"/],
    [
      "dtype",
      safetensorsOf({ a: { dtype: "F32\n", shape: [], data_offsets: [0, 0] } }, 0),
      /a: dtype/,
      /"F32\\n"/,
    ],
  ];
  for (const [name, bytes, field, message] of cases) {
    const file = `${name}.safetensors`;
    assertFault(() => decodeSafetensors(bytes, { source: file }), FileFormatError, file, field, message);
  }
  // A header past the reference's 100 MB limit, in a file long enough to hold it.
  const huge = new Uint8Array(100_000_016);
  new DataView(huge.buffer).setBigUint64(0, 100_000_001n, true);
  assertFault(
    () => decodeSafetensors(huge, { source: "huge.safetensors" }),
    FileFormatError,
    "huge.safetensors",
    /header length/,
    /exceeds 100000000 bytes/,
  );
  // "__proto__" is a name like any other.
  const proto = JSON.parse('{"__proto__": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}}');
  const decoded = decodeSafetensors(safetensorsOf(proto, 1));
  assert.deepEqual(Object.keys(decoded.tensors), ["__proto__"]);
});

// ---------------------------------------------------------------------------------------------
// config.json

test("config.json: sizes, types and the parameter budget are checked before anything is read or built", {
  timeout: 60_000,
}, async () => {
  const dir = tempDir("untrusted-config-");
  for (const name of ["token_dictionary.pkl", "model.safetensors"])
    copyFileSync(join(FIXTURES, name), join(dir, name));
  const good = JSON.parse(readFileSync(join(FIXTURES, "config.json"), "utf8")) as Record<string, unknown>;
  const file = join(dir, "config.json");
  const load = () => loadPretrainedGeneformer(dir, { tokenDictionary: join(dir, "token_dictionary.pkl") });
  const cases: Array<[Record<string, unknown> | unknown, RegExp, RegExp]> = [
    [
      { ...good, num_hidden_layers: 100_000 },
      /num_hidden_layers/,
      /is 100000; must be an integer in \[1, 1024\]/,
    ],
    [{ ...good, hidden_size: 2e8 }, /hidden_size/, /is 200000000; must be an integer in \[1, 16384\]/],
    [{ ...good, hidden_size: 8.5 }, /hidden_size/, /8\.5/],
    [{ ...good, hidden_size: -8 }, /hidden_size/, /-8/],
    [{ ...good, intermediate_size: "16" }, /intermediate_size/, /"16"/],
    [{ ...good, vocab_size: undefined }, /vocab_size/, /undefined/],
    [{ ...good, num_attention_heads: 3 }, /hidden_size/, /multiple of num_attention_heads \(3\)/],
    [{ ...good, hidden_dropout_prob: 2 }, /hidden_dropout_prob/, /\[0, 1\]/],
    [{ ...good, layer_norm_eps: 0 }, /layer_norm_eps/, /\(0, 1\]/],
    [{ ...good, hidden_act: "eval" }, /hidden_act/, /one of gelu/],
    [{ ...good, position_embedding_type: "rotary" }, /position_embedding_type/, /one of absolute/],
    [
      {
        ...good,
        hidden_size: 16384,
        num_attention_heads: 16,
        num_hidden_layers: 8,
        intermediate_size: 65536,
      },
      /parameters/,
      new RegExp(`more than the limit of ${MAX_BERT_PARAMETERS}`),
    ],
    [[], /config/, /must hold a JSON object/],
    [null, /config/, /must hold a JSON object/],
  ];
  for (const [config, field, message] of cases) {
    writeFileSync(file, JSON.stringify(config));
    const started = performance.now();
    await assertRejects(load, ConfigError, file, field, message);
    assert.ok(performance.now() - started < 2000, `${JSON.stringify(config).slice(0, 80)}: too slow`);
  }
  // Checked before the weights: a broken weights file is not reached.
  writeFileSync(join(dir, "model.safetensors"), "not safetensors");
  writeFileSync(file, JSON.stringify({ ...good, num_hidden_layers: 0 }));
  await assertRejects(load, ConfigError, file, /num_hidden_layers/);
});

// ---------------------------------------------------------------------------------------------
// Fuzz: seeded mutations of valid files.

/** mulberry32: a small seeded generator of [0, 1). */
function generator(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** One mutation of `bytes`: flipped bytes, a truncation, a smashed 32-bit field, or a repeated slice. */
function mutate(bytes: Uint8Array, random: () => number): Uint8Array {
  const at = () => Math.floor(random() * bytes.length);
  const kind = Math.floor(random() * 4);
  if (kind === 1) return bytes.slice(0, at());
  if (kind === 3) {
    const start = at();
    const slice = bytes.slice(start, start + 1 + Math.floor(random() * 64));
    const where = at();
    return Uint8Array.from([...bytes.subarray(0, where), ...slice, ...bytes.subarray(where)]);
  }
  const out = bytes.slice();
  if (kind === 0) {
    for (let n = 1 + Math.floor(random() * 4); n > 0; n--) out[at()] = Math.floor(random() * 256);
  } else {
    const values = [0, 1, 0x7fffffff, 0xffffffff, 0x80000000, Math.floor(random() * 2 ** 32)];
    const position = Math.min(at(), out.length - 4);
    if (position >= 0)
      new DataView(out.buffer).setUint32(position, values[Math.floor(random() * values.length)]!, true);
  }
  return out;
}

function fuzz(
  name: string,
  valid: Uint8Array,
  read: (bytes: Uint8Array) => unknown,
  cases: number,
  seed: number,
): void {
  const random = generator(seed);
  read(valid);
  let loaded = 0;
  for (let i = 0; i < cases; i++) {
    const bytes = mutate(valid, random);
    const started = performance.now();
    try {
      read(bytes);
      loaded++;
    } catch (error) {
      assert.ok(error instanceof CellariumError, `${name} case ${i}: ${(error as Error)?.stack}`);
      assert.ok(!error.message.includes("\n"), `${name} case ${i}: ${error.message}`);
    }
    assert.ok(performance.now() - started < 2000, `${name} case ${i}: too slow`);
    assert.ok(process.memoryUsage().arrayBuffers < 512 * 2 ** 20, `${name} case ${i}: allocated too much`);
  }
  assert.ok(loaded < cases, `${name}: no mutation was refused`);
}

test("fuzz: mutated pickles, safetensors and config values load or throw a CellariumError", {
  timeout: 120_000,
}, () => {
  fuzz("token_dictionary.pkl", fixture("token_dictionary.pkl"), (b) => readPickledDict(b, "t.pkl"), 150, 1);
  fuzz(
    "gene_median_dictionary.pkl",
    fixture("gene_median_dictionary.pkl"),
    (b) => readPickledDict(b, "m.pkl"),
    150,
    2,
  );
  fuzz(
    "model.safetensors",
    fixture("model.safetensors"),
    (b) => decodeSafetensors(b, { source: "m" }),
    150,
    3,
  );
  // config.json: one to three keys set to values from a pool of wrong and extreme ones.
  const good = JSON.parse(readFileSync(join(FIXTURES, "config.json"), "utf8")) as Record<string, unknown>;
  const keys = Object.keys(good);
  const pool = [-1, 0, 1, 0.5, 7, 1e300, -1e300, 2 ** 31, 2 ** 53, "8", "gelu", null, [], {}, true];
  const random = generator(4);
  const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)]!;
  let refused = 0;
  for (let i = 0; i < 100; i++) {
    const config = { ...good };
    for (let n = 1 + Math.floor(random() * 3); n > 0; n--) config[pick(keys)] = pick(pool);
    try {
      checkBertConfig(config, "config.json");
    } catch (error) {
      assert.ok(error instanceof ConfigError, `config case ${i}: ${(error as Error)?.stack}`);
      refused++;
    }
  }
  assert.ok(refused > 0 && refused < 100, `config: ${refused} of 100 refused`);
});

test("fuzz: mutated torch .bin archives load or throw a CellariumError", {
  skip: !hasTorch,
  timeout: 120_000,
}, () => {
  const path = join(tempDir("untrusted-fuzz-"), "pytorch_model.bin");
  runPython(
    `import collections, json, sys, torch
torch.manual_seed(0)
sd = collections.OrderedDict()
sd["w"] = torch.randn(6, 5)
sd["tied"] = sd["w"]
sd["view"] = torch.randn(5, 6)[1:4, ::2]
sd["h"] = torch.randn(7).half()
sd["i"] = torch.arange(8)
torch.save(sd, json.load(sys.stdin)["path"])
print("null")`,
    { path },
  );
  const valid = new Uint8Array(readFileSync(path));
  fuzz("pytorch_model.bin", valid, (b) => readTorchStateDict(b, "p.bin"), 200, 5);
  fuzz("pytorch_model.bin as a zip", valid, (b) => readZipEntries(b, "p.bin"), 100, 6);
});
