// Per-gene running mean and variance over a stream of batches: the numerical core of
// OnePassMeanVarStd. Upstream keeps the sums in float32 and drifts by up to 20% at 50M cells (SPEC
// section 6); here every sum is float64, each batch is first summed on its own and then added to
// the totals (two-level summation), and replicas merge with Chan et al.'s parallel formula
// ("Updating formulae and a pairwise algorithm for computing sample variances", 1979).
//
// The state keeps upstream's buffer names (x_sums, x_squared_sums, x_size, x_shift) so that a
// checkpoint maps onto upstream's without renaming.

import { type CsrMatrix, type DenseMatrix, type Matrix, storedForm } from "../../data/matrix.js";
import { ArgumentError, CheckpointError } from "../../errors.js";
import { kernels } from "../../tensor/kernels/index.js";

/**
 * "naive" sums x and x^2; "shifted_data" sums (x - shift_g) and (x - shift_g)^2 with shift_g the
 * mean of the first batch, which avoids the cancellation in E[x^2] - E[x]^2 when a gene's mean is
 * large next to its standard deviation.
 */
export type MomentsAlgorithm = "naive" | "shifted_data";

/** Everything a checkpoint needs. x_shift_g is null for "naive" and before the first batch. */
export interface MomentsState {
  readonly algorithm: MomentsAlgorithm;
  /** Number of cells seen. */
  readonly x_size: number;
  /** Sum over cells of (x - shift_g), shift_g = 0 for "naive". */
  readonly x_sums_g: Float64Array;
  /** Sum over cells of (x - shift_g)^2. */
  readonly x_squared_sums_g: Float64Array;
  readonly x_shift_g: Float64Array | null;
}

export class RunningMoments {
  readonly algorithm: MomentsAlgorithm;
  readonly nGenes: number;
  private size = 0;
  private readonly sums_g: Float64Array;
  private readonly squaredSums_g: Float64Array;
  private shift_g: Float64Array | null = null;
  // Per-batch scratch: the batch's own sums; for CSR blocks, the kernel's interleaved
  // [sum, squared sum, non-zero count] per gene.
  private readonly batchSums_g: Float64Array;
  private readonly batchSquaredSums_g: Float64Array;
  private readonly batchMoments_g3: Float64Array;

  constructor(nGenes: number, algorithm: MomentsAlgorithm = "naive") {
    if (!Number.isSafeInteger(nGenes) || nGenes < 0) {
      throw new ArgumentError(`RunningMoments: nGenes must be a non-negative integer, got ${nGenes}`);
    }
    if (algorithm !== "naive" && algorithm !== "shifted_data") {
      throw new ArgumentError(
        `RunningMoments: algorithm must be "naive" or "shifted_data", got ${String(algorithm)}`,
      );
    }
    this.algorithm = algorithm;
    this.nGenes = nGenes;
    this.sums_g = new Float64Array(nGenes);
    this.squaredSums_g = new Float64Array(nGenes);
    this.batchSums_g = new Float64Array(nGenes);
    this.batchSquaredSums_g = new Float64Array(nGenes);
    this.batchMoments_g3 = new Float64Array(3 * nGenes);
  }

  /** Number of cells seen. */
  get count(): number {
    return this.size;
  }

  /** Forgets every batch (and the shift). */
  reset(): void {
    this.size = 0;
    this.sums_g.fill(0);
    this.squaredSums_g.fill(0);
    this.shift_g = null;
  }

  /** Adds the cells of one batch (rows of x_ng, one column per gene). */
  update(x: Matrix): void {
    // A deferred dense block (matrix.ts) through its CSR form: the sums of its zeros come from the
    // per-gene counts, as for CSR (float64 sums in another order than the dense loop's).
    const x_ng = storedForm(x);
    if (x_ng.nCols !== this.nGenes) {
      throw new ArgumentError(
        `RunningMoments.update: x_ng has ${x_ng.nCols} columns, expected ${this.nGenes} genes`,
      );
    }
    if (x_ng.nRows === 0) return;
    if (this.algorithm === "shifted_data" && this.shift_g === null) this.shift_g = columnMeans(x_ng);
    const shift_g = this.shift_g;
    const sums_g = this.batchSums_g;
    const squaredSums_g = this.batchSquaredSums_g;
    sums_g.fill(0);
    squaredSums_g.fill(0);
    if (x_ng.format === "csr") this.sumCsr(x_ng, shift_g);
    else sumDense(x_ng, shift_g, sums_g, squaredSums_g);
    for (let g = 0; g < this.nGenes; g++) {
      this.sums_g[g]! += sums_g[g]!;
      this.squaredSums_g[g]! += squaredSums_g[g]!;
    }
    this.size += x_ng.nRows;
  }

