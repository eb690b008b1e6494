// PFlogPF (upstream cellarium/ml/transforms/pflogpf.py; Booeshaghi, Hallgrimsdottir,
// Galvez-Merchan, Pachter, "Depth normalization for single-cell genomics count data"): upstream's
// composition NormalizeTotal(target_count, eps) -> Log1p -> CenterPerCell,
//   y_ng = c_n(log(1 + target_count * x_ng / (sum_g x_ng + eps))),  c_n: minus the cell's mean.
// Upstream's forward takes x_ng alone, so its NormalizeTotal divides by the row sums even where the
// batch carries total_mrna_umis_n; so do we. Its default target_count is 1 (proportions), not
// NormalizeTotal's 10_000. The first two steps keep zeros (CSR stays CSR, in one buffer); the
// centering makes the result dense.

import type { Batch, Transform, TransformState } from "../data/batch.js";
import { type DenseMatrix, type Matrix, storedForm } from "../data/matrix.js";
import { centerPerCell } from "./center-per-cell.js";
import { log1p } from "./log1p.js";
import { normalizeTotal } from "./normalize-total.js";
import { checkStateName, numberArg } from "./state.js";
import { checkEps, checkTargetCount } from "./values.js";

/** PFlogPF of x_ng, dense; `out` takes the intermediate values (x_ng's stored values, to work in place). */
export function pflogpf(
  x_ng: Matrix,
  targetCount: number,
  eps: number,
  out?: Float32Array,
  var_names_g?: readonly string[],
): DenseMatrix {
  const normalized = normalizeTotal(x_ng, undefined, targetCount, eps, out, var_names_g);
  return centerPerCell(log1p(normalized, storedForm(normalized).data, var_names_g));
}

export interface PFlogPFOptions {
  /** Default 1, upstream's. */
  readonly target_count?: number;
  /** Default 1e-6, upstream's. */
  readonly eps?: number;
}

/**
 * Proportional fitting, log1p, proportional fitting (upstream's PFlogPF; Booeshaghi et al.): NormalizeTotal
 * to `target_count` (default 1), Log1p, then CenterPerCell. The result is dense.
 */
export class PFlogPF implements Transform {
  readonly name = "PFlogPF";
  readonly target_count: number;
  readonly eps: number;

  constructor(options: PFlogPFOptions = {}) {
    this.target_count = options.target_count ?? 1;
    this.eps = options.eps ?? 1e-6;
    checkTargetCount(this.name, this.target_count);
    checkEps(this.name, this.eps);
  }

  /**
   * Rebuilds the transform from what `state()` returned (a checkpoint's entry).
   * @throws {@link CheckpointError} when the state is not a PFlogPF's.
   */
  static fromState(state: TransformState): PFlogPF {
    checkStateName(state, "PFlogPF");
    return new PFlogPF({ target_count: numberArg(state, "target_count"), eps: numberArg(state, "eps") });
  }

  forward(batch: Batch): Partial<Batch> {
    return { x_ng: pflogpf(batch.x_ng, this.target_count, this.eps, undefined, batch.var_names_g) };
  }

  forwardInPlace(batch: Batch): Partial<Batch> {
    const { x_ng, var_names_g } = batch;
    return { x_ng: pflogpf(x_ng, this.target_count, this.eps, storedForm(x_ng).data, var_names_g) };
  }

  state(): TransformState {
    return { name: this.name, args: { target_count: this.target_count, eps: this.eps }, tensors: {} };
  }
}
