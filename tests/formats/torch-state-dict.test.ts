import assert from "node:assert/strict";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { FileFormatError } from "../../src/errors.js";
import { readTorchStateDict } from "../../src/formats/torch-state-dict.js";
import { runPython } from "../helpers/python.js";
import { tempDir } from "../helpers/temp.js";
import { hasTorch } from "../tensor/helpers.js";

// torch.save of a state dict with every storage type a checkpoint may hold, a tied pair sharing
// one storage, a non-contiguous view, a Parameter, a scalar, and the _metadata attribute that
// module.state_dict() sets; the values come back as JSON for comparison.
const SAVE = `
import collections, json, sys, torch
torch.manual_seed(0)
sd = collections.OrderedDict()
sd["f32"] = torch.randn(3, 4)
sd["tied"] = sd["f32"]
sd["view"] = torch.randn(5, 6)[1:4, ::2]
sd["f16"] = torch.randn(7).half()
sd["bf16"] = torch.randn(2, 3).bfloat16()
sd["f64"] = torch.randn(4).double()
sd["i64"] = torch.arange(-3, 5).reshape(1, 8)
sd["i32"] = torch.arange(4, dtype=torch.int32)
sd["param"] = torch.nn.Parameter(torch.randn(2))
sd["scalar"] = torch.tensor(2.5)
sd._metadata = collections.OrderedDict([("", {"version": 1})])
path = json.load(sys.stdin)["path"]
torch.save(sd, path)
print(json.dumps({k: {"shape": list(v.shape), "values": v.detach().float().flatten().tolist()} for k, v in sd.items()}))
`;

test("readTorchStateDict reads torch.save archives without running their pickle", { skip: !hasTorch }, () => {
  const dir = tempDir("torch-state-");
  try {
    const path = join(dir, "pytorch_model.bin");
    const expected = runPython(SAVE, { path }) as Record<string, { shape: number[]; values: number[] }>;
    const ours = readTorchStateDict(readFileSync(path), path);
    assert.deepEqual(Object.keys(ours), Object.keys(expected));
    for (const [name, { shape, values }] of Object.entries(expected)) {
      assert.deepEqual(ours[name]!.shape, shape, name);
      // torch's .float() of the stored values: exact for every type here
      assert.deepEqual(Array.from(ours[name]!.data, Math.fround), values.map(Math.fround), name);
    }
    assert.throws(() => readTorchStateDict(new Uint8Array(100), "empty.bin"), FileFormatError);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("readTorchStateDict refuses pickles that call anything else", { skip: !hasTorch }, () => {
  const dir = tempDir("torch-state-");
  try {
    const path = join(dir, "evil.bin");
    runPython(
      `import json, os, sys, torch
class Evil:
    def __reduce__(self):
        return (os.system, ("echo hi",))
torch.save({"x": Evil()}, json.load(sys.stdin)["path"])
print("null")`,
      { path },
    );
    assert.throws(
      () => readTorchStateDict(readFileSync(path), path),
      /refuses to load the global (posix|os)\.system/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
