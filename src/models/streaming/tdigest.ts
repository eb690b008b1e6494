// One merging t-digest per gene over the gene's non-zero values: the numerical core of the TDigest
// model. Dunning & Ertl, "Computing extremely accurate quantiles using t-digests" (2019), merging
// variant with the k1 scale function; conventions (scale normalisation, merge rule, quantile
// interpolation, compression bounds) follow crick's C port, which upstream uses with compression 100.
//
// Layout for 20,000+ genes: no object per gene. Gene g owns the slots [g * capacity, (g + 1) *
// capacity) of two pooled Float64Arrays (centroid means and weights, sorted by mean) and
// [g * bufferCapacity, ...) of a Float32Array of incoming values. A batch appends each non-zero to
// its gene's buffer in O(1); a full buffer is sorted and merged with the gene's centroids in one
// pass (O(buffer + centroids)), so a batch costs O(non-zeros) amortised.

import type { Matrix } from "../../data/matrix.js";
import { ArgumentError, CheckpointError } from "../../errors.js";
import { type RadixScratch, radixScratch, sortFloat32Bits } from "./radix-sort.js";

/** Compression range that crick accepts (it clips to these bounds; we reject values outside). */
const MIN_COMPRESSION = 20;
const MAX_COMPRESSION = 1000;

/**
 * Incoming values per gene between two compressions. Crick flushes every ~42 values at
 * compression 100; a larger buffer merges more values per pass, which makes compressions
 * cheaper per value and the digest no less accurate, at 4 bytes per gene and slot.
 */
const BUFFER_CAPACITY = 256;

/** Everything a checkpoint needs; genes' centroids are concatenated in gene order. */
export interface TDigestState {
  readonly compression: number;
  /** Gene g's centroids are entries [centroidOffsets[g], centroidOffsets[g + 1]); length g + 1. */
  readonly centroidOffsets: Int32Array;
  /** Centroid means, increasing within a gene. */
  readonly centroidMeans: Float64Array;
  /** Centroid weights (numbers of values), positive. */
  readonly centroidWeights: Float64Array;
  /** Smallest and largest value per gene; NaN for a gene without any value. */
  readonly min_g: Float64Array;
  readonly max_g: Float64Array;
}

export class TDigestSet {
  readonly nGenes: number;
  readonly compression: number;
  /**
   * Centroids a gene can hold. Compression starts a new centroid only when the current one plus
   * the next value would span more than 1 on the k scale, so any two consecutive centroids span
   * more than 1 and a digest, whose k scale runs over [0, compression], holds at most
   * 2 * compression + 1 centroids.
   */
  private readonly capacity: number;
  private readonly means: Float64Array;
  private readonly weights: Float64Array;
  private readonly centroidCount_g: Int32Array;
  /** Total weight of each gene's centroids (buffered values not included). */
  private readonly centroidWeight_g: Float64Array;
  private readonly min_g: Float64Array;
  private readonly max_g: Float64Array;
  private readonly buffer: Float32Array;
  /** The buffer's bytes as bits, which the radix sort orders. */
  private readonly bufferBits: Uint32Array;
  private readonly bufferCount_g: Int32Array;
  private readonly sortScratch: RadixScratch;
  // One gene's merged centroids before they are copied back into its slots.
  private readonly scratchMeans: Float64Array;
  private readonly scratchWeights: Float64Array;

  constructor(nGenes: number, compression = 100) {
    if (!Number.isSafeInteger(nGenes) || nGenes < 0) {
      throw new ArgumentError(`TDigestSet: nGenes must be a non-negative integer, got ${nGenes}`);
    }
    if (!(compression >= MIN_COMPRESSION && compression <= MAX_COMPRESSION)) {
      throw new ArgumentError(
        `TDigestSet: compression must be in [${MIN_COMPRESSION}, ${MAX_COMPRESSION}], got ${compression}`,
      );
    }
    this.nGenes = nGenes;
    this.compression = compression;
    this.capacity = 2 * Math.ceil(compression) + 2;
    this.means = new Float64Array(nGenes * this.capacity);
    this.weights = new Float64Array(nGenes * this.capacity);
    this.centroidCount_g = new Int32Array(nGenes);
    this.centroidWeight_g = new Float64Array(nGenes);
    this.min_g = new Float64Array(nGenes).fill(Number.POSITIVE_INFINITY);
    this.max_g = new Float64Array(nGenes).fill(Number.NEGATIVE_INFINITY);
    this.buffer = new Float32Array(nGenes * BUFFER_CAPACITY);
    this.bufferBits = new Uint32Array(this.buffer.buffer);
    this.sortScratch = radixScratch(BUFFER_CAPACITY);
    this.bufferCount_g = new Int32Array(nGenes);
    this.scratchMeans = new Float64Array(this.capacity);
    this.scratchWeights = new Float64Array(this.capacity);
  }

