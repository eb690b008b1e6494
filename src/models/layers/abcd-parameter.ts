// abcd-parametrization of one parameter (upstream's abcdParameter; Yang et al., "Feature Learning in
// Infinite-Width Neural Networks", and "Tensor Programs IVb" for Adam). With width n, base width n0,
// initialization std sigma and learning-rate scale alpha given at the base width:
//
//   W = sqrt(alpha) (n0/n)^a w                  the tensor the layer uses (multiplier below)
//   w ~ N(0, sigma (n0/n)^b / sqrt(alpha))      the learnable tensor (zeros when sigma = 0)
//   grad(w) <- (n/n0)^d grad(w)                 a gradient hook, before accumulation
//   lr(w) = (n0/n)^c lr                         the optimizer's lrScale for w (c = 0 upstream)
//
// What the optimizer then does to W (the derivation behind "regular optimizers can be used"):
// backprop gives dL/dw = m dL/dW with m = sqrt(alpha) (n0/n)^a, the hook makes it
// g = (n/n0)^d m dL/dW, and the update of w moves W by m times as much.
// - SGD: dw = -lr (n0/n)^c g, so dW = -lr alpha (n0/n)^(2a+c) (n/n0)^d dL/dW: the seed's effective
//   learning rate alpha (n0/n)^(2a) (n0/n)^c lr, exactly, since its SGD table has d = 0.
// - Adam/AdamW: the update is invariant to the scale of g (up to eps), so dW = m dw is
//   sqrt(alpha) (n0/n)^(a+c) lr times a Theta(1) step: the width scaling of the update again comes
//   from the multiplier, and d only keeps g at Theta(1), i.e. comparable to eps, at every width.
//   (alpha enters as sqrt(alpha) here, as upstream; weight decay shrinks w and W alike.)
// In both cases the width scaling is carried by the multiplier and the hook, so with c = 0 (the
// seed's choice, and MuLinear's) every lrScale is 1; c is ours, for abc-parametrizations that move
// a width factor into the learning rate instead (abcdParamGroups then makes the optimizer groups).

import { ArgumentError } from "../../errors.js";
import type { Parameter } from "../../nn/module.js";
import { mul } from "../../tensor/ops/elementwise.js";
import type { Generator } from "../../tensor/random.js";
import type { FloatArray, Tensor } from "../../tensor/tensor.js";

export interface AbcdParameterOptions {
  /** Draws the initial values (none are drawn when initStd is 0). */
  generator: Generator;
  /** The width n of the parameter (default 1). */
  width?: number;
  /** Exponent of the multiplier (default 0). */
  a?: number;
  /** Exponent of the initialization std (default 0). */
  b?: number;
  /** Exponent of the optimizer's lrScale (default 0, as upstream, where c is always 0). */
  c?: number;
  /** Exponent of the gradient scale (default 0). */
  d?: number;
  /** The initialization std sigma at the base width (default 1). */
  initStd?: number;
  /** The learning-rate scale alpha at the base width (default 1). */
  lrScale?: number;
  /** The base width n0 (default 1). */
  baseWidth?: number;
}

// The abcd-parameter behind a learnable tensor, so that abcdParamGroups finds it from a module's
// parameter list without the module having to declare anything.
const owners = new WeakMap<Tensor, AbcdParameter>();

/**
 * A learnable tensor under an abcd-parametrization (upstream's `abcdParameter`, muP; Yang et al.):
 * the tensor a layer uses is a width-scaled multiple of the learnt one, with a gradient hook and a
 * learning-rate scale, so that hyper-parameters tuned at a small base width transfer to larger
 * widths. See docs/mup.md.
 */
export class AbcdParameter {
  /** The learnable tensor w; a module registers it (upstream names: weight_unscaled, bias_unscaled). */
  readonly unscaled: Parameter;
  readonly width: number;
  readonly a: number;
  readonly b: number;
  readonly c: number;
  readonly d: number;
  readonly initStd: number;
  readonly lrScale: number;
  readonly baseWidth: number;
  /** sqrt(alpha) (n0/n)^a: W = multiplier * w. */
  readonly multiplier: number;
  /** (n/n0)^d, applied to the gradient of w. */
  readonly gradScale: number;
  /** (n0/n)^c: the lrScale of w's optimizer group. */
  readonly optimizerLrScale: number;

