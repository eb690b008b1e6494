// Inverted dropout (torch.nn.functional.dropout): in training, each element is zeroed with
// probability p and the kept ones are scaled by 1 / (1 - p), so the expected value is unchanged and
// evaluation needs no rescaling. The gradient flows through the same mask and scale.

import { ArgumentError } from "../../errors.js";
import { kernels } from "../kernels/index.js";
import type { Generator } from "../random.js";
import { allocate, type FloatArray, record, Tensor } from "../tensor.js";

// Each element draws 16 random bits (two elements per 32-bit word): masks over attention
// probabilities have millions of elements and the generator is the cost. The drop probability is
// then p rounded to a multiple of 2^-16 (at most 7.7e-6 off); the scale stays exactly 1 / (1 - p).
const LEVELS = 65536;

/**
 * A keep mask of `size` elements (1 = kept) drawn from `generator`: element i is dropped when its
 * 16-bit draw is below round(p * 2^16). Element 2j takes the low half of the j-th 32-bit word,
 * element 2j + 1 the high half.
 */
export function dropoutMask(generator: Generator, size: number, p: number): Uint8Array {
  const threshold = Math.round(p * LEVELS);
  const words = new Uint32Array(Math.ceil(size / 2));
  generator.fillUint32(words);
  const mask = new Uint8Array(size);
  kernels().dropoutKeep({ n: size, words, threshold, keep: mask });
  return mask;
}

/** Throws unless p is a probability. */
export function checkDropoutP(p: number, op: string): void {
  if (!(p >= 0 && p <= 1)) throw new ArgumentError(`${op}: p must be in [0, 1], got ${p}`);
}

/**
 * Inverted dropout of x with drop probability p. With p = 0 or training = false, returns x itself
 * (no copy, no draw). Otherwise draws the mask from `generator` (see dropoutMask), so equal
 * generator states give equal masks.
 */
export function dropout(x: Tensor, p: number, training: boolean, generator: Generator): Tensor {
  checkDropoutP(p, "dropout");
  if (x.dtype === "int32") throw new ArgumentError("dropout: needs a float tensor, got int32");
  if (p === 0 || !training) return x;
  const mask = dropoutMask(generator, x.size, p);
  // p = 1 drops everything (torch returns zeros); 1 / (1 - p) would be infinite.
  const scale = p === 1 ? 0 : 1 / (1 - p);
  const out = allocate(x.dtype, x.size) as FloatArray;
  kernels().maskedScale({ n: x.size, src: x.data as FloatArray, keep: mask, scale, dst: out });
  return record("dropout", new Tensor(out, x.shape), [x], (g) => {
    const gx = allocate(g.dtype, g.size) as FloatArray;
    kernels().maskedScale({ n: g.size, src: g.data as FloatArray, keep: mask, scale, dst: gx });
    return [new Tensor(gx, g.shape)];
  });
}
