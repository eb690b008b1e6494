import assert from "node:assert/strict";
import { test } from "node:test";
import { ArgumentError } from "../../../src/errors.js";
import { BertLayer, type BertLayerConfig, extendedAttentionMask } from "../../../src/models/layers/bert.js";
import { randn, tensor } from "../../../src/tensor/index.js";
import { Generator } from "../../../src/tensor/random.js";
import { runPython } from "../../helpers/python.js";
import { assertClose, assertGradients, hasTorch, input } from "../../tensor/helpers.js";

// Hugging Face BertLayer's state dict keys, in its registration order.
const HF_KEYS = [
  "attention.self.query.weight",
  "attention.self.query.bias",
  "attention.self.key.weight",
  "attention.self.key.bias",
  "attention.self.value.weight",
  "attention.self.value.bias",
  "attention.output.dense.weight",
  "attention.output.dense.bias",
  "attention.output.LayerNorm.weight",
  "attention.output.LayerNorm.bias",
  "intermediate.dense.weight",
  "intermediate.dense.bias",
  "output.dense.weight",
  "output.dense.bias",
  "output.LayerNorm.weight",
  "output.LayerNorm.bias",
];

const config: BertLayerConfig = {
  hiddenSize: 8,
  numAttentionHeads: 2,
  intermediateSize: 12,
  hiddenAct: "gelu",
  hiddenDropoutProb: 0,
  attentionProbsDropoutProb: 0,
  layerNormEps: 1e-12,
};

// A plain torch implementation of Hugging Face's BertLayer (eval semantics, dropout 0).
const TORCH_BERT = `
import json, math, sys, torch
import torch.nn.functional as F
d = json.load(sys.stdin)
b, s, h, heads, eps = d["b"], d["s"], d["h"], d["heads"], d["eps"]
dh = h // heads
P = {k: torch.tensor(v, dtype=torch.float32).reshape(d["shapes"][k]).requires_grad_(True) for k, v in d["state"].items()}
x = torch.tensor(d["x"], dtype=torch.float32).reshape(b, s, h).requires_grad_(True)
mask = torch.tensor(d["mask"], dtype=torch.float32).reshape(b, s)
ext = (1.0 - mask[:, None, None, :]) * torch.finfo(torch.float32).min
lin = lambda t, n: F.linear(t, P[n + ".weight"], P[n + ".bias"])
ln = lambda t, n: F.layer_norm(t, (h,), P[n + ".weight"], P[n + ".bias"], eps)
split = lambda t: t.view(b, s, heads, dh).permute(0, 2, 1, 3)
q, k, v = (split(lin(x, "attention.self." + n)) for n in ("query", "key", "value"))
probs = (q @ k.transpose(-1, -2) / math.sqrt(dh) + ext).softmax(-1)
ctx = (probs @ v).permute(0, 2, 1, 3).reshape(b, s, h)
a = ln(lin(ctx, "attention.output.dense") + x, "attention.output.LayerNorm")
y = ln(lin(F.gelu(lin(a, "intermediate.dense")), "output.dense") + a, "output.LayerNorm")
y.backward(torch.tensor(d["grad"], dtype=torch.float32).reshape(b, s, h))
out = {"y": y.flatten().tolist(), "x": x.grad.flatten().tolist()}
out.update({k: p.grad.flatten().tolist() for k, p in P.items()})
print(json.dumps(out))
`;

// max |ours - ref| relative to the reference's largest magnitude
function assertRelative(ours: ArrayLike<number>, ref: number[], tol: number, what: string): void {
  assert.equal(ours.length, ref.length, what);
  let scale = 0;
  let worst = 0;
  for (let i = 0; i < ref.length; i++) {
    scale = Math.max(scale, Math.abs(ref[i]!));
    worst = Math.max(worst, Math.abs(ours[i]! - ref[i]!));
  }
  assert.ok(worst <= tol * scale, `${what}: max difference ${worst} vs scale ${scale}`);
}

