// Elementwise ops: broadcasting binary arithmetic and comparisons, and unary math.
//
// dtype rules: two float tensors must share a dtype (no silent float32 -> float64); an int32
// operand is promoted to the other operand's float dtype; a number takes the tensor's dtype
// (float32 when a fractional number meets an int32 tensor). div always gives a float.
// Comparisons return int32 0/1 masks, usable directly by where() and maskedFill().

import { ArgumentError } from "../../errors.js";
import { digamma as digammaScalar, erf as erfScalar, lgamma as lgammaScalar, trigamma } from "../special.js";
import { broadcastShapes, broadcastStrides, contiguousStrides, stridedLoop, sumToShape } from "../strided.js";
import { allocate, type DType, record, sameShape, sizeOf, Tensor, type TypedArray } from "../tensor.js";
import { cast } from "./creation.js";

export type Operand = Tensor | number;

// One run of n output elements: out[o + j] = f(a[ai + j * as], b[bi + j * bs]).
type Segment = (
  out: TypedArray,
  o: number,
  a: TypedArray,
  ai: number,
  as: number,
  b: TypedArray,
  bi: number,
  bs: number,
  n: number,
) => void;

function scalarTensor(value: number, dtype: DType): Tensor {
  const data = allocate(dtype, 1);
  data[0] = value;
  return new Tensor(data, []);
}

/** The two operands as tensors of one dtype, following the rules above. */
export function promote(a: Operand, b: Operand, op: string, float = false): [Tensor, Tensor] {
  if (typeof a === "number" && typeof b === "number") {
    throw new ArgumentError(`${op}: needs at least one tensor operand`);
  }
  let ta: Tensor;
  let tb: Tensor;
  if (typeof a === "number") {
    tb = b as Tensor;
    ta = scalarTensor(a, tb.dtype === "int32" && !Number.isInteger(a) ? "float32" : tb.dtype);
  } else if (typeof b === "number") {
    ta = a;
    tb = scalarTensor(b, ta.dtype === "int32" && !Number.isInteger(b) ? "float32" : ta.dtype);
  } else {
    ta = a;
    tb = b;
  }
  if (ta.dtype !== tb.dtype) {
    if (ta.dtype === "int32") ta = cast(ta, tb.dtype);
    else if (tb.dtype === "int32") tb = cast(tb, ta.dtype);
    else throw new ArgumentError(`${op}: dtypes ${ta.dtype} and ${tb.dtype} differ; cast one explicitly`);
  }
  if (float && ta.dtype === "int32") return [cast(ta, "float32"), cast(tb, "float32")];
  return [ta, tb];
}

function applyBinary(a: Tensor, b: Tensor, segment: Segment, op: string, outDtype: DType = a.dtype): Tensor {
  const ad = a.data;
  const bd = b.data;
  if (sameShape(a.shape, b.shape)) {
    const out = allocate(outDtype, a.size);
    segment(out, 0, ad, 0, 1, bd, 0, 1, a.size);
    return new Tensor(out, a.shape);
  }
  const shape = broadcastShapes([a.shape, b.shape], op);
  const out = allocate(outDtype, sizeOf(shape));
  const strides = [
    contiguousStrides(shape),
    broadcastStrides(a.shape, shape),
    broadcastStrides(b.shape, shape),
  ];
  stridedLoop(shape, strides, (n, off, inner) =>
    segment(out, off[0]!, ad, off[1]!, inner[1]!, bd, off[2]!, inner[2]!, n),
  );
  return new Tensor(out, shape);
}

