import assert from "node:assert/strict";
import { ArgumentError } from "../../../src/errors.js";
import { add, eye, matmul, transpose } from "../../../src/tensor/index.js";
import { logdetSpd, solve } from "../../../src/tensor/ops/solve-logdet.js";
import type { Tensor } from "../../../src/tensor/tensor.js";
import { test } from "../../helpers/backends.js";
import { assertClose, assertGradients, input, runTorch } from "../helpers.js";

/** B B^T + I: symmetric positive definite, differentiable in B. */
function spd(b: Tensor): Tensor {
  return add(matmul(b, transpose(b)), eye(b.shape[0]!, b.shape[0]!, { dtype: "float64" }));
}

test("solve and logdetSpd agree with torch.linalg", () => {
  const a = input([4, 4], 1);
  const b = input([4, 3], 2);
  const s = spd(input([4, 4], 3));
  const reference = runTorch(
    `A = torch.tensor(data["a"], dtype=torch.float64).reshape(4, 4)
B = torch.tensor(data["b"], dtype=torch.float64).reshape(4, 3)
S = torch.tensor(data["s"], dtype=torch.float64).reshape(4, 4)
result = {"x": torch.linalg.solve(A, B).flatten().tolist(), "logdet": torch.logdet(S).item()}`,
    { a: [...a.data], b: [...b.data], s: [...s.data] },
  ) as { x: number[]; logdet: number };
  assertClose(solve(a, b).data, reference.x, 1e-10);
  assert.ok(Math.abs(logdetSpd(s).item() - reference.logdet) < 1e-10);
  assert.throws(() => solve(a, input([3, 2], 4)), ArgumentError);
  assert.throws(() => logdetSpd(input([2, 3], 5)), ArgumentError);
});

test("gradients of solve (in A and B) and of logdetSpd (through a symmetric input)", () => {
  assertGradients((a, b) => solve(a, b), [input([3, 3], 6), input([3, 2], 7)]);
  assertGradients((b) => solve(spd(b), b), [input([3, 3], 8)]);
  assertGradients((b) => logdetSpd(spd(b)), [input([3, 3], 9)]);
  assertGradients((b) => logdetSpd(spd(b)), [input([4, 2], 10)]);
});
