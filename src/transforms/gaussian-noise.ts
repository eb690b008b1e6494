// GaussianNoise (upstream cellarium/ml/transforms/gaussian_noise.py): in the cells Randomize picks
// (probability p_apply each), every entry gets normal noise whose standard deviation is drawn per
// entry, sigma_ng ~ Uniform(sigma_min, sigma_max):
//   y_ng = x_ng + N(0, sigma_ng).
// Upstream means it for log-transformed counts. The noise reaches the zeros too, so the result is
// dense: a CSR block is densified here (the only place this transform allocates a block).

import type { Batch, TransformState } from "../data/batch.js";
import { type DenseMatrix, densify, type Matrix, storedForm } from "../data/matrix.js";
import type { Generator } from "../tensor/random.js";
import {
  type AugmentationOptions,
  pickRows,
  UniformAugmentation,
  uniformAugmentationArgs,
} from "./augmentation.js";

const BOUNDS = ["sigma_min", "sigma_max"] as const;

/**
 * x_ng plus noise (see the file's comment), dense, drawn from `generator`: the row picks, then for
 * each picked row its sigmas and its standard normals. Rounding as torch's float32 ops:
 * fl(x + fl(sigma * z)). `out` (x_ng's stored values) is overwritten where those are the dense
 * values themselves; a CSR block's, or a deferred dense block's CSR form, cannot hold the result.
 */
export function gaussianNoise(
  x_ng: Matrix,
  sigma_min: number,
  sigma_max: number,
  p_apply: number,
  generator: Generator,
  out?: Float32Array,
): DenseMatrix {
  const { nRows, nCols } = x_ng;
  const inPlace = out !== undefined && x_ng.format === "dense" && storedForm(x_ng) === x_ng;
  // Otherwise a fresh array: a dense block's own values (a deferred one's included) are shared.
  const values = inPlace ? out : x_ng.format === "csr" ? densify(x_ng).data : x_ng.data.slice();
  if (inPlace && out !== x_ng.data) out.set(x_ng.data);
  const picked = pickRows(generator, nRows, p_apply);
  const sigma = new Float32Array(nCols);
  const z = new Float64Array(nCols);
  for (let i = 0; i < nRows; i++) {
    if (picked[i] === 0) continue;
    generator.fillUniform(sigma, sigma_min, sigma_max);
    generator.fillNormal(z);
    const offset = i * nCols;
    for (let j = 0; j < nCols; j++) values[offset + j] = values[offset + j]! + Math.fround(sigma[j]! * z[j]!);
  }
  return { format: "dense", nRows, nCols, data: values };
}

export interface GaussianNoiseOptions extends AugmentationOptions {
  /** Lower bound of each entry's noise standard deviation. */
  readonly sigma_min: number;
  /** Upper bound of each entry's noise standard deviation. */
  readonly sigma_max: number;
}

/**
 * Augmentation for log-scale data: in the cells Randomize picks (probability `p_apply`), adds normal noise
 * with a standard deviation drawn per entry from [sigma_min, sigma_max] (upstream's GaussianNoise). The
 * result is dense.
 */
export class GaussianNoise extends UniformAugmentation {
  readonly name = "GaussianNoise";
  readonly sigma_min: number;
  readonly sigma_max: number;

  constructor(options: GaussianNoiseOptions) {
    super("GaussianNoise", BOUNDS, options, "deviation");
    this.sigma_min = options.sigma_min;
    this.sigma_max = options.sigma_max;
  }

  /**
   * Rebuilds the transform from what `state()` returned (a checkpoint's entry).
   * @throws {@link CheckpointError} when the state is not a GaussianNoise's.
   */
  static fromState(state: TransformState): GaussianNoise {
    return new GaussianNoise(
      uniformAugmentationArgs(state, "GaussianNoise", BOUNDS) as unknown as GaussianNoiseOptions,
    );
  }

  protected augment(batch: Batch, generator: Generator, out?: Float32Array): DenseMatrix {
    return gaussianNoise(batch.x_ng, this.sigma_min, this.sigma_max, this.p_apply, generator, out);
  }
}
