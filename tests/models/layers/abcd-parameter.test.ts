import assert from "node:assert/strict";
import { test } from "node:test";
import { ArgumentError } from "../../../src/errors.js";
import {
  AbcdParameter,
  type AbcdParameterOptions,
  abcdParameterOf,
  abcdParamGroups,
} from "../../../src/models/layers/abcd-parameter.js";
import type { CellariumModel } from "../../../src/models/model.js";
import { Module, type Parameter } from "../../../src/nn/module.js";
import { adam } from "../../../src/optim/adam.js";
import { sgd } from "../../../src/optim/sgd.js";
import { mul, sum, Tensor, tensor, zeros } from "../../../src/tensor/index.js";
import { Generator } from "../../../src/tensor/random.js";
import { CellariumModule } from "../../../src/train/cellarium-module.js";
import { assertClose } from "../../tensor/helpers.js";

// Parametrizations with every exponent away from 0 and widths both above and below the base width.
const CASES: Array<Omit<AbcdParameterOptions, "generator">> = [
  { width: 256, baseWidth: 64, a: 1, b: -0.5, c: 0, d: 2, initStd: 0.3, lrScale: 1 },
  { width: 32, baseWidth: 128, a: -0.5, b: 0.5, c: 1, d: 0, initStd: 2, lrScale: 4 },
  { width: 1000, baseWidth: 10, a: 0.5, b: 0.5, c: -0.5, d: 1, initStd: 0.05, lrScale: 0.25 },
];

function makeParameter(options: Omit<AbcdParameterOptions, "generator">, seed: number): AbcdParameter {
  return new AbcdParameter(zeros([3, 5], { dtype: "float64" }), {
    ...options,
    generator: new Generator(seed),
  });
}

function ratio(o: Omit<AbcdParameterOptions, "generator">): number {
  return o.baseWidth! / o.width!;
}

test("AbcdParameter draws w ~ N(0, sigma (n0/n)^b / sqrt(alpha)) and uses W = sqrt(alpha) (n0/n)^a w", () => {
  for (const [i, o] of CASES.entries()) {
    const p = makeParameter(o, i);
    // The same draws from the same seed, scaled by the seed's std formula.
    const expected = new Float64Array(15);
    new Generator(i).fillNormal(expected, 0, (o.initStd! * ratio(o) ** o.b!) / Math.sqrt(o.lrScale!));
    assertClose(p.unscaled.data, expected, 0);
    const multiplier = Math.sqrt(o.lrScale!) * ratio(o) ** o.a!;
    assertClose([p.multiplier], [multiplier], 1e-15 * multiplier);
    assertClose(
      p.value().data,
      expected.map((w) => multiplier * w),
      1e-15,
    );
    assert.ok(p.unscaled.requiresGrad);
    assert.equal(abcdParameterOf(p.unscaled), p);
  }
});

test("AbcdParameter with initStd 0 starts at zero and draws nothing; defaults are the seed's", () => {
  const generator = new Generator(7);
  const p = new AbcdParameter(tensor([1, 2, 3], { dtype: "float32" }), { generator, initStd: 0 });
  assert.deepEqual([...p.unscaled.data], [0, 0, 0]);
  assert.deepEqual(generator.getState(), new Generator(7).getState());
  const defaults = new AbcdParameter(zeros([2]), { generator });
  assert.deepEqual(
    [defaults.width, defaults.a, defaults.b, defaults.c, defaults.d, defaults.initStd, defaults.lrScale],
    [1, 0, 0, 0, 0, 1, 1],
  );
  assert.equal(defaults.baseWidth, 1);
  assert.equal(defaults.value(), defaults.unscaled, "a multiplier of 1 adds no op");
});

test("the gradient of w is (n/n0)^d times the chain rule's sqrt(alpha) (n0/n)^a dL/dW", () => {
  for (const [i, o] of CASES.entries()) {
    const p = makeParameter(o, i);
    const r = pattern((k) => Math.sin(k + 1));
    // L = sum(r * W): dL/dW = r.
    sum(mul(p.value(), r)).backward();
    const scale = ratio(o) ** -o.d! * Math.sqrt(o.lrScale!) * ratio(o) ** o.a!;
    assertClose(
      p.unscaled.grad!.data,
      r.data.map((v) => scale * v),
      1e-13 * scale,
    );
  }
});