const addSegment: Segment = (out, o, a, ai, as, b, bi, bs, n) => {
  for (let j = 0; j < n; j++, ai += as, bi += bs) out[o + j] = a[ai]! + b[bi]!;
};
const subSegment: Segment = (out, o, a, ai, as, b, bi, bs, n) => {
  for (let j = 0; j < n; j++, ai += as, bi += bs) out[o + j] = a[ai]! - b[bi]!;
};
const mulSegment: Segment = (out, o, a, ai, as, b, bi, bs, n) => {
  for (let j = 0; j < n; j++, ai += as, bi += bs) out[o + j] = a[ai]! * b[bi]!;
};
const divSegment: Segment = (out, o, a, ai, as, b, bi, bs, n) => {
  for (let j = 0; j < n; j++, ai += as, bi += bs) out[o + j] = a[ai]! / b[bi]!;
};
const maxSegment: Segment = (out, o, a, ai, as, b, bi, bs, n) => {
  for (let j = 0; j < n; j++, ai += as, bi += bs) {
    const x = a[ai]!;
    const y = b[bi]!;
    out[o + j] = x >= y || Number.isNaN(x) ? x : y;
  }
};
const minSegment: Segment = (out, o, a, ai, as, b, bi, bs, n) => {
  for (let j = 0; j < n; j++, ai += as, bi += bs) {
    const x = a[ai]!;
    const y = b[bi]!;
    out[o + j] = x <= y || Number.isNaN(x) ? x : y;
  }
};
// Share of the gradient of maximum(a, b) that goes to a: 1 where a wins, 1/2 at ties (as torch).
const aWinsMaxSegment: Segment = (out, o, a, ai, as, b, bi, bs, n) => {
  for (let j = 0; j < n; j++, ai += as, bi += bs)
    out[o + j] = a[ai]! > b[bi]! ? 1 : a[ai] === b[bi] ? 0.5 : 0;
};
const aWinsMinSegment: Segment = (out, o, a, ai, as, b, bi, bs, n) => {
  for (let j = 0; j < n; j++, ai += as, bi += bs)
    out[o + j] = a[ai]! < b[bi]! ? 1 : a[ai] === b[bi] ? 0.5 : 0;
};
const powSegment: Segment = (out, o, a, ai, as, b, bi, bs, n) => {
  for (let j = 0; j < n; j++, ai += as, bi += bs) out[o + j] = a[ai]! ** b[bi]!;
};
// d(a^b)/db = a^b log(a), taken as 0 where a = 0 (the limit for b > 0, and torch's convention).
const powExponentGradSegment: Segment = (out, o, a, ai, as, b, bi, bs, n) => {
  for (let j = 0; j < n; j++, ai += as, bi += bs) {
    const x = a[ai]!;
    out[o + j] = x === 0 ? 0 : x ** b[bi]! * Math.log(x);
  }
};
const eqSegment: Segment = (out, o, a, ai, as, b, bi, bs, n) => {
  for (let j = 0; j < n; j++, ai += as, bi += bs) out[o + j] = a[ai] === b[bi] ? 1 : 0;
};
const neSegment: Segment = (out, o, a, ai, as, b, bi, bs, n) => {
  for (let j = 0; j < n; j++, ai += as, bi += bs) out[o + j] = a[ai] !== b[bi] ? 1 : 0;
};
const ltSegment: Segment = (out, o, a, ai, as, b, bi, bs, n) => {
  for (let j = 0; j < n; j++, ai += as, bi += bs) out[o + j] = a[ai]! < b[bi]! ? 1 : 0;
};
const leSegment: Segment = (out, o, a, ai, as, b, bi, bs, n) => {
  for (let j = 0; j < n; j++, ai += as, bi += bs) out[o + j] = a[ai]! <= b[bi]! ? 1 : 0;
};

/**
 * Elementwise a + b with broadcasting (numpy rules); either side may be a number, which takes the
 * tensor's dtype. An int32 tensor meeting a float one is promoted to its dtype.
 */
export function add(a: Operand, b: Operand): Tensor {
  const [x, y] = promote(a, b, "add");
  return record("add", applyBinary(x, y, addSegment, "add"), [x, y], (g) => [
    x.requiresGrad ? sumToShape(g, x.shape) : null,
    y.requiresGrad ? sumToShape(g, y.shape) : null,
  ]);
}

