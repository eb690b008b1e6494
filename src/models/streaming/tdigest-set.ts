// One merging t-digest per gene over the gene's non-zero values: the numerical core of the TDigest
// model. Conventions (k1 scale in crick's normalisation, merge rule, quantile interpolation,
// compression bounds) follow crick's C port of Dunning's merging digest, which upstream uses with
// compression 100; tdigest-merge.ts has the compression pass and its one addition (pure
// centroids, for ties).
//
// Layout for 20,000+ genes: no object per gene. Gene g owns the slots [g * capacity, (g + 1) *
// capacity) of pooled arrays of centroid means, weights and purity flags (sorted by mean), and
// [g * BUFFER_CAPACITY, ...) of a Float32Array of incoming values. A batch appends each non-zero to
// its gene's buffer in O(1); a full buffer is sorted and merged with the gene's centroids in one
// pass (O(buffer + centroids)), so a batch costs O(non-zeros) amortised.

import { type Matrix, storedForm } from "../../data/matrix.js";
import { ArgumentError, CheckpointError } from "../../errors.js";
import { type RadixScratch, radixScratch, sortFloat32Bits } from "./radix-sort.js";
import { type CentroidOutput, type CentroidRun, mergeCompress } from "./tdigest-merge.js";

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
  /** Centroid means, non-decreasing within a gene. */
  readonly centroidMeans: Float64Array;
  /** Centroid weights (numbers of values), positive. */
  readonly centroidWeights: Float64Array;
  /** 1 where all of a centroid's values equal its mean, else 0. */
  readonly centroidPure: Uint8Array;
  /** Smallest and largest value per gene; NaN for a gene without any value. */
  readonly min_g: Float64Array;
  readonly max_g: Float64Array;
}

