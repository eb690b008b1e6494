import assert from "node:assert/strict";
import { ArgumentError } from "../../../src/errors.js";
import {
  exp,
  gelu,
  geluNew,
  layerNorm,
  log,
  logSoftmax,
  relu,
  silu,
  softmax,
  softplus,
  type Tensor,
  tensor,
} from "../../../src/tensor/index.js";
import { erf } from "../../../src/tensor/special.js";
import { test } from "../../helpers/backends.js";
import { assertClose, assertGradients, hasTorch, input, runTorch } from "../helpers.js";

const points = [-3, -1, -0.5, 0, 0.5, 1, 3];

test("activations at known points", () => {
  const x = tensor(points, { dtype: "float64" });
  assertClose(
    relu(x).data,
    points.map((v) => Math.max(v, 0)),
  );
  // gelu(1) = Phi(1) = 0.8413447460685429; gelu(-1) = -(1 - Phi(1))
  const g = gelu(x).data;
  assertClose([g[5]!, g[1]!, g[3]!], [0.8413447460685429, -0.15865525393145707, 0], 1e-15);
  assertClose(
    g,
    points.map((v) => 0.5 * v * (1 + erf(v / Math.SQRT2))),
  );
  assertClose(
    geluNew(x).data,
    points.map((v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)))),
  );
  // the tanh form stays within 1e-3 of the exact one
  assertClose(geluNew(x).data, g, 1e-3);
  assertClose(
    silu(x).data,
    points.map((v) => v / (1 + Math.exp(-v))),
  );
});

test("softmax rows sum to 1, survive large logits, and logSoftmax equals log(softmax)", () => {
  const x = tensor(
    [
      [1, 2, 3],
      [1000, 1001, 1002],
      [-5, 0, 5],
    ],
    { dtype: "float64" },
  );
  const s = softmax(x);
  for (let r = 0; r < 3; r++)
    assertClose([s.data[3 * r]! + s.data[3 * r + 1]! + s.data[3 * r + 2]!], [1], 1e-15);
  assertClose(s.data.subarray(0, 3), s.data.subarray(3, 6), 1e-15);
  const total = Math.exp(1) + Math.exp(2) + Math.exp(3);
  assertClose(s.data.subarray(0, 3), [Math.exp(1) / total, Math.exp(2) / total, Math.exp(3) / total], 1e-15);
  assertClose(logSoftmax(x).data, log(s).data, 1e-12);
  assertClose(exp(logSoftmax(x, 0)).data, softmax(x, 0).data, 1e-15);
  assertClose(logSoftmax(tensor([0, -1e4], { dtype: "float64" })).data, [0, -1e4], 1e-9);
});

test("layerNorm gives mean 0 and variance 1 per row, then scales and shifts", () => {
  const x = input([4, 6], 1);
  const y = layerNorm(x, 6, { eps: 0 });
  for (let r = 0; r < 4; r++) {
    const row = Array.from(y.data.subarray(6 * r, 6 * r + 6));
    const m = row.reduce((a, b) => a + b) / 6;
    const v = row.reduce((a, b) => a + (b - m) ** 2, 0) / 6;
    assertClose([m, v], [0, 1], 1e-12);
  }
  const w = input([6], 2);
  const b = input([6], 3);
  const z = layerNorm(x, [6], { weight: w, bias: b, eps: 0 });
  for (let i = 0; i < 24; i++)
    assertClose([z.data[i]!], [y.data[i]! * w.data[i % 6]! + b.data[i % 6]!], 1e-12);
  // two trailing axes normalize together
  const two = layerNorm(input([2, 3, 4], 4), [3, 4], { eps: 0 });
  const first = Array.from(two.data.subarray(0, 12));
  assertClose([first.reduce((a, c) => a + c) / 12], [0], 1e-12);
  assert.throws(() => layerNorm(x, 5), ArgumentError);
  assert.throws(() => layerNorm(x, 6, { weight: input([5], 1) }), ArgumentError);
});

test("gradients of activations", () => {
  const x = input([3, 4], 5, [-3, 3]);
  for (const op of [gelu, geluNew, silu]) assertGradients(op, [x]);
  // relu away from its kink at 0
  assertGradients(relu, [tensor([-2, -0.5, 0.5, 2], { dtype: "float64", requiresGrad: true })]);
});

