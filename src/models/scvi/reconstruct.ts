// scVI's reconstruction (upstream's SingleCellVariationalInference.reconstruct, the predict of
// reconstruct_counts_on_predict): each cell's expected expression, scaled to a common library
// size, as if it came from a given batch (transform_batch: an index, "mean" over the first ten
// batches, or null for its own), averaged over posterior draws of z (or at z's mean), optionally
// weighted by importance weights q(z) / q(mean) as upstream computes them.

import type { Batch } from "../../data/batch.js";
import { ConfigError } from "../../errors.js";
import { add, div, exp, mul, sub } from "../../tensor/ops/elementwise.js";
import { indexSelect } from "../../tensor/ops/indexing.js";
import { mean, sum } from "../../tensor/ops/reduce.js";
import { reshape } from "../../tensor/ops/shape.js";
import { Tensor } from "../../tensor/tensor.js";
import type { SingleCellVariationalInference } from "../scvi.js";
import { covariatesOneHot, logLibrarySize } from "./conditions.js";
import { type Conditions, posteriorLogProb } from "./networks.js";

export interface ReconstructionOptions {
  /** The genes reconstructed, in this order (null: every gene of the model). */
  readonly var_names_g: readonly string[] | null;
  readonly transform_batch: number | "mean" | null;
  readonly n_latent_samples: number;
  readonly use_latent_mean: boolean;
  readonly use_importance_sampling: boolean;
  /** The library size every reconstructed cell is scaled to. */
  readonly library_size: number;
  /** One category index per covariate for the decoder (needed with transform_batch when it reads covariates). */
  readonly transform_categorical_covariates: readonly number[] | null;
}

/** The batch indices decoded: the cells' own, one batch, or each of the first ten ("mean"). */
function targetBatches(codes: Int32Array, transform: number | "mean" | null, nBatch: number): Int32Array[] {
  if (transform === null) return [codes];
  const targets =
    transform === "mean" ? Array.from({ length: Math.min(nBatch, 10) }, (_, i) => i) : [transform];
  return targets.map((b) => new Int32Array(codes.length).fill(b));
}

/** The reconstructed expression [n, genes] of a batch's cells. */
export function reconstructCounts(
  model: SingleCellVariationalInference,
  batch: Batch,
  options: ReconstructionOptions,
): Tensor {
  const x = model.countsOf(batch);
  const n = x.nRows;
  const { codes, conditions } = model.conditionsFor(batch, n, true);
  const geneIndex = new Tensor(model.reconstructionGeneIndex, [model.reconstructionGeneIndex.length]);
  const readsCovariates = model.decoderReadsCovariates();
  if (
    options.transform_batch !== null &&
    readsCovariates &&
    options.transform_categorical_covariates === null
  ) {
    throw new ConfigError(
      "SingleCellVariationalInference: the decoder reads categorical covariates, so reconstruction_transform_batch needs reconstruction_transform_categorical_covariates (one category index per covariate) to decode every cell under one condition",
    );
  }
  let covariates = conditions.covariates_np;
  const fixed = options.transform_categorical_covariates;
  if (fixed !== null) {
    fixed.forEach((code, d) => {
      const limit = model.n_cats_per_cov[d];
      if (limit === undefined || !(Number.isInteger(code) && code >= 0 && code < limit)) {
        throw new ConfigError(
          `SingleCellVariationalInference: reconstruction_transform_categorical_covariates[${d}] is ${code}; covariate ${d} has ${limit ?? 0} categories (n_cats_per_cov ${JSON.stringify(model.n_cats_per_cov)})`,
        );
      }
    });
    if (fixed.length !== model.n_cats_per_cov.length) {
      throw new ConfigError(
        `SingleCellVariationalInference: reconstruction_transform_categorical_covariates has ${fixed.length} entries for ${model.n_cats_per_cov.length} covariates`,
      );
    }
    const codesNd = new Int32Array(n * fixed.length);
    for (let i = 0; i < n; i++) codesNd.set(fixed, i * fixed.length);
    covariates = covariatesOneHot(codesNd, model.n_cats_per_cov);
  }
  const library_n1 = logLibrarySize(x, batch.obs_names_n);
  const posterior = model.encode(x, conditions);
  const scaled = (z_nk: Tensor, decoded: Conditions): Tensor => {
    const counts = model.countMean(model.decode(z_nk, decoded, library_n1));
    const normalized = div(counts, sum(counts, -1, { keepdim: true }));
    return indexSelect(mul(normalized, options.library_size), 1, geneIndex);
  };
  let total: Tensor | null = null;
  const targets = targetBatches(codes, options.transform_batch, model.n_batch);
  for (const target of targets) {
    const decoded: Conditions = {
      batch_nb: model.batchRepresentation(target, false),
      covariates_np: covariates,
    };
    let part: Tensor;
    if (options.use_latent_mean) {
      part = scaled(posterior.mean_nk, decoded);
    } else {
      let sumOut: Tensor | null = null;
      let weightSum = 0;
      const logqMean = options.use_importance_sampling
        ? posteriorLogProb(posterior, posterior.mean_nk)
        : null;
      for (let s = 0; s < options.n_latent_samples; s++) {
        const z_nk = add(posterior.mean_nk, mul(model.randn(posterior.mean_nk.shape), posterior.scale_nk));
        let out = scaled(z_nk, decoded);
        if (logqMean) {
          const weight_n1 = reshape(exp(sub(posteriorLogProb(posterior, z_nk), logqMean)), [n, 1]);
          // upstream divides by the sum over draws of each draw's mean weight over the cells
          weightSum += mean(weight_n1).data[0]!;
          out = mul(out, weight_n1);
        } else {
          weightSum += 1;
        }
        sumOut = sumOut === null ? out : add(sumOut, out);
      }
      part = div(sumOut!, weightSum);
    }
    total = total === null ? part : add(total, part);
  }
  return div(total!, targets.length);
}