/** Elementwise a - b with broadcasting; either side may be a number. */
export function sub(a: Operand, b: Operand): Tensor {
  const [x, y] = promote(a, b, "sub");
  return record("sub", applyBinary(x, y, subSegment, "sub"), [x, y], (g) => [
    x.requiresGrad ? sumToShape(g, x.shape) : null,
    y.requiresGrad ? sumToShape(neg(g), y.shape) : null,
  ]);
}

/** Elementwise a * b with broadcasting; either side may be a number. */
export function mul(a: Operand, b: Operand): Tensor {
  const [x, y] = promote(a, b, "mul");
  return record("mul", applyBinary(x, y, mulSegment, "mul"), [x, y], (g) => [
    x.requiresGrad ? sumToShape(applyBinary(g, y, mulSegment, "mul"), x.shape) : null,
    y.requiresGrad ? sumToShape(applyBinary(g, x, mulSegment, "mul"), y.shape) : null,
  ]);
}

/** Elementwise a / b with broadcasting (true division: int32 inputs give float32). */
export function div(a: Operand, b: Operand): Tensor {
  const [x, y] = promote(a, b, "div", true);
  const out = applyBinary(x, y, divSegment, "div");
  return record("div", out, [x, y], (g) => [
    x.requiresGrad ? sumToShape(applyBinary(g, y, divSegment, "div"), x.shape) : null,
    // d(x/y)/dy = -(x/y)/y
    y.requiresGrad ? sumToShape(neg(div(mul(g, out), y)), y.shape) : null,
  ]);
}

function extremum(a: Operand, b: Operand, op: string, segment: Segment, share: Segment): Tensor {
  const [x, y] = promote(a, b, op);
  return record(op, applyBinary(x, y, segment, op), [x, y], (g) => {
    const toX = applyBinary(x, y, share, op);
    const gx = mul(g, toX);
    return [
      x.requiresGrad ? sumToShape(gx, x.shape) : null,
      y.requiresGrad ? sumToShape(sub(g, gx), y.shape) : null,
    ];
  });
}

/** Elementwise maximum (NaN propagates); at ties the gradient is split evenly, as in torch. */
export function maximum(a: Operand, b: Operand): Tensor {
  return extremum(a, b, "maximum", maxSegment, aWinsMaxSegment);
}

/** Elementwise minimum (NaN propagates); at ties the gradient is split evenly, as in torch. */
export function minimum(a: Operand, b: Operand): Tensor {
  return extremum(a, b, "minimum", minSegment, aWinsMinSegment);
}

/** x^p for a number p (unary) or a tensor p (broadcast, differentiable in both). */
export function pow(x: Tensor, p: Operand): Tensor {
  if (typeof p === "number") return powScalar(x, p);
  const [a, b] = promote(x, p, "pow", true);
  return record("pow", applyBinary(a, b, powSegment, "pow"), [a, b], (g) => [
    a.requiresGrad ? sumToShape(mul(g, mul(b, pow(a, sub(b, 1)))), a.shape) : null,
    b.requiresGrad ? sumToShape(mul(g, applyBinary(a, b, powExponentGradSegment, "pow")), b.shape) : null,
  ]);
}

function compare(a: Operand, b: Operand, op: string, segment: Segment, swap = false): Tensor {
  const [x, y] = promote(a, b, op);
  return swap ? applyBinary(y, x, segment, op, "int32") : applyBinary(x, y, segment, op, "int32");
}

