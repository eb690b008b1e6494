import assert from "node:assert/strict";
import { test } from "node:test";
import { radixScratch, sortFloat32Bits } from "../../../src/models/streaming/radix-sort.js";
import { Generator } from "../../../src/tensor/random.js";

test("sortFloat32Bits orders float32 runs like a numeric sort: signs, magnitudes, ties, subnormals", () => {
  const rng = new Generator(31);
  const values = new Float32Array(1000);
  const bits = new Uint32Array(values.buffer);
  const scratch = radixScratch(300);
  for (let trial = 0; trial < 50; trial++) {
    for (let i = 0; i < values.length; i++) {
      const kind = rng.randint(0, 4);
      values[i] =
        kind === 0
          ? rng.randint(1, 6) // ties
          : kind === 1
            ? (rng.nextDouble() - 0.5) * 10 ** rng.randint(-40, 39) // wide magnitudes, subnormals
            : kind === 2
              ? -rng.randint(1, 4)
              : rng.nextDouble();
    }
    const start = rng.randint(0, 500);
    const n = rng.randint(1, 301);
    const expected = values.slice();
    expected.subarray(start, start + n).sort();
    sortFloat32Bits(bits, start, n, scratch);
    assert.deepEqual(values, expected);
  }
});

test("sortFloat32Bits keeps a run whose keys share every digit", () => {
  const values = Float32Array.from([7, 7, 7]);
  sortFloat32Bits(new Uint32Array(values.buffer), 0, 3, radixScratch(3));
  assert.deepEqual(Array.from(values), [7, 7, 7]);
});
