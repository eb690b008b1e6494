import assert from "node:assert/strict";
import { test } from "node:test";
import { checksumMatches, lookup3 } from "../../../src/formats/hdf5/checksum.js";

test("lookup3 gives the values of its author's test driver", () => {
  const text = Buffer.from("Four score and seven years ago");
  assert.equal(lookup3(Buffer.alloc(0)), 0xdeadbeef);
  assert.equal(lookup3(text), 0x17770551);
  assert.equal(lookup3(text, 1), 0xcd628161);
});

test("a block's trailing checksum is checked; one changed byte fails it", () => {
  const block = Buffer.alloc(41, 7);
  block.writeUInt32LE(lookup3(block.subarray(0, 37)), 37);
  assert.ok(checksumMatches(block));
  block[5] = 8;
  assert.ok(!checksumMatches(block));
  assert.ok(!checksumMatches(Buffer.alloc(3)));
});
