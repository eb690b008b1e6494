// Neural-network ops: activations, softmax, logSoftmax and layerNorm. Softmax and layerNorm run on
// the row kernels over the last axis (or last axes), forward and backward, so that a BERT
// layer allocates one output per op and nothing per element.

import { ArgumentError } from "../../errors.js";
import { kernels } from "../kernels/index.js";
import { normalizeAxis } from "../strided.js";
import { allocate, type FloatArray, formatShape, record, sameShape, sizeOf, Tensor } from "../tensor.js";
import { unaryOp } from "./elementwise.js";
import { transpose } from "./shape.js";

/** Elementwise max(x, 0); its gradient at 0 is 0, as torch's. */
export function relu(x: Tensor): Tensor {
  return unaryOp(
    "relu",
    x,
    (s, d) => {
      for (let i = 0; i < s.length; i++) d[i] = Math.max(s[i]!, 0);
    },
    (g, x, _y, d) => {
      for (let i = 0; i < g.length; i++) d[i] = x[i]! > 0 ? g[i]! : 0;
    },
  );
}

/**
 * softplus(x) = log(1 + exp(x)), as max(x, 0) + log1p(exp(-|x|)), which neither overflows nor
 * loses the small values; torch returns x itself above its threshold 20, which differs by below
 * 2.1e-9 there. The gradient is sigmoid(x).
 */
export function softplus(x: Tensor): Tensor {
  return unaryOp(
    "softplus",
    x,
    (s, d) => {
      for (let i = 0; i < s.length; i++) d[i] = Math.max(s[i]!, 0) + Math.log1p(Math.exp(-Math.abs(s[i]!)));
    },
    (g, x, _y, d) => {
      for (let i = 0; i < g.length; i++) {
        // sigmoid(x), written so that exp never overflows
        const e = Math.exp(-Math.abs(x[i]!));
        d[i] = (g[i]! * (x[i]! >= 0 ? 1 : e)) / (1 + e);
      }
    },
  );
}

/** GELU in its exact form x * Phi(x) = x/2 (1 + erf(x / sqrt 2)) (torch's default, BERT's "gelu"). */
export function gelu(x: Tensor): Tensor {
  return unaryOp(
    "gelu",
    x,
    (s, d) => kernels().gelu({ n: s.length, x: s as FloatArray, y: d as FloatArray }),
    (g, x, y, d) =>
      kernels().geluBackward({
        n: g.length,
        g: g as FloatArray,
        x: x as FloatArray,
        y: y as FloatArray,
        dx: d as FloatArray,
      }),
  );
}

const SQRT_2_OVER_PI = 0.7978845608028654;
const GELU_CUBIC = 0.044715;

/** GELU's tanh approximation, Hugging Face's "gelu_new": x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
export function geluNew(x: Tensor): Tensor {
  return unaryOp(
    "geluNew",
    x,
    (s, d) => {
      for (let i = 0; i < s.length; i++) {
        const v = s[i]!;
        d[i] = 0.5 * v * (1 + Math.tanh(SQRT_2_OVER_PI * (v + GELU_CUBIC * v * v * v)));
      }
    },
    (g, x, _y, d) => {
      for (let i = 0; i < g.length; i++) {
        const v = x[i]!;
        const t = Math.tanh(SQRT_2_OVER_PI * (v + GELU_CUBIC * v * v * v));
        const dt = (1 - t * t) * SQRT_2_OVER_PI * (1 + 3 * GELU_CUBIC * v * v);
        d[i] = g[i]! * (0.5 * (1 + t) + 0.5 * v * dt);
      }
    },
  );
}

/** SiLU (swish): x * sigmoid(x). */
export function silu(x: Tensor): Tensor {
  return unaryOp(
    "silu",
    x,
    (s, d) => {
      for (let i = 0; i < s.length; i++) d[i] = s[i]! / (1 + Math.exp(-s[i]!));
    },
    (g, x, _y, d) => {
      for (let i = 0; i < g.length; i++) {
        const sig = 1 / (1 + Math.exp(-x[i]!));
        d[i] = g[i]! * sig * (1 + x[i]! * (1 - sig));
      }
    },
  );
}

