import assert from "node:assert/strict";
import { test } from "node:test";
import type { BatchPosition } from "../../src/data/batch.js";
import { Generator } from "../../src/tensor/random.js";
import { batchGenerator } from "../../src/transforms/batch-random.js";

const words = (g: Generator) => Array.from({ length: 8 }, () => g.nextUint32());

test("batchGenerator: one stream per (seed, stage, epoch, batch, replica, step), none shared with a model's Generator(seed)", () => {
  const at: BatchPosition = { seed: 5, stage: "fit", epoch: 2, batch: 7, replica: 1 };
  const base = words(batchGenerator(at, 3));
  assert.deepEqual(words(batchGenerator({ ...at }, 3)), base);
  const others = [
    words(batchGenerator({ ...at, seed: 6 }, 3)),
    words(batchGenerator({ ...at, stage: "validate" }, 3)),
    words(batchGenerator({ ...at, stage: "predict" }, 3)),
    words(batchGenerator({ ...at, epoch: 3 }, 3)),
    words(batchGenerator({ ...at, batch: 8 }, 3)),
    words(batchGenerator({ ...at, replica: 0 }, 3)),
    words(batchGenerator(at, 4)),
    words(new Generator(5)),
  ];
  const firsts = new Set([base[0], ...others.map((w) => w[0])]);
  assert.equal(firsts.size, others.length + 1);
  assert.throws(() => batchGenerator({ ...at, replica: 2 ** 18 }, 0), /out of range/);
  assert.throws(() => batchGenerator(at, 4096), /out of range/);
});
