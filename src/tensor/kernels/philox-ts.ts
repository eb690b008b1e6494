// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011) in
// TypeScript: the block function the Generator (src/tensor/random.ts) is built on, and the bulk
// block kernel (KERNELS.philoxBlocks) used when the native addon is absent.

import type { KernelArgs } from "./types.js";

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;

// High 32 bits of the 64-bit product of two unsigned 32-bit integers, from 16-bit halves
// because a double holds only 53 bits exactly.
function mulhi32(a: number, b: number): number {
  const aHi = a >>> 16;
  const aLo = a & 0xffff;
  const bHi = b >>> 16;
  const bLo = b & 0xffff;
  const lh = aLo * bHi;
  const hl = aHi * bLo;
  const mid = ((aLo * bLo) >>> 16) + (lh & 0xffff) + (hl & 0xffff);
  return (aHi * bHi + (lh >>> 16) + (hl >>> 16) + Math.floor(mid / 65536)) >>> 0;
}

/** One Philox4x32-10 block: encrypts the counter with the key, writing four words to `out` at `offset`. */
export function philox4x32(
  counter: ArrayLike<number>,
  key: ArrayLike<number>,
  out: Uint32Array,
  offset = 0,
): void {
  let c0 = counter[0]! >>> 0;
  let c1 = counter[1]! >>> 0;
  let c2 = counter[2]! >>> 0;
  let c3 = counter[3]! >>> 0;
  let k0 = key[0]! >>> 0;
  let k1 = key[1]! >>> 0;
  for (let round = 0; round < 10; round++) {
    const hi0 = mulhi32(M0, c0);
    const lo0 = Math.imul(M0, c0) >>> 0;
    const hi1 = mulhi32(M1, c2);
    const lo1 = Math.imul(M1, c2) >>> 0;
    c0 = (hi1 ^ c1 ^ k0) >>> 0;
    c1 = lo1;
    c2 = (hi0 ^ c3 ^ k1) >>> 0;
    c3 = lo0;
    k0 = (k0 + W0) >>> 0;
    k1 = (k1 + W1) >>> 0;
  }
  out[offset] = c0;
  out[offset + 1] = c1;
  out[offset + 2] = c2;
  out[offset + 3] = c3;
}

/** 128-bit increment with carry of a counter held as four little-endian 32-bit words. */
export function incrementCounter(counter: Uint32Array): void {
  for (let w = 0; w < 4; w++) {
    counter[w] = (counter[w]! + 1) >>> 0;
    if (counter[w] !== 0) break;
  }
}

/** See KERNELS.philoxBlocks in types.ts. */
export function philoxBlocksTs(args: KernelArgs<"philoxBlocks">): void {
  const { key, counter, out } = args;
  for (let i = 0; i + 4 <= out.length; i += 4) {
    incrementCounter(counter);
    philox4x32(counter, key, out, i);
  }
}