  // O(non-zeros): each stored entry contributes (x - s) and (x - s)^2; the nRows - nnz_g zeros of
  // gene g contribute -s and s^2 each, added once per gene from the count. Adding
  // x (x - 2 s) per entry plus nRows s^2 would avoid the count but cancels catastrophically.
  private sumCsr(x_ng: CsrMatrix, shift_g: Float64Array | null): void {
    const { indptr, indices, data, nRows } = x_ng;
    const start = indptr[0]!;
    const end = indptr[nRows]!;
    const moments_g3 = this.batchMoments_g3;
    moments_g3.fill(0);
    kernels().csrColumnMoments({
      indices: indices.subarray(start, end),
      values: data.subarray(start, end),
      shift: shift_g,
      moments: moments_g3,
    });
    const sums_g = this.batchSums_g;
    const squaredSums_g = this.batchSquaredSums_g;
    for (let g = 0; g < this.nGenes; g++) {
      const s = shift_g === null ? 0 : shift_g[g]!;
      const zeros = nRows - moments_g3[3 * g + 2]!;
      sums_g[g] = moments_g3[3 * g]! - zeros * s;
      squaredSums_g[g] = moments_g3[3 * g + 1]! + zeros * s * s;
    }
  }

  /**
   * Adds another accumulator over the same genes (another replica's cells). Genes whose shifts
   * agree (always for "naive") add their sums; the others combine (n, mean, M2) by Chan et al.'s
   * formula and are re-expressed around this accumulator's shift.
   */
  merge(other: RunningMoments): void {
    if (other.nGenes !== this.nGenes || other.algorithm !== this.algorithm) {
      throw new ArgumentError(
        `RunningMoments.merge: other has ${other.nGenes} genes (${other.algorithm}), expected ${this.nGenes} (${this.algorithm})`,
      );
    }
    if (other.size === 0) return;
    if (this.size === 0) {
      this.size = other.size;
      this.sums_g.set(other.sums_g);
      this.squaredSums_g.set(other.squaredSums_g);
      this.shift_g = other.shift_g === null ? null : other.shift_g.slice();
      return;
    }
    const nA = this.size;
    const nB = other.size;
    const n = nA + nB;
    for (let g = 0; g < this.nGenes; g++) {
      const sA = this.shift_g === null ? 0 : this.shift_g[g]!;
      const sB = other.shift_g === null ? 0 : other.shift_g[g]!;
      if (sA === sB) {
        this.sums_g[g]! += other.sums_g[g]!;
        this.squaredSums_g[g]! += other.squaredSums_g[g]!;
        continue;
      }
      // Each side's mean relative to this shift, and M2 = sum (x - mean)^2 = S2 - S1^2 / n.
      const s1A = this.sums_g[g]!;
      const s1B = other.sums_g[g]!;
      const m2A = this.squaredSums_g[g]! - (s1A * s1A) / nA;
      const m2B = other.squaredSums_g[g]! - (s1B * s1B) / nB;
      const meanA = s1A / nA;
      const meanB = sB - sA + s1B / nB;
      const delta = meanB - meanA;
      const mean = meanA + (delta * nB) / n;
      const m2 = m2A + m2B + ((delta * delta * nA) / n) * nB;
      this.sums_g[g] = mean * n;
      this.squaredSums_g[g] = m2 + mean * mean * n;
    }
    this.size = n;
  }

  /** Per-gene mean (NaN before any cell). */
  mean(): Float64Array {
    const out = new Float64Array(this.nGenes);
    const n = this.size;
    for (let g = 0; g < this.nGenes; g++) {
      out[g] = (this.shift_g === null ? 0 : this.shift_g[g]!) + this.sums_g[g]! / n;
    }
    return out;
  }

