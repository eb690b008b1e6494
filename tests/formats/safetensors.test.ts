import assert from "node:assert/strict";
import { test } from "node:test";
import { ArgumentError, FileFormatError } from "../../src/errors.js";
import {
  decodeSafetensors,
  encodeSafetensors,
  type SafetensorsTensor,
} from "../../src/formats/safetensors.js";
import { runPython } from "../helpers/python.js";

// A writer that follows the safetensors specification with struct + json + numpy only (the
// safetensors package is not installed): tensors by decreasing element size then name, header
// padded with spaces to a multiple of 8. With "misalign", a 3-byte U8 tensor goes first so that
// the others start at odd offsets (valid, but not zero-copy). Prints the file in base64 and the
// expected values (float16/bfloat16 widened to float32; int64 as strings).
const PY_WRITER = `
import base64, json, struct, sys
import numpy as np
misalign = json.load(sys.stdin)["misalign"]
arrays = {
    "weight_gc": np.arange(12, dtype=np.float32).reshape(3, 4) / 7 - 0.5,
    "mean_g": np.array([1e-300, -2.5, np.pi], dtype=np.float64),
    "codes_n": np.array([-7, 0, 2**31 - 1], dtype=np.int32),
    "counts": np.array([[2**60 + 1, -3]], dtype=np.int64),
    "small": np.array([-2**53 + 1, 2**53 - 1], dtype=np.int64),
    "bytes": np.array([0, 255, 7], dtype=np.uint8),
    "mask": np.array([True, False, True, True]),
    "half": np.array([1.5, -0.0, 65504, 6e-8, np.inf], dtype=np.float16),
    "scalar": np.array(4.25, dtype=np.float32),
    "empty": np.zeros((0, 3), dtype=np.float32),
}
bf16_values = np.array([1.5, -2.25, 3.0, 1e30], dtype=np.float32)
bf16_words = (bf16_values.view(np.uint32) >> 16).astype("<u2")
dtype_names = {"float32": "F32", "float64": "F64", "int32": "I32", "int64": "I64", "uint8": "U8", "bool": "BOOL", "float16": "F16"}
items = [(k, dtype_names[str(a.dtype)], list(a.shape), a.astype(a.dtype.newbyteorder("<")).tobytes()) for k, a in arrays.items()]
items.append(("brain", "BF16", [2, 2], bf16_words.tobytes()))
size = {"F64": 8, "I64": 8, "F32": 4, "I32": 4, "F16": 2, "BF16": 2, "U8": 1, "BOOL": 1}
items.sort(key=lambda it: (-size[it[1]], it[0]))
if misalign:
    items = [i for i in items if i[0] == "bytes"] + [i for i in items if i[0] != "bytes"]
header = {"__metadata__": {"format": "pt", "note": "µ-ok"}}
offset = 0
for name, dtype, shape, raw in items:
    header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
    offset += len(raw)
text = json.dumps(header).encode("utf-8")
text += b" " * (-len(text) % 8)
blob = struct.pack("<Q", len(text)) + text + b"".join(raw for _, _, _, raw in items)
def expect(a):
    if a.dtype == np.int64: return [str(v) for v in a.ravel().tolist()]
    values = a.astype(np.float32).ravel().tolist() if a.dtype == np.float16 else a.ravel().tolist()
    return [v if not isinstance(v, float) or np.isfinite(v) else str(v) for v in values]
expected = {k: expect(a) for k, a in arrays.items()}
# bfloat16 keeps the upper 16 bits of a float32 (1e30 loses precision, the others are exact).
expected["brain"] = (bf16_words.astype(np.uint32) << 16).view(np.float32).tolist()
print(json.dumps({"file": base64.b64encode(blob).decode(), "expected": expected}))
`;

function fromPython(misalign: boolean) {
  const { file, expected } = runPython(PY_WRITER, { misalign }) as {
    file: string;
    expected: Record<string, (number | boolean | string)[]>;
  };
  return { bytes: new Uint8Array(Buffer.from(file, "base64")), expected };
}

