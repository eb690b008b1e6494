import assert from "node:assert/strict";
import { test } from "node:test";
import { densify } from "../../src/data/matrix.js";
import { CheckpointError } from "../../src/errors.js";
import { Densify } from "../../src/transforms/densify.js";
import { csr, dense } from "./helpers.js";

test("Densify writes CSR entries into a zero row-major block", () => {
  const rows = [
    [0, 2, 0],
    [0, 0, 0],
    [5, 0, 1],
  ];
  const out = new Densify().forward({ x_ng: csr(rows), var_names_g: ["a", "b", "c"] }).x_ng!;
  assert.deepEqual(out, dense(rows));
});

test("Densify passes a dense block through and adds duplicate CSR entries", () => {
  const x = dense([[1, 2]]);
  assert.equal(densify(x), x);
  const duplicated = {
    format: "csr" as const,
    nRows: 1,
    nCols: 2,
    indptr: Int32Array.from([0, 2]),
    indices: Int32Array.from([1, 1]),
    data: Float32Array.from([1, 2]),
  };
  assert.deepEqual([...densify(duplicated).data], [0, 3]);
  assert.throws(() => Densify.fromState({ name: "Log1p", args: {}, tensors: {} }), CheckpointError);
});

test("densify refuses a column index outside the row instead of writing into another cell's row", () => {
  const bad = {
    format: "csr" as const,
    nRows: 2,
    nCols: 3,
    indptr: Int32Array.from([0, 1, 2]),
    indices: Int32Array.from([3, 0]),
    data: Float32Array.from([7, 1]),
  };
  assert.throws(() => densify(bad), {
    name: "ArgumentError",
    message: "densify: x_ng's column index 3 at row 0 is outside [0, 3)",
  });
  assert.throws(() => densify({ ...bad, indices: Int32Array.from([0, -1]) }), /column index -1 at row 1/);
});
