import assert from "node:assert/strict";
import { test } from "node:test";
import { BufferPool } from "../../src/data/buffer-pool.js";

test("a pool hands out views of given-back buffers, the smallest that fits, else a new one with room", () => {
  const pool = new BufferPool(3);
  const fresh = pool.float32(1000);
  assert.equal(fresh.length, 1000);
  assert.equal(fresh.byteOffset, 0);
  assert.ok(fresh.buffer.byteLength >= 4000 * 1.25, "room for a slightly larger next batch");
  const small = new ArrayBuffer(2000);
  const medium = new ArrayBuffer(8000);
  const large = new ArrayBuffer(64000);
  pool.give([large, small, medium]);
  const a = pool.int32(1500); // 6,000 bytes: medium fits, large is wasteful, small is too small
  assert.equal(a.buffer, medium);
  assert.equal(a.length, 1500);
  const b = pool.float32(1500);
  assert.equal(b.buffer, large);
  assert.equal(pool.size, 1);
  const c = pool.float32(1500);
  assert.notEqual(c.buffer, small, "too small: a new buffer");
  assert.equal(pool.size, 1);
});

test("a full pool drops its smallest buffers; detached buffers are not kept", () => {
  const pool = new BufferPool(2);
  const buffers = [100, 400, 200, 300].map((n) => new ArrayBuffer(n));
  pool.give(buffers);
  assert.equal(pool.size, 2);
  assert.equal(pool.float32(75).buffer, buffers[3], "300 bytes kept, the smallest that fits 300");
  assert.equal(pool.float32(100).buffer, buffers[1]);
  const detached = new ArrayBuffer(1024);
  structuredClone(detached, { transfer: [detached] });
  pool.give([detached]);
  assert.equal(pool.size, 0);
});
