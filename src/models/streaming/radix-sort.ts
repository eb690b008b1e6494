// In-place ascending sort of a run of float32 values seen through their bits, for the t-digest
// buffers: an LSD radix sort, 4 passes of 8 bits. Measured on 256-value runs of counts, it takes a
// third of the time of Float32Array.prototype.sort (V8 builtin) or a quicksort in TypeScript.
//
// Floats map to unsigned keys that order like the floats: a positive float gets its sign bit set,
// a negative one has all bits flipped. NaN is not expected (callers drop it); -0 sorts before +0.

/** Scratch for sortFloat32Bits: a key buffer at least as long as the longest run, and counts. */
export interface RadixScratch {
  readonly keys: Uint32Array;
  readonly counts: Int32Array;
}

export function radixScratch(maxLength: number): RadixScratch {
  return { keys: new Uint32Array(maxLength), counts: new Int32Array(4 * 256) };
}

/** Sorts bits[start, start + n), the bit patterns of float32 values, by value. */
export function sortFloat32Bits(bits: Uint32Array, start: number, n: number, scratch: RadixScratch): void {
  const counts = scratch.counts;
  counts.fill(0);
  const end = start + n;
  // One pass turns bits into keys and counts the 4 digits of every key.
  for (let i = start; i < end; i++) {
    const b = bits[i]!;
    const k = b & 0x80000000 ? ~b >>> 0 : (b | 0x80000000) >>> 0;
    bits[i] = k;
    counts[k & 255]!++;
    counts[256 + ((k >>> 8) & 255)]!++;
    counts[512 + ((k >>> 16) & 255)]!++;
    counts[768 + (k >>> 24)]!++;
  }
  let src = bits;
  let srcStart = start;
  let dst = scratch.keys;
  let dstStart = 0;
  for (let pass = 0; pass < 4; pass++) {
    const base = pass * 256;
    const shift = pass * 8;
    // A digit shared by all keys leaves the order as it is (common: the exponent bytes of counts).
    if (counts[base + ((src[srcStart]! >>> shift) & 255)] === n) continue;
    let sum = 0;
    for (let d = base; d < base + 256; d++) {
      const c = counts[d]!;
      counts[d] = sum;
      sum += c;
    }
    for (let i = srcStart; i < srcStart + n; i++) {
      const k = src[i]!;
      const d = base + ((k >>> shift) & 255);
      dst[dstStart + counts[d]!] = k;
      counts[d]!++;
    }
    const previous = src;
    const previousStart = srcStart;
    src = dst;
    srcStart = dstStart;
    dst = previous;
    dstStart = previousStart;
  }
  for (let i = 0; i < n; i++) {
    const k = src[srcStart + i]!;
    bits[start + i] = k & 0x80000000 ? k & 0x7fffffff : ~k >>> 0;
  }
}