  /**
   * Adds each gene's non-zero finite values of a batch (rows are cells, columns genes). Zeros,
   * NaN and infinities are skipped: upstream selects non-zeros and crick drops non-finite values.
   */
  update(x_ng: Matrix): void {
    if (x_ng.nCols !== this.nGenes) {
      throw new ArgumentError(
        `TDigestSet.update: x_ng has ${x_ng.nCols} columns, expected ${this.nGenes} genes`,
      );
    }
    const { data, nRows, nCols } = x_ng;
    if (x_ng.format === "csr") {
      const { indptr, indices } = x_ng;
      for (let p = indptr[0]!; p < indptr[nRows]!; p++) {
        const x = data[p]!;
        // x - x is 0 exactly when x is finite.
        if (x !== 0 && x - x === 0) this.add(indices[p]!, x);
      }
    } else {
      for (let i = 0; i < nRows; i++) {
        const row = i * nCols;
        for (let g = 0; g < nCols; g++) {
          const x = data[row + g]!;
          if (x !== 0 && x - x === 0) this.add(g, x);
        }
      }
    }
  }

  private add(g: number, x: number): void {
    const n = this.bufferCount_g[g]!;
    this.buffer[g * BUFFER_CAPACITY + n] = x;
    if (n + 1 === BUFFER_CAPACITY) this.flushGene(g, BUFFER_CAPACITY);
    else this.bufferCount_g[g] = n + 1;
  }

  /** Compresses every gene's buffered values into its centroids. */
  flush(): void {
    for (let g = 0; g < this.nGenes; g++) {
      const n = this.bufferCount_g[g]!;
      if (n > 0) this.flushGene(g, n);
    }
  }

  private flushGene(g: number, n: number): void {
    const start = g * BUFFER_CAPACITY;
    sortFloat32Bits(this.bufferBits, start, n, this.sortScratch);
    const values = this.buffer;
    if (values[start]! < this.min_g[g]!) this.min_g[g] = values[start]!;
    if (values[start + n - 1]! > this.max_g[g]!) this.max_g[g] = values[start + n - 1]!;
    const slot = g * this.capacity;
    const total = this.centroidWeight_g[g]! + n;
    const count = mergeCompress(
      this.means,
      this.weights,
      slot,
      this.centroidCount_g[g]!,
      values,
      null,
      start,
      n,
      total,
      this.compression,
      this.scratchMeans,
      this.scratchWeights,
    );
    this.storeScratch(g, count, total);
    this.bufferCount_g[g] = 0;
  }

  private storeScratch(g: number, count: number, total: number): void {
    const slot = g * this.capacity;
    this.means.set(this.scratchMeans.subarray(0, count), slot);
    this.weights.set(this.scratchWeights.subarray(0, count), slot);
    this.centroidCount_g[g] = count;
    this.centroidWeight_g[g] = total;
  }

  /** Adds another set's digests gene by gene (replicas over disjoint cells). Flushes both. */
  merge(other: TDigestSet): void {
    if (other.nGenes !== this.nGenes) {
      throw new ArgumentError(`TDigestSet.merge: other has ${other.nGenes} genes, expected ${this.nGenes}`);
    }
    this.flush();
    other.flush();
    for (let g = 0; g < this.nGenes; g++) {
      const otherCount = other.centroidCount_g[g]!;
      if (otherCount === 0) continue;
      const total = this.centroidWeight_g[g]! + other.centroidWeight_g[g]!;
      const count = mergeCompress(
        this.means,
        this.weights,
        g * this.capacity,
        this.centroidCount_g[g]!,
        other.means,
        other.weights,
        g * other.capacity,
        otherCount,
        total,
        this.compression,
        this.scratchMeans,
        this.scratchWeights,
      );
      this.storeScratch(g, count, total);
      this.min_g[g] = Math.min(this.min_g[g]!, other.min_g[g]!);
      this.max_g[g] = Math.max(this.max_g[g]!, other.max_g[g]!);
    }
  }