/** `nodeBuffer`: decode the bytes as a Node Buffer, as readFileSync gives them (its slice is a view). */
function checkPythonFile(misalign: boolean, nodeBuffer = false): void {
  const fromFile = fromPython(misalign);
  const expected = fromFile.expected;
  const bytes = nodeBuffer ? Buffer.from(fromFile.bytes) : fromFile.bytes;
  const { tensors, metadata } = decodeSafetensors(bytes);
  assert.deepEqual(metadata, { format: "pt", note: "µ-ok" });
  assert.deepEqual(Object.keys(tensors).sort(), Object.keys(expected).sort());
  const shapes: Record<string, number[]> = {
    weight_gc: [3, 4],
    counts: [1, 2],
    scalar: [],
    empty: [0, 3],
    brain: [2, 2],
  };
  for (const [name, values] of Object.entries(expected)) {
    const tensor = tensors[name]!;
    if (shapes[name]) assert.deepEqual(tensor.shape, shapes[name], name);
    const actual = Array.from(tensor.data as ArrayLike<number | bigint>, (v) =>
      typeof v === "bigint"
        ? String(v)
        : tensor.dtype === "BOOL"
          ? v === 1
          : Number.isFinite(v)
            ? v
            : String(v),
    );
    // JSON has no infinity: Python sends it as the string "inf".
    assert.deepEqual(
      actual,
      values.map((v) => (v === "inf" ? "Infinity" : v)),
      name,
    );
  }
  assert.equal(tensors["counts"]!.dtype, "I64");
  assert.ok(tensors["counts"]!.data instanceof BigInt64Array);
  assert.ok(tensors["half"]!.data instanceof Float32Array);
  assert.ok(tensors["weight_gc"]!.data instanceof Float32Array);
  // Aligned tensors are views of the input, misaligned ones copies.
  assert.equal(tensors["weight_gc"]!.data.buffer === bytes.buffer, !misalign);
  assert.equal(tensors["bytes"]!.data.buffer, bytes.buffer);
}

test("decodes a file written by a spec-following Python writer (numpy bytes), zero-copy", () => {
  checkPythonFile(false);
});

test("decodes tensors at unaligned offsets by copying them", () => {
  checkPythonFile(true);
});

test("decodes unaligned tensors from a Node Buffer (whose own slice would be a view of its pool)", () => {
  checkPythonFile(true, true);
});

const ours: Record<string, SafetensorsTensor> = {
  b_mask: { dtype: "BOOL", shape: [3], data: Uint8Array.from([1, 0, 1]) },
  a_f32: { dtype: "F32", shape: [2, 3], data: Float32Array.from([0.1, -2, 3.5, 1e-30, -0, 7]) },
  z_f64: { dtype: "F64", shape: [2], data: Float64Array.from([Math.E, -1e300]) },
  i64: { dtype: "I64", shape: [3], data: BigInt64Array.from([-(2n ** 62n), 0n, 5n]) },
  i32: { dtype: "I32", shape: [1, 1, 2], data: Int32Array.from([-1, 2 ** 31 - 1]) },
  u8: { dtype: "U8", shape: [1], data: Uint8Array.from([200]) },
  i16: { dtype: "I16", shape: [2], data: Int16Array.from([-300, 300]) },
  u32: { dtype: "U32", shape: [1], data: Uint32Array.from([4e9]) },
  none: { dtype: "F32", shape: [0], data: new Float32Array(0) },
};

// Reads our bytes following the specification with numpy.frombuffer and checks the layout rules.
const PY_READER = `
import base64, json, struct, sys
import numpy as np
blob = base64.b64decode(json.load(sys.stdin)["file"])
(n,) = struct.unpack("<Q", blob[:8])
assert n % 8 == 0 and blob[8:9] == b"{", "header length or start"
header = json.loads(blob[8:8 + n].decode("utf-8"))
data = blob[8 + n:]
np_dtype = {"F32": "<f4", "F64": "<f8", "I64": "<i8", "I32": "<i4", "U8": "u1", "BOOL": "?", "I16": "<i2", "U32": "<u4"}
meta = header.pop("__metadata__", None)
spans = sorted(tuple(v["data_offsets"]) for v in header.values())
pos = 0
for b, e in spans:
    assert b == pos, "hole or overlap"
    pos = e
assert pos == len(data), "data not covered"
out = {}
for name, v in header.items():
    b, e = v["data_offsets"]
    a = np.frombuffer(data[b:e], dtype=np_dtype[v["dtype"]]).reshape(v["shape"])
    assert b % a.dtype.itemsize == 0, "unaligned " + name
    out[name] = {"dtype": v["dtype"], "shape": list(a.shape), "values": [str(x) if v["dtype"] == "I64" else x for x in a.ravel().tolist()]}
print(json.dumps({"metadata": meta, "tensors": out}))
`;