test("gradients of softmax and logSoftmax along each axis", () => {
  const x = input([3, 4, 5], 6);
  for (const axis of [0, 1, 2]) {
    assertGradients((t) => softmax(t, axis), [x]);
    assertGradients((t) => logSoftmax(t, axis), [x]);
  }
});

test("gradients of layerNorm in x, weight and bias, one and two normalized axes", () => {
  const x = input([3, 2, 4], 7);
  assertGradients((t) => layerNorm(t, 4), [x]);
  assertGradients(
    (t, w, b) => layerNorm(t, 4, { weight: w, bias: b, eps: 1e-5 }),
    [x, input([4], 8), input([4], 9)],
  );
  assertGradients((t, w) => layerNorm(t, [2, 4], { weight: w }), [x, input([2, 4], 10)]);
  const fixedWeight = input([4], 11).detach();
  assertGradients((b) => layerNorm(x.detach(), 4, { weight: fixedWeight, bias: b }), [input([4], 12)]);
});

test("activations, softmax and layerNorm with their gradients agree with PyTorch", {
  skip: !hasTorch,
}, () => {
  const x = input([3, 5], 20, [-3, 3]);
  const w = input([5], 21);
  const b = input([5], 22);
  const g = input([3, 5], 23).detach();
  const script = `
x = torch.tensor(data["x"], dtype=torch.float64, requires_grad=True)
w = torch.tensor(data["w"], dtype=torch.float64, requires_grad=True)
b = torch.tensor(data["b"], dtype=torch.float64, requires_grad=True)
g = torch.tensor(data["g"], dtype=torch.float64)
F = torch.nn.functional
result = {}
for name, fn in [("gelu", F.gelu), ("geluNew", lambda t: F.gelu(t, approximate="tanh")), ("silu", F.silu),
                 ("softmax", lambda t: F.softmax(t, -1)), ("logSoftmax", lambda t: F.log_softmax(t, 0)),
                 ("layerNorm", lambda t: F.layer_norm(t, (5,), w, b, 1e-5)), ("softplus", F.softplus)]:
    y = fn(x)
    grads = torch.autograd.grad(y, [x, w, b], g, allow_unused=True)
    result[name] = [y.flatten().tolist()] + [None if q is None else q.flatten().tolist() for q in grads]
`;
  const flat = (t: Tensor) => Array.from(t.data);
  const reference = runTorch(script, { x: x.toArray(), w: flat(w), b: flat(b), g: g.toArray() }) as Record<
    string,
    Array<number[] | null>
  >;
  const ours: Record<string, (t: Tensor) => Tensor> = {
    gelu,
    geluNew,
    silu,
    softmax: (t) => softmax(t),
    logSoftmax: (t) => logSoftmax(t, 0),
    layerNorm: (t) => layerNorm(t, 5, { weight: w, bias: b }),
    softplus,
  };
  for (const [name, fn] of Object.entries(ours)) {
    for (const t of [x, w, b]) t.grad = null;
    const y = fn(x);
    y.backward(g);
    const [value, gx, gw, gb] = reference[name]!;
    assertClose(y.data, value!, 1e-12);
    assertClose(x.grad!.data, gx!, 1e-12);
    if (gw) assertClose(w.grad!.data, gw, 1e-12);
    if (gb) assertClose(b.grad!.data, gb, 1e-12);
  }
});

test("softplus is finite and exact at the extremes, where torch switches to x above 20", () => {
  const xs = [-700, -40, -20, -1e-8, 0, 1e-8, 20, 40, 800];
  const y = softplus(tensor(xs, { dtype: "float64" })).data;
  // log1p(exp(x)) written out where it neither overflows nor underflows to 0 in double precision
  const expected = xs.map((v) => (v > 30 ? v + Math.exp(-v) : Math.log1p(Math.exp(v))));
  for (let i = 0; i < xs.length; i++) {
    assert.ok(Math.abs(y[i]! - expected[i]!) <= 1e-15 * expected[i]!, `softplus(${xs[i]}) = ${y[i]}`);
  }
  assert.ok(y[0]! > 0, "softplus(-700) is exp(-700), not 0");
  assertGradients(softplus, [input([2, 5], 40, [-30, 30])]);
});