  /** Number of values seen per gene. */
  counts(): Float64Array {
    const out = new Float64Array(this.nGenes);
    for (let g = 0; g < this.nGenes; g++) out[g] = this.centroidWeight_g[g]! + this.bufferCount_g[g]!;
    return out;
  }

  /** Number of genes that never had a non-zero value (their quantiles are NaN). */
  emptyGeneCount(): number {
    let empty = 0;
    for (let g = 0; g < this.nGenes; g++) {
      if (this.centroidWeight_g[g] === 0 && this.bufferCount_g[g] === 0) empty++;
    }
    return empty;
  }

  /**
   * The q-quantile of each gene (crick's convention): the exact min for q <= 0 and max for
   * q >= 1; otherwise linear interpolation in cumulative weight between centroid means placed
   * at the middle of their weight, with (0, min) and (total, max) as the outer points. NaN for a
   * gene without values. Flushes the buffers.
   */
  quantile(q: number): Float64Array {
    if (!(q >= 0 && q <= 1)) throw new ArgumentError(`TDigestSet.quantile: q must be in [0, 1], got ${q}`);
    this.flush();
    const out = new Float64Array(this.nGenes);
    for (let g = 0; g < this.nGenes; g++) out[g] = this.geneQuantile(g, q);
    return out;
  }

  /** Per-gene median of the non-zero values (NaN for a gene never non-zero). */
  median(): Float64Array {
    return this.quantile(0.5);
  }

  private geneQuantile(g: number, q: number): number {
    const n = this.centroidCount_g[g]!;
    const total = this.centroidWeight_g[g]!;
    if (n === 0) return Number.NaN;
    if (q <= 0) return this.min_g[g]!;
    if (q >= 1) return this.max_g[g]!;
    const slot = g * this.capacity;
    if (n === 1) return this.means[slot]!;
    const target = q * total;
    // (x0, y0) -> (x1, y1): cumulative weight and value of the points around the target.
    let x0 = 0;
    let y0 = this.min_g[g]!;
    let before = 0;
    for (let i = 0; i < n; i++) {
      const w = this.weights[slot + i]!;
      const x1 = before + w / 2;
      const y1 = this.means[slot + i]!;
      if (x1 >= target) return y0 + ((target - x0) * (y1 - y0)) / (x1 - x0);
      x0 = x1;
      y0 = y1;
      before += w;
    }
    return y0 + ((target - x0) * (this.max_g[g]! - y0)) / (total - x0);
  }

  /**
   * Each gene's CDF at its own point x_g[g]: the inverse of the quantile interpolation, with
   * crick's conventions at the ends (0 at or below min, 1 at or above max), for a single centroid
   * (linear between min and max) and at a point equal to centroid means (the cumulative middle of
   * the last of them). Crick gives the left tail half the weight its quantile gives it; here the
   * two agree. NaN for a gene without values. Flushes the buffers.
   */
  cdf(x_g: ArrayLike<number>): Float64Array {
    if (x_g.length !== this.nGenes) {
      throw new ArgumentError(`TDigestSet.cdf: x_g has ${x_g.length} values, expected ${this.nGenes} genes`);
    }
    this.flush();
    const out = new Float64Array(this.nGenes);
    for (let g = 0; g < this.nGenes; g++) out[g] = this.geneCdf(g, x_g[g]!);
    return out;
  }

