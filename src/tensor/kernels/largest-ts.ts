// TypeScript fallback of keepLargest (see its declaration in types.ts): min-heaps of the largest
// values per slot, the native version in src/native/largest.h.

import type { KernelArgs } from "./types.js";

/** Returns the position of the first column index outside [0, cols), or indices.length (the raw form). */
export function keepLargestTs(args: KernelArgs<"keepLargest">): number {
  const { indices, values, cols, base, kept, minima, heaps, moments } = args;
  for (let p = 0; p < indices.length; p++) {
    const col = indices[p]!;
    if (!(col >= 0 && col < cols)) return p;
    const slot = base + col;
    const v = values[p]!;
    if (moments !== null) {
      moments[3 * col]! += v;
      moments[3 * col + 1]! += v * v;
      moments[3 * col + 2]! += 1;
    }
    if (v > minima[slot]!) minima[slot] = replaceMinimum(heaps, slot * kept, kept, v);
  }
  return indices.length;
}

/**
 * Replaces the minimum of the min-heap heaps[at, at + size) by v (larger than it) and restores the
 * heap order; returns the new minimum.
 */
function replaceMinimum(heaps: Float32Array, at: number, size: number, v: number): number {
  let i = 0;
  for (;;) {
    const left = 2 * i + 1;
    if (left >= size) break;
    const right = left + 1;
    const child = right < size && heaps[at + right]! < heaps[at + left]! ? right : left;
    if (heaps[at + child]! >= v) break;
    heaps[at + i] = heaps[at + child]!;
    i = child;
  }
  heaps[at + i] = v;
  return heaps[at]!;
}
