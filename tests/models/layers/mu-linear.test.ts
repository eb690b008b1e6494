import assert from "node:assert/strict";
import { test } from "node:test";
import { ArgumentError } from "../../../src/errors.js";
import { abcdParamGroups } from "../../../src/models/layers/abcd-parameter.js";
import { type MuLayer, MuLinear, type MuOptimizer } from "../../../src/models/layers/mu-linear.js";
import { normalInit } from "../../../src/nn/init.js";
import { Linear } from "../../../src/nn/linear.js";
import { adam } from "../../../src/optim/adam.js";
import { sgd } from "../../../src/optim/sgd.js";
import { mean, mul, noGrad, randn, relu, square, sub, sum, Tensor } from "../../../src/tensor/index.js";
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

// Coordinate check (Yang et al., Tensor Programs V, appendix J.2): train the same 3-layer ReLU MLP at
// growing widths for a few steps and fit log(statistic) against log(width). Under muP the hidden
// activations, their change during training, the change of the output and of each bias, and (Adam)
// each parameter's hooked gradient stay Theta(1), so their slopes are ~0; under the standard
// parametrization (N(0, 1/fan_in) weights, one learning rate) the changes of the hidden layer and of
// the output grow ~n. The output weights start at zero in both (a "zero readout", as upstream's check).
// Checked by hand: raising any one table entry by 0.5 fails this test (slopes of +-0.45 to 1, SGD's
// bias d 0.14), except b of the output weights and of the biases, which scale a zero initialization
// here; the table test above pins those.
const D_IN = 16;
const D_OUT = 4;
const BATCH = 32;
const BASE_WIDTH = 64;
const WIDTHS = [64, 128, 256, 512, 1024];
const SEEDS = 2;
const STEPS = 5;

type Layer = Linear | MuLinear;

function muMlp(width: number, optimizer: MuOptimizer, generator: Generator): Layer[] {
  const common = { bias: true, optimizer, generator, baseWidth: BASE_WIDTH };
  return [
    new MuLinear(D_IN, width, { ...common, layer: "input", weightInitStd: 1 / Math.sqrt(D_IN) }),
    new MuLinear(width, width, { ...common, layer: "hidden", weightInitStd: 1 / Math.sqrt(BASE_WIDTH) }),
    new MuLinear(width, D_OUT, { ...common, layer: "output", weightInitStd: 0 }),
  ];
}

function standardMlp(width: number, generator: Generator): Layer[] {
  return [
    [D_IN, width],
    [width, width],
    [width, D_OUT],
  ].map(([inF, outF]) => {
    const layer = new Linear(inF!, outF!, { generator });
    // Zero readout, as the muP model's output layer.
    normalInit(layer.weight, generator, 0, outF === D_OUT ? 0 : 1 / Math.sqrt(inF!));
    layer.bias!.data.fill(0);
    return layer;
  });
}

/** The hidden activations, the output and the biases (copies). */
function snapshot(layers: Layer[], x: Tensor): Float32Array[] {
  return noGrad(() => {
    const h1 = relu(layers[0]!.forward(x));
    const h2 = relu(layers[1]!.forward(h1));
    const f = layers[2]!.forward(h2);
    return [h1, h2, f, layers[0]!.bias!, layers[1]!.bias!].map((t) => Float32Array.from(t.data));
  });
}

function rms(a: ArrayLike<number>, b?: ArrayLike<number>): number {
  let total = 0;
  for (let i = 0; i < a.length; i++) total += (a[i]! - (b?.[i] ?? 0)) ** 2;
  return Math.sqrt(total / a.length);
}

/** Least-squares slope of log(y) against log(width). */
function logLogSlope(ys: number[]): number {
  const lx = WIDTHS.map(Math.log);
  const ly = ys.map(Math.log);
  const mx = lx.reduce((s, v) => s + v) / lx.length;
  const my = ly.reduce((s, v) => s + v) / ly.length;
  let num = 0;
  let den = 0;
  for (let i = 0; i < lx.length; i++) {
    num += (lx[i]! - mx) * (ly[i]! - my);
    den += (lx[i]! - mx) ** 2;
  }
  return num / den;
}

/** Slopes of each statistic, averaged over seeds before the fit. */
function coordCheck(
  parametrization: "mup" | "sp",
  optimizer: MuOptimizer,
  lr: number,
): Record<string, number> {
  const perWidth = WIDTHS.map(() => new Map<string, number>());
  for (let seed = 0; seed < SEEDS; seed++) {
    const data = new Generator(100 + seed);
    const x = randn([BATCH, D_IN], data);
    const y = randn([BATCH, D_OUT], data);
    WIDTHS.forEach((width, w) => {
      const generator = new Generator(seed);
      const layers =
        parametrization === "mup" ? muMlp(width, optimizer, generator) : standardMlp(width, generator);
      const named = layers.flatMap((l, i) =>
        l.namedParameters().map(([name, p]) => [`fc${i + 1}.${name}`, p] as const),
      );
      const params = named.map(([, p]) => p);
      const opt = optimizer === "sgd" ? sgd(params, { lr }) : adam(params, { lr });
      const before = snapshot(layers, x);
      const stats = new Map<string, number>();
      for (let step = 0; step < STEPS; step++) {
        for (const p of params) p.grad = null;
        const f = layers[2]!.forward(relu(layers[1]!.forward(relu(layers[0]!.forward(x)))));
        mean(square(sub(f, y))).backward();
        // d's purpose: Adam's gradients (after the hooks) are Theta(1), so eps acts alike at every width.
        if (step === STEPS - 1 && optimizer !== "sgd") {
          for (const [name, p] of named) stats.set(`grad ${name}`, rms(p.grad!.data));
        }
        opt.step();
      }
      const after = snapshot(layers, x);
      stats.set("h1", rms(after[0]!));
      stats.set("h2", rms(after[1]!));
      for (const [i, name] of ["dh1", "dh2", "df", "db1", "db2"].entries()) {
        stats.set(name, rms(after[i]!, before[i]!));
      }
      for (const [name, value] of stats)
        perWidth[w]!.set(name, (perWidth[w]!.get(name) ?? 0) + value / SEEDS);
    });
  }
  return Object.fromEntries(
    [...perWidth[0]!.keys()].map((name) => [name, logLogSlope(perWidth.map((m) => m.get(name)!))]),
  );
}

for (const [optimizer, lr] of [
  ["adam", 1e-3],
  ["sgd", 5e-3],
] as const) {
  test(`coordinate check with ${optimizer}: muP activations, their changes and gradients stay flat in width, standard ones grow`, () => {
    const mup = coordCheck("mup", optimizer, lr);
    for (const [name, slope] of Object.entries(mup)) {
      assert.ok(Math.abs(slope) < 0.1, `muP ${name}: log-log slope ${slope.toFixed(3)} vs width`);
    }
    const sp = coordCheck("sp", optimizer, lr);
    for (const name of ["dh2", "df"]) {
      assert.ok(sp[name]! > 0.5, `standard ${name}: log-log slope ${sp[name]!.toFixed(3)} vs width`);
    }
  });
}
