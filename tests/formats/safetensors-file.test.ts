import assert from "node:assert/strict";
import { readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { FileFormatError } from "../../src/errors.js";
import { readSafetensorsFile, writeSafetensorsFile } from "../../src/formats/safetensors-file.js";
import { runPython } from "../helpers/python.js";
import { tempDir } from "../helpers/temp.js";

test("a written file reads back, is readable by numpy, and leaves no temporary file", async () => {
  const dir = tempDir("safetensors-");
  const path = join(dir, "model.safetensors");
  const mean_g = Float64Array.from([0.5, -1, 2]);
  const step = BigInt64Array.from([12n]);
  await writeSafetensorsFile(
    path,
    { mean_g: { dtype: "F64", shape: [3], data: mean_g }, step: { dtype: "I64", shape: [], data: step } },
    { model: "OnePassMeanVarStd" },
  );
  assert.deepEqual(await readdir(dir), ["model.safetensors"]);
  const { tensors, metadata } = await readSafetensorsFile(path, { int64AsNumber: true });
  assert.deepEqual(metadata, { model: "OnePassMeanVarStd" });
  assert.deepEqual(tensors["mean_g"], { dtype: "F64", shape: [3], data: mean_g });
  assert.deepEqual(tensors["step"], { dtype: "I64", shape: [], data: Float64Array.from([12]) });
  const fromNumpy = runPython(
    `
import json, struct, sys
import numpy as np
blob = open(sys.argv[1], "rb").read()
(n,) = struct.unpack("<Q", blob[:8])
h = json.loads(blob[8:8 + n])
b, e = h["mean_g"]["data_offsets"]
print(json.dumps(np.frombuffer(blob[8 + n + b:8 + n + e], "<f8").tolist()))
`,
    null,
    [path],
  );
  assert.deepEqual(fromNumpy, [0.5, -1, 2]);
});

test("missing and malformed files give FileFormatError naming the path", async () => {
  const dir = tempDir("safetensors-");
  const missing = join(dir, "missing.safetensors");
  await assert.rejects(readSafetensorsFile(missing), (error: Error) => {
    assert.ok(error instanceof FileFormatError);
    assert.match(
      error.message,
      new RegExp(`^${missing}: cannot read safetensors file \\(no such file or directory \\(ENOENT\\)\\)$`),
    );
    return true;
  });
  const truncated = join(dir, "truncated.safetensors");
  await writeFile(truncated, new Uint8Array([200, 0, 0, 0, 0, 0, 0, 0, 0x7b]));
  await assert.rejects(readSafetensorsFile(truncated), (error: Error) => {
    assert.ok(error instanceof FileFormatError);
    assert.equal(error.message, `${truncated}: header length 200 goes beyond the end of the 9-byte file`);
    return true;
  });
});
