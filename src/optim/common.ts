// Small helpers shared by the optimizer rules.

import { ArgumentError } from "../errors.js";
import type { FloatArray } from "./types.js";

/** A zero-filled buffer with the dtype and length of `like` (torch keeps state in the param's dtype). */
export function zerosLike(like: FloatArray): FloatArray {
  return like instanceof Float32Array ? new Float32Array(like.length) : new Float64Array(like.length);
}

export function checkNonNegative(value: number, name: string, where: string): void {
  if (!(value >= 0) || !Number.isFinite(value)) {
    throw new ArgumentError(`${where}: ${name} must be a finite number >= 0, got ${value}`);
  }
}
