import assert from "node:assert/strict";
import { test } from "node:test";
import { ArgumentError } from "../../../src/errors.js";
import { abcdParamGroups } from "../../../src/models/layers/abcd-parameter.js";
import { type MuLayer, MuLinear, type MuOptimizer } from "../../../src/models/layers/mu-linear.js";
import { Linear } from "../../../src/nn/linear.js";
import { adam } from "../../../src/optim/adam.js";
import { sgd } from "../../../src/optim/sgd.js";
import { mean, mul, square, sub, sum, Tensor } from "../../../src/tensor/index.js";
import { Generator } from "../../../src/tensor/random.js";
import { assertClose, assertGradients, input } from "../../tensor/helpers.js";

// The seed's tables (cellarium-ml-models-api.txt, MuLinear), transcribed row by row; the columns
// are [input & biases, hidden, output].
const SEED_TABLES = {
  sgd: { a: [-0.5, 0, 0.5], b: [0.5, 0.5, 0.5], d: [0, 0, 0] },
  adam: { a: [0, 1, 1], b: [0, -0.5, 0], d: [1, 2, 1] },
};
const COLUMN = { input: 0, hidden: 1, output: 2 } as const;
const LAYERS: MuLayer[] = ["input", "hidden", "output"];
const OPTIMIZERS: MuOptimizer[] = ["sgd", "adam", "adamw"];

interface Expected {
  width: number;
  multiplier: number;
  initStd: number;
  gradScale: number;
}

// What the seed's formulas give for the weight and the bias of a layer with these settings.
function expected(
  optimizer: MuOptimizer,
  layer: MuLayer,
  s: { inF: number; outF: number; base: number; lrScale: number; weightStd: number; biasStd: number },
): { weight: Expected; bias: Expected } {
  const table = SEED_TABLES[optimizer === "sgd" ? "sgd" : "adam"];
  const entry = (column: number, width: number, std: number): Expected => {
    const r = s.base / width;
    return {
      width,
      multiplier: Math.sqrt(s.lrScale) * r ** table.a[column]!,
      initStd: (std * r ** table.b[column]!) / Math.sqrt(s.lrScale),
      gradScale: (width / s.base) ** table.d[column]!,
    };
  };
  return {
    weight: entry(COLUMN[layer], layer === "input" ? s.outF : s.inF, s.weightStd),
    bias: entry(0, layer === "output" ? s.base : s.outF, s.biasStd),
  };
}

const SETTINGS = { inF: 48, outF: 80, base: 16, lrScale: 2, weightStd: 0.7, biasStd: 0.3 };

function makeLayer(
  optimizer: MuOptimizer,
  layer: MuLayer,
  seed: number,
  dtype: "float32" | "float64" = "float64",
) {
  return new MuLinear(SETTINGS.inF, SETTINGS.outF, {
    bias: true,
    layer,
    optimizer,
    generator: new Generator(seed),
    weightInitStd: SETTINGS.weightStd,
    biasInitStd: SETTINGS.biasStd,
    lrScale: SETTINGS.lrScale,
    baseWidth: SETTINGS.base,
    dtype,
  });
}

test("MuLinear follows the seed's table: widths, multipliers, init stds and gradient scales for every layer and optimizer", () => {
  for (const optimizer of OPTIMIZERS) {
    for (const layer of LAYERS) {
      const where = `${optimizer} ${layer}`;
      const seed = 10 * OPTIMIZERS.indexOf(optimizer) + LAYERS.indexOf(layer);
      const m = makeLayer(optimizer, layer, seed);
      const want = expected(optimizer, layer, SETTINGS);
      for (const [param, e] of [
        [m.weightParam, want.weight],
        [m.biasParam!, want.bias],
      ] as const) {
        assert.equal(param.width, e.width, where);
        assertClose([param.multiplier, param.gradScale], [e.multiplier, e.gradScale], 1e-12);
        assert.equal(param.optimizerLrScale, 1, `${where}: c = 0`);
      }
      // Weight first, then bias, from the layer's generator.
      const generator = new Generator(seed);
      const w = new Float64Array(SETTINGS.outF * SETTINGS.inF);
      generator.fillNormal(w, 0, want.weight.initStd);
      const b = new Float64Array(SETTINGS.outF);
      generator.fillNormal(b, 0, want.bias.initStd);
      assertClose(m.weightParam.unscaled.data, w, 1e-15);
      assertClose(m.biasParam!.unscaled.data, b, 1e-15);
      assert.deepEqual(
        m.namedParameters().map(([name, p]) => [name, p.shape]),
        [
          ["weight_unscaled", [80, 48]],
          ["bias_unscaled", [80]],
        ],
      );
    }
  }
});

