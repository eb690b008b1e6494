import assert from "node:assert/strict";
import { test } from "node:test";
import { ArgumentError } from "../../../src/errors.js";
import { philox4x32 } from "../../../src/tensor/kernels/philox-ts.js";
import { backend, backends, skipUnless } from "../../helpers/matrices.js";

for (const which of backends) {
  test(
    `philoxBlocks (${which}) encrypts successive counters, carrying across words`,
    skipUnless(which),
    () => {
      const k = backend(which);
      const key = Uint32Array.of(0xa4093822, 0x299f31d0);
      // the first word wraps after one block, so the carry reaches the second word
      const counter = Uint32Array.of(0xfffffffe, 0xffffffff, 7, 0);
      const out = new Uint32Array(12);
      k.philoxBlocks({ key, counter, out });
      assert.deepEqual([...counter], [1, 0, 8, 0]);
      const expected = new Uint32Array(12);
      const counters = [
        [0xffffffff, 0xffffffff, 7, 0],
        [0, 0, 8, 0],
        [1, 0, 8, 0],
      ];
      for (const [b, c] of counters.entries()) philox4x32(c, key, expected, 4 * b);
      assert.deepEqual([...out], [...expected]);
      // the block function itself against a Random123 known-answer vector
      const kat = new Uint32Array(4);
      k.philoxBlocks({
        key: Uint32Array.of(0, 0),
        counter: Uint32Array.of(0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff),
        out: kat,
      });
      assert.deepEqual(
        [...kat].map((w) => w.toString(16).padStart(8, "0")),
        ["6627e8d5", "e169c58d", "bc57ac4c", "9b00dbd8"],
      );
      assert.throws(() => k.philoxBlocks({ key, counter, out: new Uint32Array(5) }), ArgumentError);
      assert.throws(() => k.philoxBlocks({ key, counter: new Uint32Array(3), out }), ArgumentError);
    },
  );
}