  private geneCdf(g: number, x: number): number {
    const n = this.centroidCount_g[g]!;
    if (n === 0) return Number.NaN;
    const min = this.min_g[g]!;
    const max = this.max_g[g]!;
    if (n === 1) {
      if (x < min) return 0;
      if (x > max) return 1;
      return max - min < Number.EPSILON ? 0.5 : (x - min) / (max - min);
    }
    if (x >= max) return 1;
    if (x <= min) return 0;
    const slot = g * this.capacity;
    const total = this.centroidWeight_g[g]!;
    let x0 = min;
    let c0 = 0;
    let before = 0;
    for (let i = 0; i < n; i++) {
      const w = this.weights[slot + i]!;
      const x1 = this.means[slot + i]!;
      const c1 = before + w / 2;
      if (x1 === x) {
        let last = i;
        let middle = c1;
        while (last + 1 < n && this.means[slot + last + 1] === x) {
          middle += (this.weights[slot + last]! + this.weights[slot + last + 1]!) / 2;
          last++;
        }
        return middle / total;
      }
      if (x1 > x) return (c0 + ((x - x0) * (c1 - c0)) / (x1 - x0)) / total;
      x0 = x1;
      c0 = c1;
      before += w;
    }
    return (c0 + ((x - x0) * (total - c0)) / (max - x0)) / total;
  }

  /** The digests as compact arrays, for a checkpoint. Flushes the buffers. */
  exportState(): TDigestState {
    this.flush();
    const centroidOffsets = new Int32Array(this.nGenes + 1);
    for (let g = 0; g < this.nGenes; g++)
      centroidOffsets[g + 1] = centroidOffsets[g]! + this.centroidCount_g[g]!;
    const size = centroidOffsets[this.nGenes]!;
    const centroidMeans = new Float64Array(size);
    const centroidWeights = new Float64Array(size);
    const min_g = new Float64Array(this.nGenes);
    const max_g = new Float64Array(this.nGenes);
    for (let g = 0; g < this.nGenes; g++) {
      const slot = g * this.capacity;
      const count = this.centroidCount_g[g]!;
      centroidMeans.set(this.means.subarray(slot, slot + count), centroidOffsets[g]);
      centroidWeights.set(this.weights.subarray(slot, slot + count), centroidOffsets[g]);
      min_g[g] = count === 0 ? Number.NaN : this.min_g[g]!;
      max_g[g] = count === 0 ? Number.NaN : this.max_g[g]!;
    }
    return { compression: this.compression, centroidOffsets, centroidMeans, centroidWeights, min_g, max_g };
  }

  /** A set holding a copy of `state`, checked for consistency. */
  static fromState(state: TDigestState): TDigestSet {
    const { compression, centroidOffsets, centroidMeans, centroidWeights, min_g, max_g } = state;
    const nGenes = centroidOffsets.length - 1;
    if (!(compression >= MIN_COMPRESSION && compression <= MAX_COMPRESSION)) {
      throw new CheckpointError(`tdigest state: compression must be in [20, 1000], got ${compression}`);
    }
    if (nGenes < 0 || centroidOffsets[0] !== 0) {
      throw new CheckpointError(
        `tdigest state: centroidOffsets must start with 0, got length ${centroidOffsets.length}`,
      );
    }
    const size = centroidOffsets[nGenes]!;
    if (centroidMeans.length !== size || centroidWeights.length !== size) {
      throw new CheckpointError(
        `tdigest state: centroidOffsets ends at ${size} but there are ${centroidMeans.length} means and ${centroidWeights.length} weights`,
      );
    }
    if (min_g.length !== nGenes || max_g.length !== nGenes) {
      throw new CheckpointError(
        `tdigest state: min_g and max_g have ${min_g.length} and ${max_g.length} values, expected ${nGenes} genes`,
      );
    }
    const set = new TDigestSet(nGenes, compression);
    for (let g = 0; g < nGenes; g++) {
      const begin = centroidOffsets[g]!;
      const count = centroidOffsets[g + 1]! - begin;
      if (count < 0 || count > set.capacity) {
        throw new CheckpointError(
          `tdigest state: gene ${g} has ${count} centroids, at most ${set.capacity} allowed`,
        );
      }
      let total = 0;
      for (let i = begin; i < begin + count; i++) {
        const w = centroidWeights[i]!;
        const m = centroidMeans[i]!;
        if (
          !(w > 0 && w < Number.POSITIVE_INFINITY) ||
          !Number.isFinite(m) ||
          (i > begin && m < centroidMeans[i - 1]!)
        ) {
          throw new CheckpointError(
            `tdigest state: gene ${g} centroid ${i - begin} has mean ${m} and weight ${w}`,
          );
        }
        total += w;
      }
      const min = min_g[g]!;
      const max = max_g[g]!;
      const consistent =
        count === 0
          ? Number.isNaN(min) && Number.isNaN(max)
          : min <= centroidMeans[begin]! && max >= centroidMeans[begin + count - 1]!;
      if (!consistent) {
        throw new CheckpointError(
          `tdigest state: gene ${g} has min ${min} and max ${max} for ${count} centroids`,
        );
      }
      const slot = g * set.capacity;
      set.means.set(centroidMeans.subarray(begin, begin + count), slot);
      set.weights.set(centroidWeights.subarray(begin, begin + count), slot);
      set.centroidCount_g[g] = count;
      set.centroidWeight_g[g] = total;
      if (count > 0) {
        set.min_g[g] = min;
        set.max_g[g] = max;
      }
    }
    return set;
  }
}

