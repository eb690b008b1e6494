import assert from "node:assert/strict";
import { test } from "node:test";
import { FileFormatError } from "../../src/errors.js";
import { parseGeneDictionary } from "../../src/formats/gene-dictionary.js";
import { readPickledDict } from "../../src/formats/pickle-dict.js";
import { runPython } from "../helpers/python.js";

// Python pickles (base64) of dicts as Geneformer publishes them, for every protocol from 2 on:
// ints (small, large, negative), floats, numpy scalars, repeated values (memo references), and a
// dict long enough for several SETITEMS batches.
const MAKE_PICKLES = `
import base64, json, pickle, sys
import numpy as np
d = {"<pad>": 0, "<mask>": 1, "ENSG00000000003": 2, "big": 70000, "huge": 2**40, "neg": -5, "neg_big": -(2**40)}
d.update({f"g{i}": i for i in range(2500)})
floats = {"a": 0.5, "b": 1e-300, "c": -2.25, "nan": float("nan")}
numpy_scalars = {"f8": np.float64(1.5), "f4": np.float32(0.1), "i8": np.int64(-3), "again": np.float64(1.5)}
out = {}
for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
    for name, value in (("ints", d), ("floats", floats), ("numpy", numpy_scalars)):
        out[f"{name}-{protocol}"] = base64.b64encode(pickle.dumps(value, protocol=protocol)).decode()
out["evil"] = base64.b64encode(b"cos\\nsystem\\n(S'echo hi'\\ntR.").decode()
out["list"] = base64.b64encode(pickle.dumps([1, 2], protocol=4)).decode()
print(json.dumps(out))
`;

test("readPickledDict reads Python's pickles of str -> number for protocols 2..5, numpy scalars included", () => {
  const pickles = runPython(MAKE_PICKLES) as Record<string, string>;
  const bytes = (key: string) => new Uint8Array(Buffer.from(pickles[key]!, "base64"));
  const protocols = Object.keys(pickles)
    .filter((k) => k.startsWith("ints-"))
    .map((k) => k.slice(5));
  assert.ok(protocols.length >= 3);
  for (const p of protocols) {
    const ints = readPickledDict(bytes(`ints-${p}`), `ints-${p}`);
    assert.equal(ints.size, 2507);
    assert.equal(ints.get("<mask>"), 1);
    assert.equal(ints.get("big"), 70000);
    assert.equal(ints.get("huge"), 2 ** 40);
    assert.equal(ints.get("neg"), -5);
    assert.equal(ints.get("neg_big"), -(2 ** 40));
    assert.equal(ints.get("g2499"), 2499);
    const floats = readPickledDict(bytes(`floats-${p}`), "floats");
    assert.deepEqual([...floats.entries()].slice(0, 3), [
      ["a", 0.5],
      ["b", 1e-300],
      ["c", -2.25],
    ]);
    assert.ok(Number.isNaN(floats.get("nan")));
    const numpy = readPickledDict(bytes(`numpy-${p}`), "numpy");
    assert.deepEqual(Object.fromEntries(numpy), { f8: 1.5, f4: Math.fround(0.1), i8: -3, again: 1.5 });
  }
  assert.throws(
    () => readPickledDict(bytes("evil"), "evil.pkl"),
    /evil.pkl .*: refuses to load the global os.system/,
  );
  assert.throws(() => readPickledDict(bytes("list"), "list.pkl"), FileFormatError);
  assert.throws(() => readPickledDict(bytes("ints-4").subarray(0, 40), "cut.pkl"), /cut.pkl .*: truncated/);
});

test("gene dictionaries also come as JSON and TSV (with or without a header)", () => {
  const encode = (text: string) => new TextEncoder().encode(text);
  assert.deepEqual(Object.fromEntries(parseGeneDictionary(encode('{"A": 2, "B": 3.5}'), "d.json")), {
    A: 2,
    B: 3.5,
  });
  assert.deepEqual(
    Object.fromEntries(parseGeneDictionary(encode("gene\tmedian\nA\t2\nB\t0.25\n"), "d.tsv")),
    { A: 2, B: 0.25 },
  );
  assert.deepEqual(Object.fromEntries(parseGeneDictionary(encode("A\t2\r\nB\t3\r\n"), "d.txt")), {
    A: 2,
    B: 3,
  });
  assert.throws(() => parseGeneDictionary(encode("A\t2\nB\tx\n"), "bad.tsv"), /bad.tsv: line 2/);
  assert.throws(() => parseGeneDictionary(encode('{"A": "2"}'), "bad.json"), /"A" is not a number/);
  assert.throws(() => parseGeneDictionary(encode(""), "d.csv"), /unknown dictionary format/);
});
