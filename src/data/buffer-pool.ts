// Where a batch's large arrays (X's values and column indices) come from. A fresh multi-megabyte
// ArrayBuffer per batch costs more than reading it: the kernel hands out zeroed pages on first
// touch, measured at ~0.6 ms per 5.6 MB on the benchmark VM against ~0.1 ms for the same copy into
// a buffer already in use. A DataLoader therefore reads into buffers its consumer gives back after
// each step (DataLoader.release); without that hand-back every batch simply gets fresh buffers.

/** Allocates the typed arrays of a batch. */
export interface ArrayAllocator {
  float32(length: number): Float32Array;
  int32(length: number): Int32Array;
}

/** Every array freshly allocated: for data that outlives a batch (a cached shard, a gather's inputs). */
export const freshArrays: ArrayAllocator = {
  float32: (length) => new Float32Array(length),
  int32: (length) => new Int32Array(length),
};

/** Spare room on a new buffer, so that next batches with a few more values can reuse it. */
const GROWTH = 1.25;
const PAGE = 4096;

/**
 * Buffers handed back by the consumer, reused for later arrays. An array is a view of the first
 * `length` elements of a pooled buffer (its byteLength may be larger). The pool keeps at most
 * `capacity` spare buffers; beyond that it drops the smallest.
 */
export class BufferPool implements ArrayAllocator {
  private readonly spare: ArrayBuffer[] = [];

  constructor(private readonly capacity: number) {}

  float32(length: number): Float32Array {
    return new Float32Array(this.take(length * 4), 0, length);
  }

  int32(length: number): Int32Array {
    return new Int32Array(this.take(length * 4), 0, length);
  }

  /** Returns buffers nobody reads any more (detached ones are ignored). */
  give(buffers: readonly ArrayBuffer[]): void {
    for (const buffer of buffers) if (buffer.byteLength > 0) this.spare.push(buffer);
    if (this.spare.length <= this.capacity) return;
    this.spare.sort((a, b) => b.byteLength - a.byteLength);
    this.spare.length = this.capacity;
  }

  /** Spare buffers held. */
  get size(): number {
    return this.spare.length;
  }

  /** The smallest spare buffer that fits, else a new one with room to grow. */
  private take(bytes: number): ArrayBuffer {
    let best = -1;
    for (let i = 0; i < this.spare.length; i++) {
      const size = this.spare[i]!.byteLength;
      if (size >= bytes && (best < 0 || size < this.spare[best]!.byteLength)) best = i;
    }
    if (best >= 0) return this.spare.splice(best, 1)[0]!;
    return new ArrayBuffer(Math.ceil((bytes * GROWTH) / PAGE) * PAGE);
  }
}