  /**
   * Per-gene population variance (ddof 0; NaN before any cell). Clamped at 0: rounding can leave
   * S2 - S1^2 / n a few ulps below zero for a constant gene, whose std would then be NaN.
   */
  variance(): Float64Array {
    const out = new Float64Array(this.nGenes);
    const n = this.size;
    for (let g = 0; g < this.nGenes; g++) {
      const s1 = this.sums_g[g]!;
      out[g] = Math.max(0, (this.squaredSums_g[g]! - (s1 * s1) / n) / n);
    }
    if (n === 0) out.fill(Number.NaN);
    return out;
  }

  /** Per-gene population standard deviation. */
  std(): Float64Array {
    const out = this.variance();
    for (let g = 0; g < out.length; g++) out[g] = Math.sqrt(out[g]!);
    return out;
  }

  /** A copy of the state, for a checkpoint. */
  exportState(): MomentsState {
    return {
      algorithm: this.algorithm,
      x_size: this.size,
      x_sums_g: this.sums_g.slice(),
      x_squared_sums_g: this.squaredSums_g.slice(),
      x_shift_g: this.shift_g === null ? null : this.shift_g.slice(),
    };
  }

  /** An accumulator holding a copy of `state` (checked for consistency). */
  static fromState(state: MomentsState): RunningMoments {
    const nGenes = state.x_sums_g.length;
    const where = `moments state (${state.algorithm}, ${nGenes} genes)`;
    if (state.algorithm !== "naive" && state.algorithm !== "shifted_data") {
      throw new CheckpointError(`moments state: unknown algorithm ${String(state.algorithm)}`);
    }
    if (!Number.isSafeInteger(state.x_size) || state.x_size < 0) {
      throw new CheckpointError(`${where}: x_size must be a non-negative integer, got ${state.x_size}`);
    }
    if (state.x_squared_sums_g.length !== nGenes) {
      throw new CheckpointError(`${where}: x_squared_sums_g has length ${state.x_squared_sums_g.length}`);
    }
    const shift = state.x_shift_g;
    if (state.algorithm === "naive" && shift !== null) {
      throw new CheckpointError(`${where}: x_shift_g must be absent for the naive algorithm`);
    }
    if (state.algorithm === "shifted_data" && state.x_size > 0 && shift === null) {
      throw new CheckpointError(`${where}: x_shift_g is missing although x_size is ${state.x_size}`);
    }
    if (shift !== null && shift.length !== nGenes) {
      throw new CheckpointError(`${where}: x_shift_g has length ${shift.length}`);
    }
    const moments = new RunningMoments(nGenes, state.algorithm);
    moments.size = state.x_size;
    moments.sums_g.set(state.x_sums_g);
    moments.squaredSums_g.set(state.x_squared_sums_g);
    moments.shift_g = shift === null ? null : Float64Array.from(shift);
    return moments;
  }
}

function sumDense(
  x_ng: DenseMatrix,
  shift_g: Float64Array | null,
  sums_g: Float64Array,
  squaredSums_g: Float64Array,
): void {
  const { nRows, nCols, data } = x_ng;
  for (let i = 0; i < nRows; i++) {
    const row = i * nCols;
    if (shift_g === null) {
      for (let g = 0; g < nCols; g++) {
        const x = data[row + g]!;
        sums_g[g]! += x;
        squaredSums_g[g]! += x * x;
      }
    } else {
      for (let g = 0; g < nCols; g++) {
        const d = data[row + g]! - shift_g[g]!;
        sums_g[g]! += d;
        squaredSums_g[g]! += d * d;
      }
    }
  }
}

/** Float64 column means of a non-empty block: the shift of "shifted_data". */
function columnMeans(x_ng: Matrix): Float64Array {
  const { nRows, nCols, data } = x_ng;
  const mean_g = new Float64Array(nCols);
  if (x_ng.format === "csr") {
    const { indptr, indices } = x_ng;
    for (let p = indptr[0]!; p < indptr[nRows]!; p++) mean_g[indices[p]!]! += data[p]!;
  } else {
    for (let i = 0; i < nRows; i++) for (let g = 0; g < nCols; g++) mean_g[g]! += data[i * nCols + g]!;
  }
  for (let g = 0; g < nCols; g++) mean_g[g]! /= nRows;
  return mean_g;
}
