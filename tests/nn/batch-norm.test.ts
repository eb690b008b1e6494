import assert from "node:assert/strict";
import { BatchNorm1d } from "../../src/nn/index.js";
import { batchNorm, mul, reshape, sum, tensor } from "../../src/tensor/index.js";
import { Generator } from "../../src/tensor/random.js";
import { Tensor } from "../../src/tensor/tensor.js";
import { test } from "../helpers/backends.js";
import { assertClose, assertGradients, input, runTorch } from "../tensor/helpers.js";

test("batchNorm gradients (training: through the batch statistics; evaluation: affine) match finite differences", () => {
  const weight = input([3], 1);
  const bias = input([3], 2);
  for (const training of [true, false]) {
    const runningMean = new Float64Array([0.1, -0.2, 0.3]);
    const runningVar = new Float64Array([1.5, 0.5, 2]);
    assertGradients(
      (x, w, b) =>
        batchNorm(x, { weight: w, bias: b, training, runningMean, runningVar, momentum: 0, eps: 1e-3 }),
      [input([5, 3], 3), weight, bias],
    );
  }
});

test("BatchNorm1d matches torch.nn.BatchNorm1d: outputs, gradients and running statistics over two steps, then eval", () => {
  const generator = new Generator(7);
  const steps = [0, 1].map(() => Array.from({ length: 6 * 4 }, () => generator.nextDouble() * 4 - 1));
  const upstream = [
    0.3, -1, 2, 0.5, 1, -0.5, 0.25, 0.75, -2, 1, 0, 3, 1, 1, 1, 2, -1, 0.5, 0.5, 0, 2, 1, -1, 0,
  ];
  const reference = runTorch(
    `
bn = torch.nn.BatchNorm1d(4, momentum=0.01, eps=1e-3).double()
with torch.no_grad():
    bn.weight.copy_(torch.tensor([1.0, 0.5, 2.0, -1.0]))
    bn.bias.copy_(torch.tensor([0.0, 0.1, -0.2, 0.3], dtype=torch.float64))
outs, gx, gw, gb = [], [], [], []
for step in data["steps"]:
    x = torch.tensor(step, dtype=torch.float64).reshape(6, 4).requires_grad_()
    bn.weight.grad = None
    bn.bias.grad = None
    y = bn(x)
    (y * torch.tensor(data["upstream"], dtype=torch.float64).reshape(6, 4)).sum().backward()
    outs.append(y.detach().flatten().tolist()); gx.append(x.grad.flatten().tolist())
    gw.append(bn.weight.grad.tolist()); gb.append(bn.bias.grad.tolist())
bn.eval()
ev = bn(torch.tensor(data["steps"][0], dtype=torch.float64).reshape(6, 4)).detach().flatten().tolist()
result = dict(outs=outs, gx=gx, gw=gw, gb=gb, mean=bn.running_mean.tolist(), var=bn.running_var.tolist(),
              tracked=int(bn.num_batches_tracked), ev=ev)
`,
    { steps, upstream },
  ) as Record<string, number[][] & number[]>;
  const bn = new BatchNorm1d(4, { momentum: 0.01, eps: 1e-3, dtype: "float64" });
  bn.weight.data.set([1, 0.5, 2, -1]);
  bn.bias.data.set([0, 0.1, -0.2, 0.3]);
  const g = reshape(tensor(upstream, { dtype: "float64" }), [6, 4]);
  for (const [i, step] of steps.entries()) {
    const x = new Tensor(Float64Array.from(step), [6, 4]);
    x.requiresGrad = true;
    bn.weight.grad = null;
    bn.bias.grad = null;
    const y = bn.forward(x);
    sum(mul(y, g)).backward();
    assertClose(y.data, reference.outs![i]!, 1e-12);
    assertClose(x.grad!.data, reference.gx![i]!, 1e-12);
    assertClose(bn.weight.grad!.data, reference.gw![i]!, 1e-12);
    assertClose(bn.bias.grad!.data, reference.gb![i]!, 1e-12);
  }
  assertClose(bn.running_mean.data, reference.mean!, 1e-14);
  assertClose(bn.running_var.data, reference.var!, 1e-14);
  assert.equal(bn.num_batches_tracked.data[0], reference.tracked);
  bn.eval();
  assertClose(bn.forward(new Tensor(Float64Array.from(steps[0]!), [6, 4])).data, reference.ev!, 1e-12);
  assert.deepEqual(Object.keys(bn.stateDict()), [
    "weight",
    "bias",
    "running_mean",
    "running_var",
    "num_batches_tracked",
  ]);
});

test("batchNorm refuses one row while training, as torch does", () => {
  const runningMean = new Float32Array(2);
  const runningVar = new Float32Array(2).fill(1);
  assert.throws(
    () => batchNorm(tensor([[1, 2]]), { training: true, runningMean, runningVar }),
    /more than one row per channel, got 1/,
  );
});