test("MuLinear computes x W^T + b with the scaled weight and bias, and its gradients are the table's hooks on the chain rule", () => {
  const n = 3;
  for (const optimizer of OPTIMIZERS) {
    for (const layer of LAYERS) {
      const m = makeLayer(optimizer, layer, 1);
      const want = expected(optimizer, layer, SETTINGS);
      const x = input([n, SETTINGS.inF], 2);
      const r = input([n, SETTINGS.outF], 3);
      const y = m.forward(x);
      // Reference in float64 loops from the unscaled tensors and the expected multipliers.
      const w = m.weightParam.unscaled.data;
      const b = m.biasParam!.unscaled.data;
      const yRef = new Float64Array(n * SETTINGS.outF);
      for (let i = 0; i < n; i++) {
        for (let o = 0; o < SETTINGS.outF; o++) {
          let acc = 0;
          for (let k = 0; k < SETTINGS.inF; k++)
            acc += x.data[i * SETTINGS.inF + k]! * w[o * SETTINGS.inF + k]!;
          yRef[i * SETTINGS.outF + o] = want.weight.multiplier * acc + want.bias.multiplier * b[o]!;
        }
      }
      assertClose(y.data, yRef, 1e-12);
      // L = sum(r * y): dL/dW = r^T x, dL/db = sum over rows of r.
      sum(mul(y, r)).backward();
      const gw = new Float64Array(SETTINGS.outF * SETTINGS.inF);
      const gb = new Float64Array(SETTINGS.outF);
      for (let i = 0; i < n; i++) {
        for (let o = 0; o < SETTINGS.outF; o++) {
          const ro = r.data[i * SETTINGS.outF + o]!;
          gb[o]! += ro;
          for (let k = 0; k < SETTINGS.inF; k++)
            gw[o * SETTINGS.inF + k]! += ro * x.data[i * SETTINGS.inF + k]!;
        }
      }
      const sw = want.weight.gradScale * want.weight.multiplier;
      const sb = want.bias.gradScale * want.bias.multiplier;
      assertClose(
        m.weightParam.unscaled.grad!.data,
        gw.map((v) => sw * v),
        1e-11 * sw,
      );
      assertClose(
        m.biasParam!.unscaled.grad!.data,
        gb.map((v) => sb * v),
        1e-11 * sb,
      );
    }
  }
});

test("MuLinear gradients agree with finite differences (float64): the input always, the parameters where d = 0", () => {
  for (const optimizer of OPTIMIZERS) {
    for (const layer of LAYERS) {
      const m = new MuLinear(5, 4, {
        bias: true,
        layer,
        optimizer,
        generator: new Generator(4),
        biasInitStd: 1,
        lrScale: 3,
        baseWidth: 2,
        dtype: "float64",
      });
      // The hooks of d != 0 scale the parameters' gradients on purpose (checked exactly above).
      const params = optimizer === "sgd" ? [m.weightParam.unscaled, m.biasParam!.unscaled] : [];
      assertGradients((x) => m.forward(x), [input([3, 5], 5), ...params]);
    }
  }
});

test("at width = base width MuLinear is a standard Linear: N(0, std) weights, no multipliers, same forward and training steps", () => {
  const width = 8;
  for (const optimizer of OPTIMIZERS) {
    for (const layer of LAYERS) {
      const mu = new MuLinear(width, width, {
        bias: true,
        layer,
        optimizer,
        generator: new Generator(6),
        weightInitStd: 0.5,
        biasInitStd: 0.2,
        baseWidth: width,
        dtype: "float64",
      });
      const std = new Linear(width, width, { generator: new Generator(0), dtype: "float64" });
      const generator = new Generator(6);
      generator.fillNormal(std.weight.data as Float64Array, 0, 0.5);
      generator.fillNormal(std.bias!.data as Float64Array, 0, 0.2);
      assertClose(mu.weightParam.unscaled.data, std.weight.data, 0);
      assertClose(mu.biasParam!.unscaled.data, std.bias!.data, 0);
      const x = input([4, width], 7);
      const target = input([4, width], 8);
      const optimizers = [mu, std].map((net) =>
        optimizer === "sgd" ? sgd(net.parameters(), { lr: 0.1 }) : adam(net.parameters(), { lr: 0.1 }),
      );
      for (let step = 0; step < 3; step++) {
        const [yMu, yStd] = [mu, std].map((net, i) => {
          const y = net.forward(x);
          net.zeroGrad();
          mean(square(sub(y, target))).backward();
          optimizers[i]!.step();
          return y;
        });
        assertClose(yMu!.data, yStd!.data, 1e-14);
      }
      assertClose(mu.weight.data, std.weight.data, 1e-14);
    }
  }
});

test("MuLinear without a bias, its parameter groups, and its argument checks", () => {
  const m = new MuLinear(3, 2, {
    bias: false,
    layer: "hidden",
    optimizer: "adamw",
    generator: new Generator(0),
  });
  assert.equal(m.bias, null);
  assert.equal(m.biasParam, null);
  assert.deepEqual(
    m.namedParameters().map(([name]) => name),
    ["weight_unscaled"],
  );
  const groups = abcdParamGroups(makeLayer("adam", "hidden", 0));
  assert.deepEqual(
    groups.map((g) => [g.lrScale, g.params.length]),
    [[1, 2]],
  );
  const base = { bias: true, layer: "input", optimizer: "sgd", generator: new Generator(0) } as const;
  assert.throws(() => new MuLinear(0, 2, base), ArgumentError);
  assert.throws(() => new MuLinear(2, 2, { ...base, layer: "middle" as MuLayer }), /layer must be/);
  assert.throws(
    () => new MuLinear(2, 2, { ...base, optimizer: "rmsprop" as MuOptimizer }),
    /optimizer must be/,
  );
  assert.throws(() => new MuLinear(2, 2, { ...base, baseWidth: 0 }), ArgumentError);
  assert.ok(new MuLinear(2, 2, base).forward(new Tensor(new Float32Array(2), [1, 2])).shape.length === 2);
});
