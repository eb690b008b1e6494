// DivideByScale (upstream cellarium/ml/transforms/divide_by_scale.py):
//   y_ng = x_ng / (scale_g + eps).
// Upstream replaces NaN in scale_g (e.g. the median of a gene never seen non-zero, from TDigest)
// by 1/eps with a warning, so that gene's values become ~0 instead of NaN.

import type { Batch, Transform, TransformState } from "../data/batch.js";
import { inStoredForm, type Matrix, storedForm } from "../data/matrix.js";
import { ArgumentError } from "../errors.js";
import { checkColumns, GeneSchema, pick } from "./gene-schema.js";
import { checkStateName, numberArg, stringsArg, tensorArg } from "./state.js";
import { checkEps, checkLength, withValues } from "./values.js";

/** A float32 copy of scale_g with each NaN replaced by 1/eps, and how many there were. */
export function replaceNaNScale(
  scale_g: ArrayLike<number>,
  eps: number,
): { scale_g: Float32Array; nanCount: number } {
  const out = Float32Array.from(scale_g);
  let nanCount = 0;
  for (let g = 0; g < out.length; g++) {
    if (Number.isNaN(out[g])) {
      out[g] = 1 / eps;
      nanCount++;
    }
  }
  return { scale_g: out, nanCount };
}

/**
 * x_ng divided column-wise by scale_g + eps, in x_ng's format (CSR in O(nnz)). Rounding follows
 * upstream's float32 ops: fl(x / fl(scale + eps)). The values go to `out` (x_ng's stored values,
 * storedForm(x_ng).data, to work in place).
 */
export function divideByScale(x_ng: Matrix, scale_g: Float32Array, eps: number, out?: Float32Array): Matrix {
  // A deferred dense block (matrix.ts) through its CSR form: 0 / d = 0 for the finite d > 0 here.
  return inStoredForm(x_ng, (stored) => divideStored(stored, scale_g, eps, out));
}

function divideStored(
  x_ng: Matrix,
  scale_g: Float32Array,
  eps: number,
  out: Float32Array = new Float32Array(x_ng.data.length),
): Matrix {
  const eps32 = Math.fround(eps);
  const denominator_g = new Float32Array(x_ng.nCols);
  for (let g = 0; g < denominator_g.length; g++) denominator_g[g] = scale_g[g]! + eps32;
  const src = x_ng.data;
  if (x_ng.format === "csr") {
    const { indices } = x_ng;
    for (let p = 0; p < src.length; p++) out[p] = src[p]! / denominator_g[indices[p]!]!;
  } else {
    const { nRows, nCols } = x_ng;
    for (let i = 0; i < nRows; i++) {
      const offset = i * nCols;
      for (let g = 0; g < nCols; g++) out[offset + g] = src[offset + g]! / denominator_g[g]!;
    }
  }
  return withValues(x_ng, out);
}

export interface DivideByScaleOptions {
  readonly scale_g: ArrayLike<number>;
  /** The genes scale_g belongs to; batches may carry any subset of them, in any order. */
  readonly var_names_g: readonly string[];
  /** Default 1e-6, upstream's. */
  readonly eps?: number;
  /** Receives the NaN-replacement warning; default console.warn. Pass `() => {}` to silence. */
  readonly warn?: (message: string) => void;
}

/**
 * Divides each gene by a per-gene scale, y = x / (scale_g + eps) (upstream's DivideByScale): e.g. by
 * TDigest's medians before Geneformer. A NaN scale (a gene never seen) becomes 1/eps, with a warning, as
 * upstream.
 */
export class DivideByScale implements Transform {
  readonly name = "DivideByScale";
  /** float32, NaN already replaced, like upstream's registered buffer. */
  readonly scale_g: Float32Array;
  readonly eps: number;
  private readonly schema: GeneSchema;

  constructor(options: DivideByScaleOptions) {
    this.eps = options.eps ?? 1e-6;
    checkEps(this.name, this.eps);
    checkLength(this.name, "scale_g", options.scale_g, options.var_names_g.length);
    const { scale_g, nanCount } = replaceNaNScale(options.scale_g, this.eps);
    if (nanCount > 0) {
      // Upstream computes 1/eps in the warning, which raises for eps = 0.
      if (this.eps === 0) {
        throw new ArgumentError(
          `DivideByScale: scale_g has ${nanCount} NaN values and eps = 0, so 1/eps is undefined`,
        );
      }
      (options.warn ?? console.warn)(
        `DivideByScale: ${nanCount} NaN values in scale_g replaced with 1/eps = ${1 / this.eps}`,
      );
    }
    this.scale_g = scale_g;
    this.schema = new GeneSchema(this.name, [...options.var_names_g]);
  }

  get var_names_g(): readonly string[] {
    return this.schema.var_names_g;
  }

  /** A checkpoint holds the replaced scale_g, so restoring never warns again. */
  static fromState(state: TransformState): DivideByScale {
    checkStateName(state, "DivideByScale");
    return new DivideByScale({
      scale_g: tensorArg(state, "scale_g"),
      var_names_g: stringsArg(state, "var_names_g"),
      eps: numberArg(state, "eps"),
    });
  }

  forward(batch: Batch): Partial<Batch> {
    checkColumns(this.name, batch.x_ng, batch.var_names_g);
    const positions = this.schema.positions(batch.var_names_g);
    return { x_ng: divideByScale(batch.x_ng, pick(this.scale_g, positions), this.eps) };
  }

  forwardInPlace(batch: Batch): Partial<Batch> {
    checkColumns(this.name, batch.x_ng, batch.var_names_g);
    const positions = this.schema.positions(batch.var_names_g);
    return {
      x_ng: divideByScale(batch.x_ng, pick(this.scale_g, positions), this.eps, storedForm(batch.x_ng).data),
    };
  }

  state(): TransformState {
    return {
      name: this.name,
      args: { var_names_g: [...this.var_names_g], eps: this.eps },
      tensors: { scale_g: this.scale_g },
    };
  }
}