/**
 * Merges two runs sorted by mean, a = (aMeans, aWeights) from aStart and b = (bMeans, bWeights or
 * unit weights when null) from bStart, and compresses them into outMeans/outWeights; returns the
 * number of centroids written. Crick's rule: a value joins the current centroid while
 * k(q_after) - k(q_start) <= 1 with k(q) = compression / pi * (asin(2q - 1) + pi / 2). Solved once
 * per centroid for the largest cumulative weight it may reach, so the loop needs one square root
 * per centroid instead of one asin per value. On equal means, a goes first (as in crick, whose
 * existing centroids precede buffered values).
 */
function mergeCompress(
  aMeans: Float64Array,
  aWeights: Float64Array,
  aStart: number,
  aCount: number,
  bMeans: Float32Array | Float64Array,
  bWeights: Float64Array | null,
  bStart: number,
  bCount: number,
  total: number,
  compression: number,
  outMeans: Float64Array,
  outWeights: Float64Array,
): number {
  // With theta = acos(1 - 2q), k = compression * theta / pi, so k + 1 is theta + delta and
  // q_limit = (1 - cos(theta + delta)) / 2 = (1 - (1 - 2q) cos delta + 2 sqrt(q (1 - q)) sin delta) / 2,
  // written below for weights (w = total * q). Past theta = pi - delta the limit is the end.
  const delta = Math.PI / compression;
  const cosDelta = Math.cos(delta);
  const sinDelta = Math.sin(delta);
  const lastStart = (total * (1 + cosDelta)) / 2;
  const lastSlot = outMeans.length - 1;
  let i = aStart;
  const aEnd = aStart + aCount;
  let j = bStart;
  const bEnd = bStart + bCount;
  let out = -1;
  let weightSoFar = 0;
  let limit = 0;
  while (i < aEnd || j < bEnd) {
    let m: number;
    let w: number;
    if (j === bEnd || (i < aEnd && aMeans[i]! <= bMeans[j]!)) {
      m = aMeans[i]!;
      w = aWeights[i]!;
      i++;
    } else {
      m = bMeans[j]!;
      w = bWeights === null ? 1 : bWeights[j]!;
      j++;
    }
    // The capacity bound (see TDigestSet.capacity) makes out === lastSlot unreachable with a new
    // centroid pending; the test keeps rounding from ever writing past a gene's slots.
    if (out >= 0 && (weightSoFar + w <= limit || out === lastSlot)) {
      const merged = outWeights[out]! + w;
      outWeights[out] = merged;
      outMeans[out]! += ((m - outMeans[out]!) * w) / merged;
    } else {
      out++;
      outMeans[out] = m;
      outWeights[out] = w;
      limit =
        weightSoFar >= lastStart
          ? Number.POSITIVE_INFINITY
          : (total -
              (total - 2 * weightSoFar) * cosDelta +
              2 * Math.sqrt(weightSoFar * (total - weightSoFar)) * sinDelta) /
            2;
    }
    weightSoFar += w;
  }
  return out + 1;
}
