// Log densities, differentiable in the value and in every parameter; arguments broadcast.

import type { Tensor } from "../tensor.js";
import { abs, div, log, mul, neg, type Operand, square, sub } from "./elementwise.js";

const HALF_LOG_2PI = 0.9189385332046727;

function logOf(scale: Operand): Operand {
  return typeof scale === "number" ? Math.log(scale) : log(scale);
}

/** log N(x | loc, scale) = -((x - loc) / scale)^2 / 2 - log(scale) - log(2 pi) / 2. */
export function normalLogProb(x: Tensor, loc: Operand, scale: Operand): Tensor {
  const z = div(sub(x, loc), scale);
  return sub(sub(mul(square(z), -0.5), logOf(scale)), HALF_LOG_2PI);
}

/** log Laplace(x | loc, scale) = -|x - loc| / scale - log(2 scale). */
export function laplaceLogProb(x: Tensor, loc: Operand, scale: Operand): Tensor {
  return sub(sub(div(neg(abs(sub(x, loc))), scale), logOf(scale)), Math.LN2);
}
