import assert from "node:assert/strict";
import { test } from "node:test";
import { ArgumentError } from "../../../src/errors.js";
import {
  checkedKernel,
  declare,
  f64,
  float,
  i32,
  orNull,
  scalar,
  size,
} from "../../../src/tensor/kernels/spec.js";
import { KERNELS } from "../../../src/tensor/kernels/types.js";

// A toy kernel: y (rows x len) = x + bias, with the kinds and rules the real declarations use.
const toy = declare(
  { rows: size, len: size, x: float, bias: orNull(float), scale: scalar, y: float, ids: i32, stats: f64 },
  {
    atLeast: { x: (a) => a.rows * a.len, bias: (a) => a.len },
    exact: { y: [(a) => a.rows * a.len, (a) => `${a.rows} x ${a.len}`] },
    check(a, kernel) {
      if (a.ids.length !== a.rows) throw new ArgumentError(`${kernel}: one id per row`);
    },
    returns: "number",
  },
);

const calls: unknown[] = [];
const run = checkedKernel("toy", toy, ((args: unknown) => {
  calls.push(args);
  return 7;
}) as (args: never) => number);

const valid = {
  rows: 2,
  len: 3,
  x: new Float32Array(6),
  bias: null,
  scale: 1,
  y: new Float32Array(6),
  ids: new Int32Array(2),
  stats: new Float64Array(1),
};

test("a declared kernel's checks pass valid arguments through and return the backend's result", () => {
  assert.equal(run(valid), 7);
  assert.equal(calls.at(-1), valid, "the same object, not a copy");
});

test("the compiled checks name the kernel, the field and the value", () => {
  const cases: [Partial<typeof valid> & Record<string, unknown>, RegExp][] = [
    [{ rows: -1 }, /^toy: rows must be an integer in \[0, 2\^31\), got -1$/],
    [{ len: 1.5 }, /^toy: len must be an integer in \[0, 2\^31\), got 1.5$/],
    [{ x: new Int32Array(6) as never }, /^toy: arrays must be Float32Array or Float64Array, got Int32Array$/],
    [{ y: new Float64Array(6) as never }, /^toy: y is a Float64Array, expected Float32Array$/],
    [{ bias: new Float64Array(3) as never }, /^toy: bias is a Float64Array, expected Float32Array$/],
    [{ bias: new Float32Array(2) as never }, /^toy: bias needs 3 elements, got 2$/],
    [{ x: new Float32Array(5) }, /^toy: x needs 6 elements, got 5$/],
    [{ y: new Float32Array(7) }, /^toy: y must have 6 elements \(2 x 3\), got 7$/],
    [{ ids: new Float32Array(2) as never }, /^toy: ids must be an Int32Array, got Float32Array$/],
    [{ stats: null as never }, /^toy: stats must be a Float64Array, got null$/],
    [{ ids: new Int32Array(3) }, /^toy: one id per row$/],
  ];
  for (const [change, message] of cases) {
    assert.throws(
      () => run({ ...valid, ...change }),
      (error: unknown) => {
        assert.ok(error instanceof ArgumentError, String(error));
        assert.match(error.message, message);
        return true;
      },
    );
  }
});

test("every declaration's length rules name array fields (checked when the checks compile)", () => {
  for (const [name, spec] of Object.entries(KERNELS)) {
    assert.doesNotThrow(() => checkedKernel(name, spec, (() => undefined) as (args: never) => undefined));
  }
  // The types reject a length rule on a size; a declaration that slips one past them still fails.
  const wrong = declare({ n: size, x: float }, { atLeast: { n: () => 1 } as never });
  assert.throws(
    () => checkedKernel("wrong", wrong, (() => undefined) as (args: never) => undefined),
    /names n/,
  );
});
