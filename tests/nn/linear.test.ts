import assert from "node:assert/strict";
import { ArgumentError } from "../../src/errors.js";
import { Linear, Module } from "../../src/nn/index.js";
import { adam } from "../../src/optim/adam.js";
import { gelu, mean, randn, square, sub, type Tensor, tensor } from "../../src/tensor/index.js";
import { Generator } from "../../src/tensor/random.js";
import { test } from "../helpers/backends.js";
import { runPython } from "../helpers/python.js";
import { assertClose, assertGradients, hasTorch, input } from "../tensor/helpers.js";

test("Linear computes x W^T + b with torch's [out, in] layout, on 2-D and N-D inputs", () => {
  const layer = new Linear(3, 2, { generator: new Generator(1), dtype: "float64" });
  assert.deepEqual(layer.weight.shape, [2, 3]);
  const x = input([2, 2, 3], 2);
  const y = layer.forward(x);
  assert.deepEqual(y.shape, [2, 2, 2]);
  const w = layer.weight.data;
  const b = layer.bias!.data;
  const expected: number[] = [];
  for (let r = 0; r < 4; r++)
    for (let o = 0; o < 2; o++)
      expected.push(b[o]! + [0, 1, 2].reduce((s, i) => s + x.data[3 * r + i]! * w[3 * o + i]!, 0));
  assertClose(y.data, expected);
  const noBias = new Linear(3, 2, { generator: new Generator(1), bias: false });
  assert.equal(noBias.bias, null);
  assert.deepEqual(
    noBias.namedParameters().map(([n]) => n),
    ["weight"],
  );
  assert.throws(() => new Linear(0, 2, { generator: new Generator(1) }), ArgumentError);
});

test("Linear's initial weight and bias are uniform on +-1/sqrt(in), as torch's kaiming-uniform(a = sqrt(5))", () => {
  const inF = 400;
  const layer = new Linear(inF, 300, { generator: new Generator(3) });
  const bound = 1 / Math.sqrt(inF);
  for (const t of [layer.weight, layer.bias!]) {
    let lo = Infinity;
    let hi = -Infinity;
    let sq = 0;
    for (const v of t.data) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
      sq += v * v;
    }
    assert.ok(lo >= -bound && hi < bound && lo < -0.95 * bound && hi > 0.95 * bound, `range [${lo}, ${hi}]`);
    // the variance of U(-c, c) is c^2 / 3
    assert.ok(Math.abs(sq / t.size / ((bound * bound) / 3) - 1) < (t.size > 1000 ? 0.02 : 0.25));
  }
});

test("gradients through a Linear module in float64", () => {
  const layer = new Linear(4, 3, { generator: new Generator(4), dtype: "float64" });
  assertGradients(
    (x, w, b) => {
      assert.ok(w === layer.weight && b === layer.bias);
      return layer.forward(x);
    },
    [input([2, 4], 5), layer.weight, layer.bias!],
  );
});

class Mlp extends Module {
  readonly fc1: Linear;
  readonly fc2: Linear;
  constructor(generator: Generator) {
    super();
    this.fc1 = this.registerModule("fc1", new Linear(4, 8, { generator }));
    this.fc2 = this.registerModule("fc2", new Linear(8, 1, { generator }));
  }
  forward(x: Tensor): Tensor {
    return this.fc2.forward(gelu(this.fc1.forward(x)));
  }
}

const TORCH_MLP = `
import json, sys, torch
d = json.load(sys.stdin)
torch.set_default_dtype(torch.float32)
net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.GELU(), torch.nn.Linear(8, 1))
with torch.no_grad():
    for name, p in net.named_parameters():
        p.copy_(torch.tensor(d["state"][name.replace("0.", "fc1.").replace("2.", "fc2.")]).reshape(p.shape))
x = torch.tensor(d["x"]).reshape(-1, 4)
y = torch.tensor(d["y"]).reshape(-1, 1)
opt = torch.optim.Adam(net.parameters(), lr=d["lr"], foreach=False)
losses = []
for _ in range(d["steps"]):
    opt.zero_grad()
    loss = ((net(x) - y) ** 2).mean()
    loss.backward()
    opt.step()
    losses.append(loss.item())
print(json.dumps(losses))
`;

function train(net: Mlp, x: Tensor, y: Tensor, steps: number, lr: number): number[] {
  const optimizer = adam(net.parameters(), { lr });
  const losses: number[] = [];
  for (let s = 0; s < steps; s++) {
    net.zeroGrad();
    const loss = mean(square(sub(net.forward(x), y)));
    loss.backward();
    optimizer.step();
    losses.push(loss.item());
  }
  return losses;
}

test("a tiny MLP trained with Adam fits a regression and matches torch step for step", {
  skip: !hasTorch,
}, () => {
  const generator = new Generator(7);
  const x = randn([32, 4], generator);
  // target: a fixed smooth function of x
  const y = tensor(
    Array.from(
      { length: 32 },
      (_, i) => Math.sin(x.data[4 * i]!) + 0.5 * x.data[4 * i + 1]! * x.data[4 * i + 2]!,
    ),
    { shape: [32, 1] },
  );
  const net = new Mlp(generator);
  const state = Object.fromEntries(Object.entries(net.stateDict()).map(([k, t]) => [k, Array.from(t.data)]));
  const torchLosses = runPython(TORCH_MLP, {
    state,
    x: Array.from(x.data),
    y: Array.from(y.data),
    lr: 0.01,
    steps: 3,
  }) as number[];
  const ours = train(net, x, y, 3, 0.01);
  for (let s = 0; s < 3; s++)
    assert.ok(
      Math.abs(ours[s]! - torchLosses[s]!) <= 1e-5 * torchLosses[s]!,
      `step ${s}: ${ours[s]} vs torch ${torchLosses[s]}`,
    );
  const later = train(net, x, y, 200, 0.01);
  assert.ok(later[later.length - 1]! < 0.3 * ours[0]!, `loss ${ours[0]} -> ${later[later.length - 1]}`);
});
