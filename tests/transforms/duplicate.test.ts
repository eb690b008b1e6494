import assert from "node:assert/strict";
import { test } from "node:test";
import { createTransform } from "../../src/cli/registry.js";
import { type CsrMatrix, deferredDense, isDeferredDense, storedForm } from "../../src/data/matrix.js";
import { Duplicate } from "../../src/transforms/duplicate.js";
import { assertCanonical, csr, dense, randomCounts, rowsOf, snapshot, torchReference } from "./helpers.js";

const rows = randomCounts(61, 7, 20, 0.3);
const genes = rows[0]!.map((_, j) => `g${j}`);

test("Duplicate stacks x_ng twice as torch's repeat((2, 1)), keeping its format; other keys keep their rows", () => {
  const want = torchReference("out = torch.tensor(inp, dtype=torch.float32).repeat((2, 1)).tolist()", rows);
  const x = csr(rows);
  const before = snapshot(x);
  const batch = { x_ng: x, var_names_g: genes, obs_names_n: rows.map((_, i) => `c${i}`) };
  const out = new Duplicate().forward(batch);
  assert.equal(out.x_ng!.format, "csr");
  assertCanonical(out.x_ng as CsrMatrix);
  assert.deepEqual(rowsOf(out.x_ng!), want);
  assert.deepEqual(Object.keys(out), ["x_ng"]);
  assert.deepEqual(x, before);
  const fromDense = new Duplicate().forward({ x_ng: dense(rows), var_names_g: genes }).x_ng!;
  assert.equal(fromDense.format, "dense");
  assert.deepEqual(rowsOf(fromDense), want);
  const deferred = new Duplicate().forward({ x_ng: deferredDense(csr(rows)), var_names_g: genes }).x_ng!;
  assert.ok(isDeferredDense(deferred), "a deferred dense block stays deferred (CSR underneath)");
  assert.equal(storedForm(deferred).format, "csr");
  assert.deepEqual(rowsOf(deferred), want);
  // A CSR block whose rows start past 0 in its arrays (a slice).
  const sliced: CsrMatrix = { ...x, nRows: 3, indptr: x.indptr.subarray(2, 6) };
  assert.deepEqual(rowsOf(new Duplicate().forward({ x_ng: sliced, var_names_g: genes }).x_ng!), [
    ...rows.slice(2, 5),
    ...rows.slice(2, 5),
  ]);
});

test("Duplicate with enabled: false passes the batch through; its state is upstream's argument", () => {
  assert.deepEqual(new Duplicate({ enabled: false }).forward({ x_ng: csr(rows), var_names_g: genes }), {});
  const built = createTransform("cellarium.ml.transforms.Duplicate", { enabled: "false" }, "t");
  assert.deepEqual(built.state(), { name: "Duplicate", args: { enabled: false }, tensors: {} });
  assert.deepEqual(Duplicate.fromState(built.state()).state(), built.state());
  assert.deepEqual(createTransform("cellarium.ml.transforms.Duplicate", {}, "t").state().args, {
    enabled: true,
  });
});
