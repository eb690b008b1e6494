import assert from "node:assert/strict";
import { test } from "node:test";
import { braceExpand } from "../../src/data/brace-expand.js";

test("numeric ranges, ascending, descending and stepped", () => {
  assert.deepEqual(braceExpand("shard_{0..3}.h5ad"), [
    "shard_0.h5ad",
    "shard_1.h5ad",
    "shard_2.h5ad",
    "shard_3.h5ad",
  ]);
  assert.deepEqual(braceExpand("{3..1}"), ["3", "2", "1"]);
  assert.deepEqual(braceExpand("{0..10..5}"), ["0", "5", "10"]);
  assert.deepEqual(braceExpand("{-1..1}"), ["-1", "0", "1"]);
});

test("zero-padded ranges keep the width of the bounds", () => {
  const names = braceExpand("data_{000..999}.h5ad");
  assert.equal(names.length, 1000);
  assert.equal(names[0], "data_000.h5ad");
  assert.equal(names[42], "data_042.h5ad");
  assert.equal(names[999], "data_999.h5ad");
  assert.deepEqual(braceExpand("{08..11}"), ["08", "09", "10", "11"]);
});

test("alternatives, nesting and cartesian products (leftmost varies slowest)", () => {
  assert.deepEqual(braceExpand("{a,b}{1..2}"), ["a1", "a2", "b1", "b2"]);
  assert.deepEqual(braceExpand("x{a,b{1,2}}y"), ["xay", "xb1y", "xb2y"]);
  assert.deepEqual(braceExpand("gs://bucket/{train,test}/part_{0..1}.h5ad"), [
    "gs://bucket/train/part_0.h5ad",
    "gs://bucket/train/part_1.h5ad",
    "gs://bucket/test/part_0.h5ad",
    "gs://bucket/test/part_1.h5ad",
  ]);
});

test("plain text, single alternatives, unmatched braces and escapes stay literal", () => {
  assert.deepEqual(braceExpand("/data/file.h5ad"), ["/data/file.h5ad"]);
  assert.deepEqual(braceExpand("{a}"), ["{a}"]);
  assert.deepEqual(braceExpand("a{b"), ["a{b"]);
  assert.deepEqual(braceExpand("\\{0..2\\}"), ["{0..2}"]);
});

test("a zero step is an error naming the range", () => {
  assert.throws(() => braceExpand("{0..4..0}"), /step 0 in range \{0\.\.4\.\.0\}/);
});