export class TDigestSet {
  readonly nGenes: number;
  readonly compression: number;
  /**
   * Centroids a gene can hold. Compression starts a new centroid only when the current one plus
   * the next item would span more than 1 on the k scale, so any two consecutive centroids span
   * more than 1 and a digest, whose k scale runs over [0, compression], holds at most
   * 2 * compression + 1 centroids.
   */
  private readonly capacity: number;
  private readonly centroids: CentroidOutput;
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
  /** One gene's merged centroids before they are copied back into its slots. */
  private readonly scratch: CentroidOutput;
  /** One gene's quantile-function knots: (cumulative weight, value), increasing in weight. */
  private readonly knotWeights: Float64Array;
  private readonly knotValues: Float64Array;

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
    this.centroids = centroidArrays(nGenes * this.capacity);
    this.centroidCount_g = new Int32Array(nGenes);
    this.centroidWeight_g = new Float64Array(nGenes);
    this.min_g = new Float64Array(nGenes).fill(Number.POSITIVE_INFINITY);
    this.max_g = new Float64Array(nGenes).fill(Number.NEGATIVE_INFINITY);
    this.buffer = new Float32Array(nGenes * BUFFER_CAPACITY);
    this.bufferBits = new Uint32Array(this.buffer.buffer);
    this.bufferCount_g = new Int32Array(nGenes);
    this.sortScratch = radixScratch(BUFFER_CAPACITY);
    this.scratch = centroidArrays(this.capacity);
    this.knotWeights = new Float64Array(2 * this.capacity + 2);
    this.knotValues = new Float64Array(2 * this.capacity + 2);
  }

  /**
   * Adds each gene's non-zero finite values of a batch (rows are cells, columns genes). Zeros,
   * NaN and infinities are skipped: upstream selects non-zeros and crick drops non-finite values.
   */
  update(x: Matrix): void {
    // A deferred dense block (matrix.ts) through its CSR form.
    const x_ng = storedForm(x);
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
        const g = indices[p]!;
        // A gene outside the digests would write into another gene's buffer.
        if (!(g >= 0 && g < nCols)) {
          throw new ArgumentError(`TDigestSet.update: x_ng's column index ${g} is outside [0, ${nCols})`);
        }
        // x - x is 0 exactly when x is finite.
        if (x !== 0 && x - x === 0) this.add(g, x);
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
    const buffered: CentroidRun = { means: values, weights: null, pure: null, start, count: n };
    this.mergeIntoGene(g, buffered, this.centroidWeight_g[g]! + n);
    this.bufferCount_g[g] = 0;
  }

  /** Merges a sorted run into gene g's centroids, through the scratch. */
  private mergeIntoGene(g: number, run: CentroidRun, total: number): void {
    const slot = g * this.capacity;
    const own: CentroidRun = { ...this.centroids, start: slot, count: this.centroidCount_g[g]! };
    const count = mergeCompress(own, run, total, this.compression, this.scratch);
    const { means, weights, pure } = this.scratch;
    this.centroids.means.set(means.subarray(0, count), slot);
    this.centroids.weights.set(weights.subarray(0, count), slot);
    this.centroids.pure.set(pure.subarray(0, count), slot);
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
      const count = other.centroidCount_g[g]!;
      if (count === 0) continue;
      const run: CentroidRun = { ...other.centroids, start: g * other.capacity, count };
      this.mergeIntoGene(g, run, this.centroidWeight_g[g]! + other.centroidWeight_g[g]!);
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
   * Gene g's quantile function as knots (cumulative weight, value), joined linearly. Crick's:
   * (0, min), each centroid's mean at the middle of its weight, (total, max). A pure centroid of
   * weight w is w equal values, each at the middle of its own unit of weight, so it gives two
   * knots, 1/2 after its start and 1/2 before its end: the quantile function is flat across it.
   * Knot weights increase strictly (weights are positive). Returns the number of knots.
   */
  private knots(g: number): number {
    const { means, weights, pure } = this.centroids;
    const slot = g * this.capacity;
    const count = this.centroidCount_g[g]!;
    const knotWeights = this.knotWeights;
    const knotValues = this.knotValues;
    knotWeights[0] = 0;
    knotValues[0] = this.min_g[g]!;
    let k = 1;
    let before = 0;
    for (let i = slot; i < slot + count; i++) {
      const w = weights[i]!;
      if (pure[i] === 1 && w > 1) {
        knotWeights[k] = before + 0.5;
        knotValues[k++] = means[i]!;
        knotWeights[k] = before + w - 0.5;
      } else {
        knotWeights[k] = before + w / 2;
      }
      knotValues[k++] = means[i]!;
      before += w;
    }
    knotWeights[k] = this.centroidWeight_g[g]!;
    knotValues[k++] = this.max_g[g]!;
    return k;
  }

  /**
   * The q-quantile of each gene, by crick's rules: NaN for a gene without values, the exact min
   * for q = 0 and max for q = 1, a lone centroid's mean, otherwise linear interpolation between
   * the knots around q * total weight. Flushes the buffers.
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
    const count = this.centroidCount_g[g]!;
    if (count === 0) return Number.NaN;
    if (q === 0) return this.min_g[g]!;
    if (q === 1) return this.max_g[g]!;
    if (count === 1) return this.centroids.means[g * this.capacity]!;
    const n = this.knots(g);
    const target = q * this.centroidWeight_g[g]!;
    const weights = this.knotWeights;
    const values = this.knotValues;
    // The last knot's weight is the total, above the target, so the scan stops inside.
    let k = 1;
    while (k < n - 1 && weights[k]! < target) k++;
    const w0 = weights[k - 1]!;
    const v0 = values[k - 1]!;
    return v0 + ((target - w0) * (values[k]! - v0)) / (weights[k]! - w0);
  }

  /**
   * Each gene's CDF at its own point x_g[g], the inverse of the quantile interpolation, with
   * crick's rules at the edges: 0 at or below min, 1 at or above max, linear between min and max
   * for a lone centroid, and at a value equal to knots the weight of the last of them. (Crick's
   * left tail gives half the weight its own quantile gives; here the two agree.) NaN for a gene
   * without values. Flushes the buffers.
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
    const count = this.centroidCount_g[g]!;
    if (count === 0) return Number.NaN;
    const min = this.min_g[g]!;
    const max = this.max_g[g]!;
    if (count === 1) {
      if (x < min) return 0;
      if (x > max) return 1;
      return max - min < Number.EPSILON ? 0.5 : (x - min) / (max - min);
    }
    if (x <= min) return 0;
    if (x >= max) return 1;
    const n = this.knots(g);
    const weights = this.knotWeights;
    const values = this.knotValues;
    const total = this.centroidWeight_g[g]!;
    // min < x < max: the first knot at or above x is inside, after knot 0.
    let k = 1;
    while (values[k]! < x) k++;
    if (values[k] === x) {
      while (k + 1 < n - 1 && values[k + 1] === x) k++;
      return weights[k]! / total;
    }
    const w0 = weights[k - 1]!;
    const v0 = values[k - 1]!;
    return (w0 + ((x - v0) * (weights[k]! - w0)) / (values[k]! - v0)) / total;
  }

  /** The digests as compact arrays, for a checkpoint. Flushes the buffers. */
  exportState(): TDigestState {
    this.flush();
    const centroidOffsets = new Int32Array(this.nGenes + 1);
    for (let g = 0; g < this.nGenes; g++)
      centroidOffsets[g + 1] = centroidOffsets[g]! + this.centroidCount_g[g]!;
    const size = centroidOffsets[this.nGenes]!;
    const exported = centroidArrays(size);
    const min_g = new Float64Array(this.nGenes);
    const max_g = new Float64Array(this.nGenes);
    for (let g = 0; g < this.nGenes; g++) {
      const slot = g * this.capacity;
      const end = slot + this.centroidCount_g[g]!;
      exported.means.set(this.centroids.means.subarray(slot, end), centroidOffsets[g]);
      exported.weights.set(this.centroids.weights.subarray(slot, end), centroidOffsets[g]);
      exported.pure.set(this.centroids.pure.subarray(slot, end), centroidOffsets[g]);
      const empty = end === slot;
      min_g[g] = empty ? Number.NaN : this.min_g[g]!;
      max_g[g] = empty ? Number.NaN : this.max_g[g]!;
    }
    return {
      compression: this.compression,
      centroidOffsets,
      centroidMeans: exported.means,
      centroidWeights: exported.weights,
      centroidPure: exported.pure,
      min_g,
      max_g,
    };
  }

  /** A set holding a copy of `state`, checked for consistency. */
  static fromState(state: TDigestState): TDigestSet {
    const { compression, centroidOffsets, centroidMeans, centroidWeights, centroidPure, min_g, max_g } =
      state;
    const nGenes = centroidOffsets.length - 1;
    if (!(compression >= MIN_COMPRESSION && compression <= MAX_COMPRESSION)) {
      throw new CheckpointError(
        `tdigest state: compression must be in [${MIN_COMPRESSION}, ${MAX_COMPRESSION}], got ${compression}`,
      );
    }
    if (nGenes < 0 || centroidOffsets[0] !== 0) {
      throw new CheckpointError(
        `tdigest state: centroidOffsets must start with 0, got length ${centroidOffsets.length}`,
      );
    }
    const size = centroidOffsets[nGenes]!;
    if (centroidMeans.length !== size || centroidWeights.length !== size || centroidPure.length !== size) {
      throw new CheckpointError(
        `tdigest state: centroidOffsets ends at ${size} but there are ${centroidMeans.length} means, ${centroidWeights.length} weights and ${centroidPure.length} purity flags`,
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
      const end = centroidOffsets[g + 1]!;
      if (end < begin || end - begin > set.capacity) {
        throw new CheckpointError(
          `tdigest state: gene ${g} has ${end - begin} centroids, at most ${set.capacity} allowed`,
        );
      }
      let total = 0;
      for (let i = begin; i < end; i++) {
        const w = centroidWeights[i]!;
        const m = centroidMeans[i]!;
        const sorted = i === begin || m >= centroidMeans[i - 1]!;
        if (
          !(w > 0 && w < Number.POSITIVE_INFINITY && Number.isFinite(m) && sorted && centroidPure[i]! <= 1)
        ) {
          throw new CheckpointError(
            `tdigest state: gene ${g} centroid ${i - begin} has mean ${m}, weight ${w}, purity flag ${centroidPure[i]}`,
          );
        }
        total += w;
      }
      const min = min_g[g]!;
      const max = max_g[g]!;
      const consistent =
        end === begin
          ? Number.isNaN(min) && Number.isNaN(max)
          : min <= centroidMeans[begin]! && max >= centroidMeans[end - 1]!;
      if (!consistent) {
        throw new CheckpointError(
          `tdigest state: gene ${g} has min ${min} and max ${max} for ${end - begin} centroids`,
        );
      }
      const slot = g * set.capacity;
      set.centroids.means.set(centroidMeans.subarray(begin, end), slot);
      set.centroids.weights.set(centroidWeights.subarray(begin, end), slot);
      set.centroids.pure.set(centroidPure.subarray(begin, end), slot);
      set.centroidCount_g[g] = end - begin;
      set.centroidWeight_g[g] = total;
      if (end > begin) {
        set.min_g[g] = min;
        set.max_g[g] = max;
      }
    }
    return set;
  }
}

function centroidArrays(length: number): CentroidOutput {
  return { means: new Float64Array(length), weights: new Float64Array(length), pure: new Uint8Array(length) };
}
