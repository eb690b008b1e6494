import assert from "node:assert/strict";
import { test } from "node:test";
import { ArgumentError, SchemaMismatchError } from "../../src/errors.js";
import { DivideByScale, replaceNaNScale } from "../../src/transforms/divide-by-scale.js";
import { csr, dense, rowsOf, snapshot } from "./helpers.js";

const var_names_g = ["A", "B", "C"];

test("DivideByScale divides each column by scale_g + eps, CSR staying CSR", () => {
  const rows = [
    [2, 0, 3],
    [0, 6, 0],
  ];
  const expected = [
    [1, 0, 12],
    [0, 2, 0],
  ];
  const transform = new DivideByScale({ scale_g: [2, 3, 0.25], var_names_g, eps: 0 });
  const sparse = transform.forward({ x_ng: csr(rows), var_names_g }).x_ng!;
  assert.equal(sparse.format, "csr");
  assert.deepEqual(rowsOf(sparse), expected);
  assert.deepEqual(rowsOf(transform.forward({ x_ng: dense(rows), var_names_g }).x_ng!), expected);
  // A reordered subset picks the scales by name.
  assert.deepEqual(rowsOf(transform.forward({ x_ng: dense([[3, 2]]), var_names_g: ["C", "A"] }).x_ng!), [
    [12, 1],
  ]);
});

test("DivideByScale replaces NaN scales by 1/eps and warns once through the injected function", () => {
  const warnings: string[] = [];
  const eps = 1e-6;
  const transform = new DivideByScale({
    scale_g: [2, Number.NaN, Number.NaN],
    var_names_g,
    eps,
    warn: (message) => warnings.push(message),
  });
  assert.deepEqual(warnings, ["DivideByScale: 2 NaN values in scale_g replaced with 1/eps = 1000000"]);
  assert.deepEqual([...transform.scale_g], [2, Math.fround(1 / eps), Math.fround(1 / eps)]);
  const out = transform.forward({ x_ng: dense([[4, 5, 0]]), var_names_g }).x_ng!;
  const denominator = Math.fround(Math.fround(1 / eps) + Math.fround(eps));
  assert.deepEqual(rowsOf(out), [
    [Math.fround(4 / Math.fround(2 + Math.fround(eps))), Math.fround(5 / denominator), 0],
  ]);
  // The checkpoint holds the replaced scales, so restoring does not warn.
  const restored = DivideByScale.fromState(transform.state());
  assert.deepEqual([...restored.scale_g], [...transform.scale_g]);
  assert.equal(warnings.length, 1);
  assert.throws(() => new DivideByScale({ scale_g: [Number.NaN, 1, 1], var_names_g, eps: 0 }), ArgumentError);
});

test("replaceNaNScale copies, counts, and leaves its input alone", () => {
  const input = Float64Array.from([Number.NaN, 4]);
  const { scale_g, nanCount } = replaceNaNScale(input, 0.5);
  assert.deepEqual([...scale_g], [2, 4]);
  assert.equal(nanCount, 1);
  assert.ok(Number.isNaN(input[0]));
});

test("DivideByScale checks genes and leaves its input untouched", () => {
  const transform = new DivideByScale({ scale_g: [1, 2, 3], var_names_g });
  assert.throws(
    () => transform.forward({ x_ng: dense([[1, 2]]), var_names_g: ["A", "Q"] }),
    (e: unknown) =>
      e instanceof SchemaMismatchError && /var_names_g\[1\] is "Q".*expected "B" at index 1/.test(e.message),
  );
  const x = csr([[1, 0, 2]]);
  const before = snapshot(x);
  transform.forward({ x_ng: x, var_names_g });
  assert.deepEqual(x, before);
});