function floatRows(x: Tensor, op: string): { rows: number; len: number } {
  if (x.dtype === "int32" || x.ndim === 0) {
    throw new ArgumentError(
      `${op}: needs a float tensor with at least one axis, got ${x.dtype}${formatShape(x.shape)}`,
    );
  }
  const len = x.shape[x.ndim - 1]!;
  return { rows: len === 0 ? 0 : x.size / len, len };
}

// Runs a last-axis op on another axis by swapping that axis to the end and back.
function alongAxis(x: Tensor, axis: number, op: string, lastAxisOp: (t: Tensor) => Tensor): Tensor {
  const a = normalizeAxis(axis, x.ndim, op);
  if (a === x.ndim - 1) return lastAxisOp(x);
  return transpose(lastAxisOp(transpose(x, a, -1)), a, -1);
}

// On the softmax kernels (the attention's): the max-shifted exponentials and their sum in double, an
// all -inf row giving NaN as in torch; the backward is dx = y (g - <g, y>) per row.
function softmaxLast(x: Tensor): Tensor {
  const { rows, len } = floatRows(x, "softmax");
  const out = (x.data as FloatArray).slice();
  kernels().softmaxRows({ rows, len, x: out, bias: null });
  return record("softmax", new Tensor(out, x.shape), [x], (g) => {
    const gx = (g.data as FloatArray).slice();
    kernels().softmaxBackwardRows({ rows, len, p: out, g: gx, keep: null, keepScale: 1 });
    return [new Tensor(gx, g.shape)];
  });
}

function logSoftmaxLast(x: Tensor): Tensor {
  const { rows, len } = floatRows(x, "logSoftmax");
  const src = x.data;
  const out = allocate(x.dtype, x.size);
  for (let r = 0; r < rows; r++) {
    const base = r * len;
    let m = -Infinity;
    for (let j = 0; j < len; j++) if (src[base + j]! > m) m = src[base + j]!;
    if (m === -Infinity) m = 0;
    let total = 0;
    for (let j = 0; j < len; j++) total += Math.exp(src[base + j]! - m);
    const shift = m + Math.log(total);
    for (let j = 0; j < len; j++) out[base + j] = src[base + j]! - shift;
  }
  return record("logSoftmax", new Tensor(out, x.shape), [x], (g) => {
    // dx = g - softmax * sum(g) per row.
    const gd = g.data;
    const gx = allocate(g.dtype, g.size);
    for (let r = 0; r < rows; r++) {
      const base = r * len;
      let total = 0;
      for (let j = 0; j < len; j++) total += gd[base + j]!;
      for (let j = 0; j < len; j++) gx[base + j] = gd[base + j]! - Math.exp(out[base + j]!) * total;
    }
    return [new Tensor(gx, g.shape)];
  });
}

/** exp(x) / sum(exp(x)) along axis (default last), shifted by the row maximum. */
export function softmax(x: Tensor, axis = -1): Tensor {
  return alongAxis(x, axis, "softmax", softmaxLast);
}

/** x - logsumexp(x) along axis (default last), computed stably. */
export function logSoftmax(x: Tensor, axis = -1): Tensor {
  return alongAxis(x, axis, "logSoftmax", logSoftmaxLast);
}

export interface LayerNormOptions {
  /** Scale of shape normalizedShape (none: 1). */
  weight?: Tensor | null;
  /** Shift of shape normalizedShape (none: 0). */
  bias?: Tensor | null;
  /** Added to the variance; torch's default 1e-5 (BERT configs use 1e-12). */
  eps?: number;
}

/**
 * Normalizes over the trailing axes `normalizedShape` to mean 0 and (biased) variance 1, then
 * scales and shifts: (x - mean) / sqrt(var + eps) * weight + bias, as torch.nn.functional.layer_norm.
 */
