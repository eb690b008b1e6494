// ZScore (upstream cellarium/ml/transforms/z_score.py): y_ng = (x_ng - mean_g) / (std_g + eps).

import type { Batch, Transform, TransformState } from "../data/batch.js";
import { type DenseMatrix, deferredAffine, type Matrix, storedForm } from "../data/matrix.js";
import { checkColumns, GeneSchema, pick } from "./gene-schema.js";
import { checkStateName, numberArg, stringsArg, tensorArg } from "./state.js";
import { checkEps, toFloat32 } from "./values.js";

/**
 * The z-scored block, dense: a zero becomes -mean_g / (std_g + eps). For a CSR input (or a
 * deferred dense one) the block is deferred (matrix.ts, deferredAffine): its values, when read, are
 * zScoreValues', and its affine form x / (std_g + eps) + offset_g, offset_g = -mean_g / (std_g + eps),
 * keeps the CSR structure for IncrementalPCA's centered products, which a shift of each gene does
 * not change. (The affine form rounds x / (std + eps) in float32, where the dense values round
 * x - mean first: they differ by an ulp of x / (std + eps).)
 */
export function zScore(x: Matrix, mean_g: Float32Array, std_g: Float32Array, eps: number): DenseMatrix {
  const x_ng = storedForm(x);
  if (x_ng.format === "dense") return zScoreValues(x_ng, mean_g, std_g, eps);
  const { nCols } = x_ng;
  const denominator_g = denominators(std_g, eps);
  const offset_g = new Float64Array(nCols);
  for (let g = 0; g < nCols; g++) offset_g[g] = -mean_g[g]! / denominator_g[g]!;
  const scaled = new Float32Array(x_ng.data.length);
  const { indptr, indices, data } = x_ng;
  for (let p = indptr[0]!; p < indptr[x_ng.nRows]!; p++) scaled[p] = data[p]! / denominator_g[indices[p]!]!;
  return deferredAffine(
    { x_ng: { ...x_ng, data: scaled }, offset_g },
    () => zScoreValues(x_ng, mean_g, std_g, eps).data,
  );
}

/** fl(std_g + eps) per gene, float32 as upstream's. */
function denominators(std_g: Float32Array, eps: number): Float32Array {
  const eps32 = Math.fround(eps);
  return std_g.map((s) => s + eps32);
}

/**
 * The z-scored values, dense. A CSR input is
 * written in one pass over the output: each row starts as the z-score of zero, then its stored
 * entries overwrite their columns (CSR rows are assumed to hold each column at most once, as
 * anndata writes them). Rounding follows upstream's float32 ops: fl(fl(x - mean) / fl(std + eps)).
 */
function zScoreValues(x_ng: Matrix, mean_g: Float32Array, std_g: Float32Array, eps: number): DenseMatrix {
  const { nRows, nCols } = x_ng;
  const denominator_g = denominators(std_g, eps);
  const zero_g = new Float32Array(nCols);
  for (let g = 0; g < nCols; g++) zero_g[g] = -mean_g[g]! / denominator_g[g]!;
  const out = new Float32Array(nRows * nCols);
  const src = x_ng.data;
  if (x_ng.format === "dense") {
    for (let i = 0; i < nRows; i++) {
      const offset = i * nCols;
      for (let g = 0; g < nCols; g++) {
        out[offset + g] = Math.fround(src[offset + g]! - mean_g[g]!) / denominator_g[g]!;
      }
    }
  } else {
    const { indptr, indices } = x_ng;
    for (let i = 0; i < nRows; i++) {
      const offset = i * nCols;
      out.set(zero_g, offset);
      const end = indptr[i + 1]!;
      for (let p = indptr[i]!; p < end; p++) {
        const g = indices[p]!;
        out[offset + g] = Math.fround(src[p]! - mean_g[g]!) / denominator_g[g]!;
      }
    }
  }
  return { format: "dense", nRows, nCols, data: out };
}

export interface ZScoreOptions {
  readonly mean_g: ArrayLike<number>;
  readonly std_g: ArrayLike<number>;
  /** The genes mean_g and std_g belong to; batches may carry any subset of them, in any order. */
  readonly var_names_g: readonly string[];
  /** Default 1e-6, upstream's. */
  readonly eps?: number;
}

/**
 * Standardises each gene, y = (x - mean_g) / (std_g + eps) (upstream's ZScore), with OnePassMeanVarStd's
 * statistics. The result is dense.
 */
export class ZScore implements Transform {
  readonly name = "ZScore";
  /** float32 copies, like upstream's registered buffers. */
  readonly mean_g: Float32Array;
  readonly std_g: Float32Array;
  readonly eps: number;
  private readonly schema: GeneSchema;

  constructor(options: ZScoreOptions) {
    const genes = options.var_names_g.length;
    this.mean_g = toFloat32(this.name, "mean_g", options.mean_g, genes);
    this.std_g = toFloat32(this.name, "std_g", options.std_g, genes);
    this.eps = options.eps ?? 1e-6;
    checkEps(this.name, this.eps);
    this.schema = new GeneSchema(this.name, [...options.var_names_g]);
  }

  get var_names_g(): readonly string[] {
    return this.schema.var_names_g;
  }

  /**
   * Rebuilds the transform from what `state()` returned (a checkpoint's entry).
   * @throws {@link CheckpointError} when the state is not a ZScore's.
   */
  static fromState(state: TransformState): ZScore {
    checkStateName(state, "ZScore");
    return new ZScore({
      mean_g: tensorArg(state, "mean_g"),
      std_g: tensorArg(state, "std_g"),
      var_names_g: stringsArg(state, "var_names_g"),
      eps: numberArg(state, "eps"),
    });
  }

  forward(batch: Batch): Partial<Batch> {
    checkColumns(this.name, batch.x_ng, batch.var_names_g);
    const positions = this.schema.positions(batch.var_names_g);
    return { x_ng: zScore(batch.x_ng, pick(this.mean_g, positions), pick(this.std_g, positions), this.eps) };
  }

  state(): TransformState {
    return {
      name: this.name,
      args: { var_names_g: [...this.var_names_g], eps: this.eps },
      tensors: { mean_g: this.mean_g, std_g: this.std_g },
    };
  }
}
