// Neural-network ops: activations, softmax, logSoftmax and layerNorm. Softmax and layerNorm are
// fused loops over rows of the last axis (or last axes), forward and backward, so that a BERT
// layer allocates one output per op and nothing per element.

import { ArgumentError } from "../../errors.js";
import { kernels } from "../kernels/index.js";
import { normalizeAxis } from "../strided.js";
import { allocate, type FloatArray, formatShape, record, sameShape, sizeOf, Tensor } from "../tensor.js";
import { unaryOp } from "./elementwise.js";
import { transpose } from "./shape.js";

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
    (s, d) => kernels().gelu(s.length, s as FloatArray, d as FloatArray),
    (g, x, y, d) =>
      kernels().geluBackward(g.length, g as FloatArray, x as FloatArray, y as FloatArray, d as FloatArray),
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

function softmaxLast(x: Tensor): Tensor {
  const { rows, len } = floatRows(x, "softmax");
  const src = x.data;
  const out = allocate(x.dtype, x.size);
  for (let r = 0; r < rows; r++) {
    const base = r * len;
    let m = -Infinity;
    for (let j = 0; j < len; j++) if (src[base + j]! > m) m = src[base + j]!;
    if (m === -Infinity) m = 0; // an all -inf row gives NaN, as in torch, rather than inf - inf here
    let total = 0;
    for (let j = 0; j < len; j++) {
      const e = Math.exp(src[base + j]! - m);
      out[base + j] = e;
      total += e;
    }
    const inv = 1 / total;
    for (let j = 0; j < len; j++) out[base + j]! *= inv;
  }
  return record("softmax", new Tensor(out, x.shape), [x], (g) => {
    // dx = y * (g - <g, y>) per row.
    const gd = g.data;
    const gx = allocate(g.dtype, g.size);
    for (let r = 0; r < rows; r++) {
      const base = r * len;
      let dot = 0;
      for (let j = 0; j < len; j++) dot += gd[base + j]! * out[base + j]!;
      for (let j = 0; j < len; j++) gx[base + j] = out[base + j]! * (gd[base + j]! - dot);
    }
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
  kernels().layerNormRows(rows, len, xd, w, b, eps, out, means, rstds);
  const inputs = [x, weight, bias].filter((t): t is Tensor => t !== null);
  return record("layerNorm", new Tensor(out, x.shape), inputs, (g) => {
    const gx = x.requiresGrad ? (allocate(x.dtype, x.size) as FloatArray) : null;
    const gw = weight?.requiresGrad ? (allocate(x.dtype, len) as FloatArray) : null;
    const gb = bias?.requiresGrad ? (allocate(x.dtype, len) as FloatArray) : null;
    kernels().layerNormBackwardRows(rows, len, g.data as FloatArray, xd, w, means, rstds, gx, gw, gb);
    const grads: Array<Tensor | null> = [gx ? new Tensor(gx, x.shape) : null];
    if (weight) grads.push(gw ? new Tensor(gw, dims) : null);
    if (bias) grads.push(gb ? new Tensor(gb, dims) : null);
    return grads;
  });
}