export function layerNorm(
  x: Tensor,
  normalizedShape: number | readonly number[],
  options: LayerNormOptions = {},
): Tensor {
  const dims = typeof normalizedShape === "number" ? [normalizedShape] : [...normalizedShape];
  const eps = options.eps ?? 1e-5;
  const weight = options.weight ?? null;
  const bias = options.bias ?? null;
  if (x.dtype === "int32" || !sameShape(x.shape.slice(x.ndim - dims.length), dims) || dims.length > x.ndim) {
    throw new ArgumentError(
      `layerNorm: normalizedShape ${formatShape(dims)} is not the end of ${x.dtype}${formatShape(x.shape)}`,
    );
  }
  for (const [name, p] of [
    ["weight", weight],
    ["bias", bias],
  ] as const) {
    if (p !== null && (!sameShape(p.shape, dims) || p.dtype !== x.dtype)) {
      throw new ArgumentError(
        `layerNorm: ${name} ${p.dtype}${formatShape(p.shape)} must be ${x.dtype}${formatShape(dims)}`,
      );
    }
  }
  const len = sizeOf(dims);
  const rows = len === 0 ? 0 : x.size / len;
  const xd = x.data as FloatArray;
  const w = (weight?.data ?? null) as FloatArray | null;
  const b = (bias?.data ?? null) as FloatArray | null;
  const out = allocate(x.dtype, x.size) as FloatArray;
  const means = new Float64Array(rows);
  const rstds = new Float64Array(rows);
  kernels().layerNormRows({ rows, len, x: xd, w, b, eps, y: out, mean: means, rstd: rstds });
  const inputs = [x, weight, bias].filter((t): t is Tensor => t !== null);
  return record("layerNorm", new Tensor(out, x.shape), inputs, (g) => {
    const gx = x.requiresGrad ? (allocate(x.dtype, x.size) as FloatArray) : null;
    const gw = weight?.requiresGrad ? (allocate(x.dtype, len) as FloatArray) : null;
    const gb = bias?.requiresGrad ? (allocate(x.dtype, len) as FloatArray) : null;
    kernels().layerNormBackwardRows({
      rows,
      len,
      g: g.data as FloatArray,
      x: xd,
      w,
      mean: means,
      rstd: rstds,
      dx: gx,
      dw: gw,
      db: gb,
    });
    const grads: Array<Tensor | null> = [gx ? new Tensor(gx, x.shape) : null];
    if (weight) grads.push(gw ? new Tensor(gw, dims) : null);
    if (bias) grads.push(gb ? new Tensor(gb, dims) : null);
    return grads;
  });
}

export interface BatchNormOptions {
  readonly weight?: Tensor | null;
  readonly bias?: Tensor | null;
  /** Training: normalize by the batch's statistics and update the running ones; else use the running ones. */
  readonly training: boolean;
  /** Per-channel running mean and (unbiased) variance, updated in place while training. */
  readonly runningMean: FloatArray;
  readonly runningVar: FloatArray;
  /** Weight of the new batch in the running statistics (torch's default 0.1). */
  readonly momentum?: number;
  readonly eps?: number;
}

/**
 * torch.nn.functional.batch_norm over the rows of x [n, c]: each channel (column) centred and
 * scaled, y = (x - mean_c) / sqrt(var_c + eps) * weight_c + bias_c. While training the mean and
 * the biased variance are the batch's (the gradient flows through them) and the running statistics
 * move towards the batch's mean and unbiased variance by `momentum`; in evaluation the running
 * statistics are constants. Statistics are accumulated in float64.
 */
