import assert from "node:assert/strict";
import { ArgumentError } from "../../../src/errors.js";
import { crossEntropy, tensor } from "../../../src/tensor/index.js";
import { test } from "../../helpers/backends.js";
import { assertClose, assertGradients, hasTorch, input, runTorch } from "../helpers.js";

const logits = [
  [1, 2, 3],
  [0.5, -1, 0],
  [2, 2, 2],
  [10, 0, -10],
];
// -log softmax(x)[t] by the definition
const direct = (row: number[], t: number) => Math.log(row.reduce((a, v) => a + Math.exp(v), 0)) - row[t]!;

test("cross entropy matches -log softmax at the target, mean over non-ignored rows", () => {
  const x = tensor(logits, { dtype: "float64" });
  const t = tensor([2, 0, -100, 1], { dtype: "int32" });
  const perRow = [direct(logits[0]!, 2), direct(logits[1]!, 0), 0, direct(logits[3]!, 1)];
  assertClose(crossEntropy(x, t, { reduction: "none" }).data, perRow, 1e-12);
  assertClose(
    [crossEntropy(x, t, { reduction: "sum" }).item()],
    [perRow[0]! + perRow[1]! + perRow[3]!],
    1e-12,
  );
  assertClose([crossEntropy(x, t).item()], [(perRow[0]! + perRow[1]! + perRow[3]!) / 3], 1e-12);
  const custom = tensor([2, 0, 1, 7], { dtype: "int32" });
  assertClose(
    [crossEntropy(x, custom, { ignoreIndex: 7, reduction: "sum" }).item()],
    [perRow[0]! + perRow[1]! + direct(logits[2]!, 1)],
    1e-12,
  );
});

test("cross entropy over all-ignored targets is NaN with mean, as in torch", () => {
  const x = tensor(logits, { dtype: "float64" });
  assert.ok(Number.isNaN(crossEntropy(x, tensor([-100, -100, -100, -100], { dtype: "int32" })).item()));
});

test("cross entropy validates shapes, dtypes and target range", () => {
  const x = tensor(logits);
  assert.throws(() => crossEntropy(x, tensor([0, 1, 2, 3], { dtype: "int32" })), ArgumentError);
  assert.throws(() => crossEntropy(x, tensor([0, 1, 2, 0])), ArgumentError);
  assert.throws(() => crossEntropy(x, tensor([0, 1], { dtype: "int32" })), ArgumentError);
});

test("gradients of cross entropy for each reduction, with ignored rows", () => {
  const x = input([5, 4], 1);
  const t = tensor([3, -100, 0, 1, 3], { dtype: "int32" });
  for (const reduction of ["mean", "sum", "none"] as const) {
    assertGradients((l) => crossEntropy(l, t, { reduction }), [x]);
  }
  assertGradients(
    (l) => crossEntropy(l, tensor([0, 1, 1, 2, 0], { dtype: "int32" }), { ignoreIndex: 1 }),
    [x],
  );
});

test("cross entropy and its gradient agree with PyTorch, ignore_index included", { skip: !hasTorch }, () => {
  const x = input([6, 5], 30);
  const target = [4, -100, 0, 2, -100, 4];
  const script = `
x = torch.tensor(data["x"], dtype=torch.float64, requires_grad=True)
t = torch.tensor(data["t"], dtype=torch.long)
result = {}
for reduction in ["mean", "sum", "none"]:
    y = torch.nn.functional.cross_entropy(x, t, ignore_index=-100, reduction=reduction)
    (gx,) = torch.autograd.grad(y, x, torch.linspace(0.5, 1.5, y.numel(), dtype=torch.float64).reshape(y.shape))
    result[reduction] = [y.flatten().tolist(), gx.flatten().tolist()]
`;
  const reference = runTorch(script, { x: x.toArray(), t: target }) as Record<string, [number[], number[]]>;
  const t = tensor(target, { dtype: "int32" });
  for (const reduction of ["mean", "sum", "none"] as const) {
    x.grad = null;
    const y = crossEntropy(x, t, { reduction });
    const weights = y.size === 1 ? [0.5] : Array.from({ length: y.size }, (_, i) => 0.5 + i / (y.size - 1));
    y.backward(tensor(weights, { dtype: "float64", shape: y.shape }));
    const [value, grad] = reference[reduction]!;
    assertClose(y.data, value, 1e-12);
    assertClose(x.grad!.data, grad, 1e-12);
  }
});

test("cross entropy stays exact when the target's probability underflows float32", () => {
  // softmax of [0, -120] in float32 gives 0 at the target; the loss is still log(1 + e^-120) + 120.
  const x = tensor([[0, -120, -3]], { dtype: "float32" });
  const loss = crossEntropy(x, tensor([1], { dtype: "int32" }));
  const expected = Math.log(1 + Math.exp(-120) + Math.exp(-3)) + 120;
  assert.ok(Math.abs(loss.item() - expected) < 1e-5 * expected, `${loss.item()} vs ${expected}`);
});
