import assert from "node:assert/strict";
import { ArgumentError, CheckpointError } from "../../src/errors.js";
import { decodeSafetensors, encodeSafetensors } from "../../src/formats/safetensors.js";
import { Dropout, LayerNorm, Linear, Module, ModuleList } from "../../src/nn/index.js";
import { ones, type Tensor, tensor, zeros } from "../../src/tensor/index.js";
import { Generator } from "../../src/tensor/random.js";
import { test } from "../helpers/backends.js";

class Block extends Module {
  readonly dense: Linear;
  readonly norm: LayerNorm;
  readonly drop: Dropout;
  readonly count: Tensor;
  constructor(generator: Generator) {
    super();
    this.dense = this.registerModule("dense", new Linear(3, 2, { generator }));
    this.norm = this.registerModule("LayerNorm", new LayerNorm(2));
    this.drop = this.registerModule("dropout", new Dropout(0.5, generator));
    this.count = this.registerBuffer("count", zeros([1]));
  }
}

class Net extends Module {
  readonly layers: Block[];
  readonly scale: Tensor;
  constructor(seed: number) {
    super();
    const generator = new Generator(seed);
    this.scale = this.registerParameter("scale", ones([2]));
    this.layers = [
      ...this.registerModule("layer", new ModuleList([0, 1].map(() => new Block(generator)))).items,
    ];
  }
}

const NAMES = [
  "scale",
  "layer.0.dense.weight",
  "layer.0.dense.bias",
  "layer.0.LayerNorm.weight",
  "layer.0.LayerNorm.bias",
  "layer.1.dense.weight",
  "layer.1.dense.bias",
  "layer.1.LayerNorm.weight",
  "layer.1.LayerNorm.bias",
];

test("parameters and buffers get torch's dotted names in registration order", () => {
  const net = new Net(1);
  assert.deepEqual(
    net.namedParameters().map(([n]) => n),
    NAMES,
  );
  assert.ok(net.parameters().every((p) => p.requiresGrad));
  assert.deepEqual(
    net.namedBuffers().map(([n]) => n),
    ["layer.0.count", "layer.1.count"],
  );
  assert.deepEqual(Object.keys(net.stateDict()), [...NAMES, "layer.0.count", "layer.1.count"]);
  assert.equal(net.stateDict()["layer.1.dense.weight"], net.layers[1]!.dense.weight);
  assert.deepEqual(
    net.namedModules().map(([n]) => n),
    [
      "",
      "layer",
      "layer.0",
      "layer.0.dense",
      "layer.0.LayerNorm",
      "layer.0.dropout",
      "layer.1",
      "layer.1.dense",
      "layer.1.LayerNorm",
      "layer.1.dropout",
    ],
  );
});

test("a tensor registered twice (tied weights) is listed once; bad or repeated names throw", () => {
  class Tied extends Module {
    constructor() {
      super();
      const w = zeros([2]);
      this.registerParameter("a", w);
      this.registerParameter("b", w);
      assert.throws(() => this.registerParameter("a", zeros([1])), ArgumentError);
      assert.throws(() => this.registerBuffer("x.y", zeros([1])), ArgumentError);
    }
  }
  assert.deepEqual(
    new Tied().namedParameters().map(([n]) => n),
    ["a"],
  );
});

test("stateDict round-trips through safetensors into a differently initialized module", () => {
  const a = new Net(1);
  a.layers[0]!.count.data[0] = 7;
  const bytes = encodeSafetensors(
    Object.fromEntries(
      Object.entries(a.stateDict()).map(([k, t]) => [
        k,
        { dtype: "F32", shape: t.shape, data: t.data as Float32Array },
      ]),
    ),
  );
  const b = new Net(2);
  assert.notDeepEqual(b.layers[0]!.dense.weight.data, a.layers[0]!.dense.weight.data);
  const weightBefore = b.layers[0]!.dense.weight;
  const decoded = decodeSafetensors(bytes).tensors;
  const result = b.loadStateDict(
    Object.fromEntries(
      Object.entries(decoded).map(([k, t]) => [k, tensor(t.data as Float32Array, { shape: t.shape })]),
    ),
  );
  assert.deepEqual(result, { missingKeys: [], unexpectedKeys: [] });
  for (const [k, t] of Object.entries(a.stateDict())) assert.deepEqual(b.stateDict()[k]!.data, t.data, k);
  // loaded in place: the tensor objects an optimizer holds are unchanged
  assert.equal(b.layers[0]!.dense.weight, weightBefore);
});

test("loadStateDict names missing and unexpected keys and mismatched shapes or dtypes, and copies nothing then", () => {
  const net = new Net(1);
  const dict = { ...net.stateDict() };
  const copy = () => Object.fromEntries(Object.entries(dict).map(([k, t]) => [k, t.clone()]));
  const missing = copy();
  delete missing["layer.1.dense.bias"];
  assert.throws(
    () => net.loadStateDict(missing),
    (e) => e instanceof CheckpointError && /missing keys "layer\.1\.dense\.bias"/.test(e.message),
  );
  const extra = { ...copy(), "layer.2.dense.bias": zeros([2]) };
  assert.throws(
    () => net.loadStateDict(extra),
    (e) => e instanceof CheckpointError && /unexpected keys "layer\.2\.dense\.bias"/.test(e.message),
  );
  // not strict: both are reported instead
  assert.deepEqual(net.loadStateDict({ ...missing, extra: zeros([1]) }, { strict: false }), {
    missingKeys: ["layer.1.dense.bias"],
    unexpectedKeys: ["extra"],
  });
  const before = net.layers[0]!.dense.weight.data.slice();
  const shaped = { ...copy(), "layer.0.dense.weight": zeros([3, 2]), scale: ones([2]).clone() };
  shaped.scale!.data.fill(5);
  assert.throws(
    () => net.loadStateDict(shaped),
    (e) =>
      e instanceof CheckpointError &&
      /"layer\.0\.dense\.weight" is float32\[3, 2\] in the checkpoint, float32\[2, 3\]/.test(e.message),
  );
  assert.deepEqual(net.scale.data, ones([2]).data);
  assert.deepEqual(net.layers[0]!.dense.weight.data, before);
  const typed = { ...copy(), scale: ones([2], { dtype: "float64" }) };
  assert.throws(
    () => net.loadStateDict(typed, { strict: false }),
    (e) => e instanceof CheckpointError && /"scale" is float64\[2\]/.test(e.message),
  );
});

test("train() and eval() reach every descendant; dropout follows the mode", () => {
  const net = new Net(1);
  assert.ok(net.namedModules().every(([, m]) => m.training));
  assert.equal(net.eval(), net);
  assert.ok(net.namedModules().every(([, m]) => !m.training));
  const x = ones([4, 2]);
  assert.equal(net.layers[0]!.drop.forward(x), x);
  net.layers[1]!.train();
  assert.ok(!net.training && net.layers[1]!.drop.training && !net.layers[0]!.drop.training);
  assert.notEqual(net.layers[1]!.drop.forward(x), x);
});

test("zeroGrad drops every parameter's gradient", () => {
  const net = new Net(1);
  for (const p of net.parameters()) (p as Tensor).grad = ones(p.shape);
  net.zeroGrad();
  assert.ok(net.parameters().every((p) => p.grad === null));
});