export function batchNorm(x: Tensor, options: BatchNormOptions): Tensor {
  const [n, c] = x.shape as [number, number];
  const weight = options.weight ?? null;
  const bias = options.bias ?? null;
  const eps = options.eps ?? 1e-5;
  const momentum = options.momentum ?? 0.1;
  if (x.dtype === "int32" || x.ndim !== 2) {
    throw new ArgumentError(
      `batchNorm: x must be a float [n, channels] tensor, got ${x.dtype}${formatShape(x.shape)}`,
    );
  }
  for (const [name, p] of [
    ["weight", weight],
    ["bias", bias],
  ] as const) {
    if (p !== null && (!sameShape(p.shape, [c]) || p.dtype !== x.dtype)) {
      throw new ArgumentError(
        `batchNorm: ${name} ${p.dtype}${formatShape(p.shape)} must be ${x.dtype}[${c}]`,
      );
    }
  }
  if (options.runningMean.length !== c || options.runningVar.length !== c) {
    throw new ArgumentError(`batchNorm: running statistics must have ${c} channels`);
  }
  if (options.training && n < 2) {
    // torch refuses too: the batch variance of one value is 0 and its unbiased estimate undefined
    throw new ArgumentError(`batchNorm: training needs more than one row per channel, got ${n}`);
  }
  const xd = x.data as FloatArray;
  const mean = new Float64Array(c);
  const rstd = new Float64Array(c);
  if (options.training) {
    for (let i = 0; i < n; i++) {
      const row = i * c;
      for (let j = 0; j < c; j++) mean[j]! += xd[row + j]!;
    }
    for (let j = 0; j < c; j++) mean[j]! /= n;
    const sq = new Float64Array(c);
    for (let i = 0; i < n; i++) {
      const row = i * c;
      for (let j = 0; j < c; j++) {
        const d = xd[row + j]! - mean[j]!;
        sq[j]! += d * d;
      }
    }
    for (let j = 0; j < c; j++) {
      rstd[j] = 1 / Math.sqrt(sq[j]! / n + eps);
      options.runningMean[j] = (1 - momentum) * options.runningMean[j]! + momentum * mean[j]!;
      options.runningVar[j] = (1 - momentum) * options.runningVar[j]! + (momentum * sq[j]!) / (n - 1);
    }
  } else {
    for (let j = 0; j < c; j++) {
      mean[j] = options.runningMean[j]!;
      rstd[j] = 1 / Math.sqrt(options.runningVar[j]! + eps);
    }
  }
  const w = (weight?.data ?? null) as FloatArray | null;
  const b = (bias?.data ?? null) as FloatArray | null;
  const out = allocate(x.dtype, x.size) as FloatArray;
  for (let i = 0; i < n; i++) {
    const row = i * c;
    for (let j = 0; j < c; j++) {
      const normalized = (xd[row + j]! - mean[j]!) * rstd[j]!;
      out[row + j] = (w ? normalized * w[j]! : normalized) + (b ? b[j]! : 0);
    }
  }
  const inputs = [x, weight, bias].filter((t): t is Tensor => t !== null);
  const training = options.training;
  return record("batchNorm", new Tensor(out, x.shape), inputs, (g) => {
    const gd = g.data as FloatArray;
    // sum_n g and sum_n g * xhat per channel: the bias and weight gradients, and the two
    // projections the batch statistics remove from the input gradient while training
    const sumG = new Float64Array(c);
    const sumGX = new Float64Array(c);
    for (let i = 0; i < n; i++) {
      const row = i * c;
      for (let j = 0; j < c; j++) {
        const gv = gd[row + j]!;
        sumG[j]! += gv;
        sumGX[j]! += gv * (xd[row + j]! - mean[j]!) * rstd[j]!;
      }
    }
    let gx: FloatArray | null = null;
    if (x.requiresGrad) {
      gx = allocate(x.dtype, x.size) as FloatArray;
      for (let i = 0; i < n; i++) {
        const row = i * c;
        for (let j = 0; j < c; j++) {
          const scale = rstd[j]! * (w ? w[j]! : 1);
          if (training) {
            const xhat = (xd[row + j]! - mean[j]!) * rstd[j]!;
            gx[row + j] = (scale * (n * gd[row + j]! - sumG[j]! - xhat * sumGX[j]!)) / n;
          } else {
            gx[row + j] = scale * gd[row + j]!;
          }
        }
      }
    }
    const grads: Array<Tensor | null> = [gx ? new Tensor(gx, x.shape) : null];
    if (weight) grads.push(weight.requiresGrad ? new Tensor(fromFloat64(x.dtype, sumGX), [c]) : null);
    if (bias) grads.push(bias.requiresGrad ? new Tensor(fromFloat64(x.dtype, sumG), [c]) : null);
    return grads;
  });
}

function fromFloat64(dtype: Tensor["dtype"], values: Float64Array): FloatArray {
  return dtype === "float64" ? values : Float32Array.from(values);
}