test("SGD moves W by alpha (n0/n)^(2a) (n0/n)^c (n/n0)^d lr dL/dW (the seed's effective learning rate when d = 0)", () => {
  const lr = 0.1;
  for (const [i, o] of CASES.entries()) {
    const p = makeParameter(o, i);
    const w0 = Float64Array.from(p.value().data);
    const r = pattern(Math.cos);
    sum(mul(p.value(), r)).backward();
    sgd(abcdParamGroups({ parameters: () => [p.unscaled] }), { lr }).step();
    const effective = o.lrScale! * ratio(o) ** (2 * o.a! + o.c!) * ratio(o) ** -o.d! * lr;
    const moved = p.value().data.map((v, k) => v - w0[k]!);
    assertClose(
      moved,
      r.data.map((v) => -effective * v),
      1e-12 * effective,
    );
  }
});

test("Adam moves W by sqrt(alpha) (n0/n)^(a+c) lr per step whatever d is (the update ignores the gradient's scale)", () => {
  const lr = 0.01;
  for (const [i, o] of CASES.entries()) {
    const p = makeParameter(o, i);
    const w0 = Float64Array.from(p.value().data);
    const r = pattern(Math.cos);
    sum(mul(p.value(), r)).backward();
    // eps 0: the first Adam step is exactly -lr * sign(gradient).
    adam(abcdParamGroups({ parameters: () => [p.unscaled] }), { lr, eps: 0 }).step();
    const effective = Math.sqrt(o.lrScale!) * ratio(o) ** (o.a! + o.c!) * lr;
    const moved = p.value().data.map((v, k) => v - w0[k]!);
    assertClose(
      moved,
      r.data.map((v) => -effective * Math.sign(v)),
      1e-12 * effective,
    );
  }
});

class Mixed extends Module {
  readonly p1: AbcdParameter;
  readonly p2: AbcdParameter;
  readonly p3: AbcdParameter;
  readonly plain: Parameter;
  constructor() {
    super();
    const generator = new Generator(1);
    const make = (c: number) => new AbcdParameter(zeros([2]), { generator, width: 256, baseWidth: 64, c });
    this.p1 = make(1);
    this.registerParameter("p1", this.p1.unscaled);
    this.plain = this.registerParameter("plain", zeros([2]));
    this.p2 = make(0);
    this.registerParameter("p2", this.p2.unscaled);
    this.p3 = make(1);
    this.registerParameter("p3", this.p3.unscaled);
  }
}

test("abcdParamGroups groups a module's parameters by (n0/n)^c, others at 1, and CellariumModule passes them on", () => {
  const net = new Mixed();
  const groups = abcdParamGroups(net);
  assert.deepEqual(
    groups.map((g) => g.lrScale),
    [0.25, 1],
  );
  assert.deepEqual(groups[0]!.params, [net.p1.unscaled, net.p3.unscaled]);
  assert.deepEqual(groups[1]!.params, [net.plain, net.p2.unscaled]);
  const model = { parameters: () => net.parameters() } as unknown as CellariumModel;
  const module = new CellariumModule({
    model,
    optimizer: { name: "torch.optim.AdamW", kwargs: { lr: 0.1 } },
    paramGroups: () => abcdParamGroups(net),
  });
  const { optimizer } = module.configureOptimizers()!;
  assert.deepEqual(
    optimizer.paramGroups.map((g) => [g.lrScale, g.params.length]),
    [
      [0.25, 2],
      [1, 2],
    ],
  );
});

test("AbcdParameter refuses bad widths, exponents, stds and learning-rate scales", () => {
  const generator = new Generator(0);
  for (const bad of [{ width: 0 }, { baseWidth: 1.5 }, { a: Number.NaN }, { initStd: -1 }, { lrScale: 0 }]) {
    assert.throws(
      () => new AbcdParameter(zeros([2]), { generator, ...bad }),
      ArgumentError,
      JSON.stringify(bad),
    );
  }
  assert.throws(() => new AbcdParameter(zeros([2], { dtype: "int32" }), { generator }), ArgumentError);
});

/** A float64 [3, 5] tensor (the shape of makeParameter's) with values f(k). */
function pattern(f: (k: number) => number): Tensor {
  return new Tensor(
    Float64Array.from({ length: 15 }, (_, k) => f(k)),
    [3, 5],
  );
}