/** a == b as an int32 0/1 mask. */
export function eq(a: Operand, b: Operand): Tensor {
  return compare(a, b, "eq", eqSegment);
}
/** a != b as an int32 0/1 mask (NaN != NaN is 1). */
export function ne(a: Operand, b: Operand): Tensor {
  return compare(a, b, "ne", neSegment);
}
/** a < b as an int32 0/1 mask. */
export function lt(a: Operand, b: Operand): Tensor {
  return compare(a, b, "lt", ltSegment);
}
/** a <= b as an int32 0/1 mask. */
export function le(a: Operand, b: Operand): Tensor {
  return compare(a, b, "le", leSegment);
}
/** a > b as an int32 0/1 mask. */
export function gt(a: Operand, b: Operand): Tensor {
  return compare(a, b, "gt", ltSegment, true);
}
/** a >= b as an int32 0/1 mask. */
export function ge(a: Operand, b: Operand): Tensor {
  return compare(a, b, "ge", leSegment, true);
}

// ---- unary ops ----

/** Forward loop dst[i] = f(src[i]). */
export type UnaryForward = (src: TypedArray, dst: TypedArray) => void;
/** Backward loop dst[i] = g[i] * f'(x[i]), given the input x and the output y. */
export type UnaryBackward = (g: TypedArray, x: TypedArray, y: TypedArray, dst: TypedArray) => void;

/** Defines a float elementwise op from its two loops (used by the activations too). */
export function unaryOp(name: string, x: Tensor, forward: UnaryForward, backward: UnaryBackward): Tensor {
  if (x.dtype === "int32") throw new ArgumentError(`${name}: needs a float tensor, got int32`);
  const out = allocate(x.dtype, x.size);
  forward(x.data, out);
  const y = new Tensor(out, x.shape);
  return record(name, y, [x], (g) => {
    const dst = allocate(g.dtype, g.size);
    backward(g.data, x.data, out, dst);
    return [new Tensor(dst, g.shape)];
  });
}

/** Elementwise -x. */
export function neg(x: Tensor): Tensor {
  const out = allocate(x.dtype, x.size);
  const src = x.data;
  for (let i = 0; i < src.length; i++) out[i] = -src[i]!;
  return record("neg", new Tensor(out, x.shape), [x], (g) => [neg(g)]);
}

/** |x|; the gradient at 0 is 0, as in torch. */
export function abs(x: Tensor): Tensor {
  const out = allocate(x.dtype, x.size);
  const src = x.data;
  for (let i = 0; i < src.length; i++) out[i] = Math.abs(src[i]!);
  return record("abs", new Tensor(out, x.shape), [x], (g) => {
    const dst = allocate(g.dtype, g.size);
    const gd = g.data;
    for (let i = 0; i < dst.length; i++) dst[i] = src[i]! > 0 ? gd[i]! : src[i]! < 0 ? -gd[i]! : 0;
    return [new Tensor(dst, g.shape)];
  });
}

/** Elementwise e^x. */
export function exp(x: Tensor): Tensor {
  return unaryOp(
    "exp",
    x,
    (s, d) => {
      for (let i = 0; i < s.length; i++) d[i] = Math.exp(s[i]!);
    },
    (g, _x, y, d) => {
      for (let i = 0; i < g.length; i++) d[i] = g[i]! * y[i]!;
    },
  );
}

/** Elementwise natural logarithm (-inf at 0, NaN below, as torch). */
export function log(x: Tensor): Tensor {
  return unaryOp(
    "log",
    x,
    (s, d) => {
      for (let i = 0; i < s.length; i++) d[i] = Math.log(s[i]!);
    },
    (g, x, _y, d) => {
      for (let i = 0; i < g.length; i++) d[i] = g[i]! / x[i]!;
    },
  );
}

/**
 * Elementwise log(1 + x), exact for small x (the tensor op; the {@link Log1p} transform works on batches).
 */
export function log1p(x: Tensor): Tensor {
  return unaryOp(
    "log1p",
    x,
    (s, d) => {
      for (let i = 0; i < s.length; i++) d[i] = Math.log1p(s[i]!);
    },
    (g, x, _y, d) => {
      for (let i = 0; i < g.length; i++) d[i] = g[i]! / (1 + x[i]!);
    },
  );
}