test("BertLayer's parameters carry Hugging Face's names", () => {
  const layer = new BertLayer(config, { generator: new Generator(0) });
  assert.deepEqual(
    layer.namedParameters().map(([n]) => n),
    HF_KEYS,
  );
  assert.throws(
    () => new BertLayer({ ...config, numAttentionHeads: 3 }, { generator: new Generator(0) }),
    ArgumentError,
  );
  assert.throws(
    () => new BertLayer({ ...config, hiddenAct: "tanh" as "gelu" }, { generator: new Generator(0) }),
    ArgumentError,
  );
});

test("BertLayer forward and gradients equal a torch implementation of Hugging Face's layer (float32)", {
  skip: !hasTorch,
}, () => {
  const [b, s, h] = [3, 6, config.hiddenSize];
  const generator = new Generator(1);
  const layer = new BertLayer(config, { generator });
  // LayerNorm weights away from 1/0 so that their gradients matter
  for (const [name, p] of layer.namedParameters())
    if (name.includes("LayerNorm")) generator.fillUniform(p.data, 0.5, 1.5);
  const x = randn([b, s, h], generator).requireGrad();
  const maskValues = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 0, 0, 0];
  const mask = tensor(maskValues, { dtype: "int32", shape: [b, s] });
  const grad = randn([b, s, h], generator);
  const y = layer.forward(x, extendedAttentionMask(mask));
  y.backward(grad);
  const state = layer.stateDict();
  const ref = runPython(TORCH_BERT, {
    b,
    s,
    h,
    heads: config.numAttentionHeads,
    eps: config.layerNormEps,
    state: Object.fromEntries(Object.entries(state).map(([k, t]) => [k, Array.from(t.data)])),
    shapes: Object.fromEntries(Object.entries(state).map(([k, t]) => [k, t.shape])),
    x: Array.from(x.data),
    mask: maskValues,
    grad: Array.from(grad.data),
  }) as Record<string, number[]>;
  assertRelative(y.data, ref["y"]!, 1e-4, "output");
  assertRelative(x.grad!.data, ref["x"]!, 1e-4, "input gradient");
  for (const [name, p] of layer.namedParameters()) {
    // The key bias shifts every score of a query's row equally, which softmax ignores: its exact
    // gradient is 0, and both sides hold only rounding noise there.
    if (name === "attention.self.key.bias") {
      for (const side of [p.grad!.data, ref[name]!]) assertClose(side, new Array(side.length).fill(0), 1e-5);
    } else {
      assertRelative(p.grad!.data, ref[name]!, 1e-4, name);
    }
  }
});

test("gradients through BertLayer in float64 (gradcheck), with a padding mask", () => {
  const tiny: BertLayerConfig = { ...config, hiddenSize: 4, intermediateSize: 6, layerNormEps: 1e-5 };
  const layer = new BertLayer(tiny, { generator: new Generator(2), dtype: "float64" });
  const mask = extendedAttentionMask(
    tensor([1, 1, 0, 1, 1, 1], { dtype: "int32", shape: [2, 3] }),
    "float64",
  );
  const params = layer.parameters();
  assertGradients((x) => layer.forward(x, mask), [input([2, 3, 4], 3), ...params], {
    rtol: 1e-4,
    atol: 1e-6,
  });
});

test("dropout acts only in training mode; evaluation equals the dropout-free layer", () => {
  const dropping = new BertLayer(
    { ...config, hiddenDropoutProb: 0.3, attentionProbsDropoutProb: 0.3 },
    { generator: new Generator(4), dtype: "float64" },
  );
  const plain = new BertLayer(config, { generator: new Generator(5), dtype: "float64" });
  plain.loadStateDict(dropping.stateDict());
  const x = input([2, 3, 8], 6);
  const y = plain.forward(x);
  assertClose(dropping.eval().forward(x).data, y.data, 0);
  const trained = dropping.train().forward(x).data;
  assert.ok(trained.some((v, i) => Math.abs(v - y.data[i]!) > 1e-6));
});
