import assert from "node:assert/strict";
import { ArgumentError } from "../../../src/errors.js";
import { gather, indexSelect, maskedFill, scatterAdd, tensor, where } from "../../../src/tensor/index.js";
import { test } from "../../helpers/backends.js";
import { assertGradients, input } from "../helpers.js";

const int = (values: number[][] | number[], shape?: number[]) =>
  tensor(values, { dtype: "int32", ...(shape ? { shape } : {}) });

test("gather follows torch.gather along each axis, index smaller than the input allowed", () => {
  const x = tensor([
    [1, 2, 3],
    [4, 5, 6],
  ]);
  assert.deepEqual(
    gather(
      x,
      1,
      int([
        [2, 0],
        [1, 1],
      ]),
    ).toArray(),
    [
      [3, 1],
      [5, 5],
    ],
  );
  assert.deepEqual(gather(x, 0, int([[1, 0, 1]])).toArray(), [[4, 2, 6]]);
  assert.throws(() => gather(x, 1, int([[3]])), ArgumentError);
  assert.throws(() => gather(x, 1, tensor([[1]])), ArgumentError);
});

test("scatterAdd accumulates repeated indices into a copy", () => {
  const x = tensor([
    [0, 0, 0],
    [1, 1, 1],
  ]);
  const out = scatterAdd(
    x,
    1,
    int([
      [0, 0],
      [2, 1],
    ]),
    tensor([
      [5, 6],
      [7, 8],
    ]),
  );
  assert.deepEqual(out.toArray(), [
    [11, 0, 0],
    [1, 9, 8],
  ]);
  assert.deepEqual(x.toArray(), [
    [0, 0, 0],
    [1, 1, 1],
  ]);
});

test("indexSelect picks slices along an axis, repeats allowed", () => {
  const x = tensor([
    [1, 2, 3],
    [4, 5, 6],
  ]);
  assert.deepEqual(indexSelect(x, 0, int([1, 1, 0])).toArray(), [
    [4, 5, 6],
    [4, 5, 6],
    [1, 2, 3],
  ]);
  assert.deepEqual(indexSelect(x, 1, int([2, 0])).toArray(), [
    [3, 1],
    [6, 4],
  ]);
  assert.throws(() => indexSelect(x, 0, int([2])), ArgumentError);
});

test("where and maskedFill select with broadcasting; any non-zero is true", () => {
  const cond = tensor([[1], [0]], { dtype: "int32" });
  assert.deepEqual(where(cond, tensor([1, 2, 3]), -1).toArray(), [
    [1, 2, 3],
    [-1, -1, -1],
  ]);
  const x = tensor([
    [1, 2],
    [3, 4],
  ]);
  assert.deepEqual(maskedFill(x, tensor([0, 2.5]), -9).toArray(), [
    [1, -9],
    [3, -9],
  ]);
  assert.throws(() => maskedFill(tensor([1, 2]), tensor([[1, 0]]), 0), ArgumentError);
});

test("gradients of gather, scatterAdd and indexSelect, with repeated indices", () => {
  const x = input([3, 4], 1);
  const index = int(
    [
      [0, 3, 3],
      [2, 2, 1],
    ],
    [2, 3],
  );
  assertGradients((t) => gather(t, 1, index), [x]);
  assertGradients((t) => gather(t, 0, int([2, 0, 2, 1, 0, 0], [2, 3])), [x]);
  assertGradients((t, s) => scatterAdd(t, 1, index, s), [x, input([2, 3], 2)]);
  assertGradients((t) => indexSelect(t, 0, int([2, 0, 2])), [x]);
  assertGradients((t) => indexSelect(t, 1, int([3, 1])), [x]);
});

test("gradients of where and maskedFill with broadcasting", () => {
  const cond = tensor([1, 0, 1], { dtype: "int32" });
  assertGradients((a, b) => where(cond, a, b), [input([2, 3], 3), input([2, 1], 4)]);
  assertGradients((a) => where(cond, a, 0), [input([3], 5)]);
  assertGradients((a) => maskedFill(a, tensor([[0], [1]], { dtype: "int32" }), 7), [input([2, 3], 6)]);
});