/** Elementwise square root. */
export function sqrt(x: Tensor): Tensor {
  return unaryOp(
    "sqrt",
    x,
    (s, d) => {
      for (let i = 0; i < s.length; i++) d[i] = Math.sqrt(s[i]!);
    },
    (g, _x, y, d) => {
      for (let i = 0; i < g.length; i++) d[i] = g[i]! / (2 * y[i]!);
    },
  );
}

/** Elementwise x^2. */
export function square(x: Tensor): Tensor {
  return unaryOp(
    "square",
    x,
    (s, d) => {
      for (let i = 0; i < s.length; i++) d[i] = s[i]! * s[i]!;
    },
    (g, x, _y, d) => {
      for (let i = 0; i < g.length; i++) d[i] = 2 * g[i]! * x[i]!;
    },
  );
}

function powScalar(x: Tensor, p: number): Tensor {
  return unaryOp(
    "pow",
    x,
    (s, d) => {
      for (let i = 0; i < s.length; i++) d[i] = s[i]! ** p;
    },
    (g, x, _y, d) => {
      for (let i = 0; i < g.length; i++) d[i] = p === 0 ? 0 : g[i]! * p * x[i]! ** (p - 1);
    },
  );
}

/** Elementwise hyperbolic tangent. */
export function tanh(x: Tensor): Tensor {
  return unaryOp(
    "tanh",
    x,
    (s, d) => {
      for (let i = 0; i < s.length; i++) d[i] = Math.tanh(s[i]!);
    },
    (g, _x, y, d) => {
      for (let i = 0; i < g.length; i++) d[i] = g[i]! * (1 - y[i]! * y[i]!);
    },
  );
}

/** The logistic function 1 / (1 + exp(-x)), computed without overflow for large |x|. */
export function sigmoid(x: Tensor): Tensor {
  return unaryOp(
    "sigmoid",
    x,
    (s, d) => {
      for (let i = 0; i < s.length; i++) {
        const v = s[i]!;
        if (v >= 0) d[i] = 1 / (1 + Math.exp(-v));
        else {
          const e = Math.exp(v);
          d[i] = e / (1 + e);
        }
      }
    },
    (g, _x, y, d) => {
      for (let i = 0; i < g.length; i++) d[i] = g[i]! * y[i]! * (1 - y[i]!);
    },
  );
}

/** A unary op from scalar functions: the value f(x) and the derivative f'(x), both from x. */
function scalarUnaryOp(
  name: string,
  x: Tensor,
  f: (v: number) => number,
  derivative: (v: number) => number,
): Tensor {
  return unaryOp(
    name,
    x,
    (s, d) => {
      for (let i = 0; i < s.length; i++) d[i] = f(s[i]!);
    },
    (g, x, _y, d) => {
      for (let i = 0; i < g.length; i++) d[i] = g[i]! * derivative(x[i]!);
    },
  );
}

const TWO_OVER_SQRT_PI = 1.1283791670955126;

/** The error function (see special.ts: Taylor polynomials about tabulated nodes, ~1e-15 relative). */
export function erf(x: Tensor): Tensor {
  return scalarUnaryOp("erf", x, erfScalar, (v) => TWO_OVER_SQRT_PI * Math.exp(-v * v));
}

/**
 * log|Gamma(x)|, as torch.lgamma; the gradient is digamma(x). See special.ts: Stirling's series,
 * the recurrence and Taylor series at the roots 1 and 2, a few ulp on the positive axis.
 */
export function lgamma(x: Tensor): Tensor {
  return scalarUnaryOp("lgamma", x, lgammaScalar, digammaScalar);
}

/**
 * The digamma function d/dx lgamma(x), as torch.digamma; the gradient is trigamma(x). See
 * special.ts: asymptotic series, recurrence and a Taylor series about the root, a few ulp for x > 0.
 */
export function digamma(x: Tensor): Tensor {
  return scalarUnaryOp("digamma", x, digammaScalar, trigamma);
}
