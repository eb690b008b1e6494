import assert from "node:assert/strict";
import { test } from "node:test";
import { QUOTE_CHARS, quote } from "../src/error-values.js";

test("quote renders values on one bounded line, cycles and all", () => {
  assert.equal(quote("a\nb"), '"a\\nb"');
  assert.equal(quote([1, "x", null, undefined, true]), '[1, "x", null, undefined, true]');
  assert.equal(quote(new Map([["k", [2]]])), '{"k": [2]}');
  assert.equal(quote({ a: 1 }), '{"a": 1}');
  assert.equal(quote(12n), "12");
  assert.equal(quote(new Uint8Array(3)), "<3 bytes>");
  const cycle: unknown[] = [];
  cycle.push(cycle, 1);
  assert.equal(quote(cycle), "[<cycle>, 1]");
  const long = quote("x".repeat(10_000));
  assert.ok(long.length <= QUOTE_CHARS + 3 && long.endsWith("..."), long);
  let deep: unknown[] = [];
  for (let i = 0; i < 100_000; i++) deep = [deep];
  const nested = quote(deep);
  assert.ok(nested.startsWith("[[[[") && nested.length <= QUOTE_CHARS + 3, nested);
  assert.equal(quote(Array.from({ length: 1e6 }, (_, i) => i)).length, QUOTE_CHARS + 3);
});