  /**
   * Takes `data` (a float tensor; its values are overwritten by the initialization) as w, marks it
   * as requiring grad and registers the gradient hook on it.
   */
  constructor(data: Tensor, options: AbcdParameterOptions) {
    const where = "AbcdParameter";
    if (data.dtype === "int32") throw new ArgumentError(`${where}: data must be a float tensor, got int32`);
    this.width = positiveInteger(options.width ?? 1, "width");
    this.baseWidth = positiveInteger(options.baseWidth ?? 1, "baseWidth");
    this.a = finite(options.a ?? 0, "a");
    this.b = finite(options.b ?? 0, "b");
    this.c = finite(options.c ?? 0, "c");
    this.d = finite(options.d ?? 0, "d");
    this.initStd = options.initStd ?? 1;
    if (!(this.initStd >= 0) || !Number.isFinite(this.initStd))
      throw new ArgumentError(`${where}: initStd must be a finite number >= 0, got ${this.initStd}`);
    this.lrScale = options.lrScale ?? 1;
    // alpha divides the initialization std, so it must be positive.
    if (!(this.lrScale > 0) || !Number.isFinite(this.lrScale))
      throw new ArgumentError(`${where}: lrScale must be a finite number > 0, got ${this.lrScale}`);

    const ratio = this.baseWidth / this.width; // n0 / n
    this.multiplier = Math.sqrt(this.lrScale) * ratio ** this.a;
    this.gradScale = ratio ** -this.d;
    this.optimizerLrScale = ratio ** this.c;

    const w = data.data as FloatArray;
    // upstream zeroes w without drawing when the std is 0, so no random numbers are consumed.
    if (this.initStd === 0) w.fill(0);
    else options.generator.fillNormal(w, 0, (this.initStd * ratio ** this.b) / Math.sqrt(this.lrScale));
    data.requiresGrad = true;
    const gradScale = this.gradScale;
    // d = 0 leaves the gradient as it is (upstream's hook returns it unchanged).
    if (gradScale !== 1) data.registerHook((grad) => mul(grad, gradScale));
    this.unscaled = data as Parameter;
    owners.set(data, this);
  }

  /** W = multiplier * w, recorded for autograd (w itself when the multiplier is 1). */
  value(): Tensor {
    return this.multiplier === 1 ? this.unscaled : mul(this.unscaled, this.multiplier);
  }
}

/** The abcd-parameter whose learnable tensor is `tensor`, if any. */
export function abcdParameterOf(tensor: Tensor): AbcdParameter | undefined {
  return owners.get(tensor);
}

/** One optimizer parameter group: parameters sharing a learning-rate scale. */
export interface AbcdParamGroup {
  readonly params: Parameter[];
  readonly lrScale: number;
}

/**
 * A module's parameters as optimizer groups by lrScale, for CellariumModule's `paramGroups`: each
 * abcd-parameter's w gets its (n0/n)^c, every other parameter 1. Groups are ordered by their first
 * parameter, parameters keep the module's order. With c = 0 throughout (MuLinear) this is one group.
 */
export function abcdParamGroups(module: { parameters(): Parameter[] }): AbcdParamGroup[] {
  const groups = new Map<number, Parameter[]>();
  for (const param of module.parameters()) {
    const lrScale = owners.get(param)?.optimizerLrScale ?? 1;
    const params = groups.get(lrScale);
    if (params) params.push(param);
    else groups.set(lrScale, [param]);
  }
  return [...groups].map(([lrScale, params]) => ({ params, lrScale }));
}

function positiveInteger(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 1)
    throw new ArgumentError(`AbcdParameter: ${name} must be a positive integer, got ${value}`);
  return value;
}

function finite(value: number, name: string): number {
  if (!Number.isFinite(value)) throw new ArgumentError(`AbcdParameter: ${name} must be finite, got ${value}`);
  return value;
}