test("our file reads back in Python with numpy.frombuffer, aligned, contiguous, with metadata", () => {
  const bytes = encodeSafetensors(ours, { model: "IncrementalPCA", "trainer.step": "12" });
  const read = runPython(PY_READER, { file: Buffer.from(bytes).toString("base64") }) as {
    metadata: Record<string, string>;
    tensors: Record<string, { dtype: string; shape: number[]; values: unknown[] }>;
  };
  assert.deepEqual(read.metadata, { model: "IncrementalPCA", "trainer.step": "12" });
  assert.deepEqual(Object.keys(read.tensors).sort(), Object.keys(ours).sort());
  for (const [name, tensor] of Object.entries(ours)) {
    const values = Array.from(tensor.data as ArrayLike<number | bigint>, (v) =>
      typeof v === "bigint" ? String(v) : tensor.dtype === "BOOL" ? v === 1 : v,
    );
    assert.deepEqual(read.tensors[name], { dtype: tensor.dtype, shape: tensor.shape, values }, name);
  }
});

test("encode then decode round-trips every tensor exactly, as views of the bytes", () => {
  const bytes = encodeSafetensors(ours);
  const { tensors, metadata } = decodeSafetensors(bytes);
  assert.deepEqual(metadata, {});
  for (const [name, tensor] of Object.entries(ours)) {
    assert.deepEqual(tensors[name], { dtype: tensor.dtype, shape: tensor.shape, data: tensor.data }, name);
    assert.equal(tensors[name]!.data.buffer, bytes.buffer);
  }
  // Input arrays that are themselves views (non-zero byteOffset) are written from their own bytes.
  const backing = Float64Array.from([9, 1, 2, 9]);
  const view = { dtype: "F64", shape: [2], data: backing.subarray(1, 3) } as const;
  assert.deepEqual(
    Array.from(decodeSafetensors(encodeSafetensors({ view })).tensors["view"]!.data as Float64Array),
    [1, 2],
  );
});

test("int64AsNumber converts I64 to Float64Array and refuses values beyond 2^53 - 1", () => {
  const safe = encodeSafetensors({
    n: { dtype: "I64", shape: [2], data: BigInt64Array.from([-(2n ** 53n) + 1n, 42n]) },
  });
  const decoded = decodeSafetensors(safe, { int64AsNumber: true }).tensors["n"]!;
  assert.deepEqual(decoded.data, Float64Array.from([-(2 ** 53) + 1, 42]));
  const big = encodeSafetensors({
    n: { dtype: "I64", shape: [2], data: BigInt64Array.from([1n, 2n ** 53n]) },
  });
  assert.throws(
    () => decodeSafetensors(big, { int64AsNumber: true, source: "ckpt.safetensors" }),
    /^FileFormatError: ckpt.safetensors: tensor "n": element 1 = 9007199254740992 is beyond 2\^53 - 1/,
  );
});

/** Bytes with the given header text (unpadded) followed by `dataLength` zero bytes. */
function craft(
  header: string | Uint8Array | object,
  dataLength: number,
  declaredLength?: number,
): Uint8Array {
  const json =
    header instanceof Uint8Array
      ? header
      : new TextEncoder().encode(typeof header === "string" ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + dataLength);
  new DataView(out.buffer).setBigUint64(0, BigInt(declaredLength ?? json.length), true);
  out.set(json, 8);
  return out;
}

test("malformed inputs give one-line FileFormatErrors naming the source and the problem", () => {
  const f32 = (begin: number, end: number, shape = [(end - begin) / 4]) => ({
    dtype: "F32",
    shape,
    data_offsets: [begin, end],
  });
  const cases: [Uint8Array, RegExp][] = [
    [new Uint8Array(5), /5 bytes is too short for the 8-byte header length/],
    [craft({}, 0, 1000), /header length 1000 goes beyond the end of the 10-byte file/],
    [craft({}, 0, 2 ** 53), /header length 9007199254740992 goes beyond the end/],
    [craft('{"a": ', 0), /header is not valid UTF-8 JSON/],
    [craft(' {"a": 1}', 0), /header is not valid UTF-8 JSON \(the header does not start with \{\)/],
    [
      craft(new Uint8Array([0x7b, 0xff, 0x7d]), 0),
      /header is not valid UTF-8 JSON \(.*not valid for encoding utf-8/,
    ],
    [craft({ a: { dtype: "F8", shape: [1], data_offsets: [0, 1] } }, 1), /tensor "a": unknown dtype "F8"/],
    [
      craft({ a: { dtype: "F32", shape: [-1], data_offsets: [0, 4] } }, 4),
      /tensor "a": shape \[-1\] is not a list/,
    ],
    [
      craft({ a: { dtype: "F32", shape: [1], data_offsets: [4, 0] } }, 4),
      /tensor "a": data_offsets \[4, 0\] is not \[begin, end\]/,
    ],
    [craft({ a: { dtype: "F32", shape: [1] } }, 4), /tensor "a": data_offsets undefined/],
    [craft({ a: f32(0, 8) }, 4), /tensor "a": data_offsets \[0, 8\] go beyond the 4 data bytes/],
    [craft({ a: f32(0, 8, [3]) }, 8), /tensor "a": shape \[3\] of F32 needs 12 bytes, data_offsets give 8/],
    [
      craft({ a: f32(0, 8), b: f32(4, 12) }, 12),
      /tensor "b": data_offsets \[4, 12\] overlap the previous tensor/,
    ],
    [
      craft({ a: f32(0, 4), b: f32(8, 12) }, 12),
      /tensor "b": data_offsets \[8, 12\] leave bytes 4..8 unused/,
    ],
    [craft({ a: f32(0, 4) }, 8), /tensors cover 4 of the 8 data bytes/],
    [craft({ __metadata__: { step: 3 } }, 0), /__metadata__ "step" is not a string/],
    [craft({ __metadata__: [] }, 0), /__metadata__ is not an object/],
  ];
  for (const [bytes, message] of cases) {
    assert.throws(
      () => decodeSafetensors(bytes, { source: "model.safetensors" }),
      (error: Error) => {
        assert.ok(error instanceof FileFormatError, String(error));
        assert.match(error.message, /^model\.safetensors: /);
        assert.match(error.message, message);
        assert.ok(!error.message.includes("\n"), error.message);
        return true;
      },
    );
  }
});

test("encoding rejects inconsistent tensors with ArgumentError", () => {
  const cases: [Record<string, SafetensorsTensor>, RegExp][] = [
    [
      { a: { dtype: "F32", shape: [2], data: new Float64Array(2) } },
      /tensor "a": dtype F32 needs a Float32Array, got Float64Array/,
    ],
    [
      { a: { dtype: "F32", shape: [3], data: new Float32Array(2) } },
      /tensor "a": shape \[3\] does not hold 2 elements/,
    ],
    [
      { a: { dtype: "F16", shape: [1], data: new Uint16Array(1) } },
      /dtype F16 can be decoded but not encoded/,
    ],
    [{ a: { dtype: "BOOL", shape: [1], data: Uint8Array.from([2]) } }, /BOOL data must be 0 or 1/],
    [{ __metadata__: { dtype: "U8", shape: [0], data: new Uint8Array(0) } }, /the name is reserved/],
    [{ a: { dtype: "X" as "U8", shape: [0], data: new Uint8Array(0) } }, /unknown dtype "X"/],
  ];
  for (const [tensors, message] of cases)
    assert.throws(() => encodeSafetensors(tensors), ArgumentError, String(message));
  for (const [tensors, message] of cases) assert.throws(() => encodeSafetensors(tensors), message);
  assert.throws(
    () => encodeSafetensors({}, { step: 3 as unknown as string }),
    /metadata "step" must be a string, got number/,
  );
});
