// IncrementalPCA (seed API; upstream cellarium/ml/models/incremental_pca.py): distributed and
// incremental PCA. Each batch, centered by its own mean, updates the running summary (S_k, V_kg,
// x_mean_g, x_size) through a randomized SVD of the stacked matrix
// [S_k V_kg; batch; sqrt(n1 n2 / (n1 + n2)) (mean1 - mean2)] (src/models/streaming/partial-svd.ts;
// a CSR batch is never densified); replicas merge by the exact SVD of the same stacked matrix with
// the other replica's S_k V_kg in place of the batch (merge, and mergeHierarchically for many).
// With few genes (algorithm "scatter", the default up to SCATTER_MAX_GENES) the state is instead
// the exact g x g scatter matrix (src/models/streaming/scatter.ts) and the components its top
// eigenvectors: the exact PCA, the same for any batch size and number of replicas.
//
// Differences from upstream, all for accuracy (measured by bench/ipca-accuracy.ts): the state is
// float64 (upstream's float32 buffers lose digits over millions of cells); the batch enters the
// stacked matrix itself instead of its own truncated top-k SVD, and the randomized SVD starts from
// the current components plus `oversample` random directions; a stacked matrix small enough that
// its exact SVD costs fewer flops (batches of up to a few hundred cells) is decomposed exactly; the
// replica merge's SVD is exact.

import type { Batch } from "../data/batch.js";
import { affineForm } from "../data/matrix.js";
import { ArgumentError, CheckpointError } from "../errors.js";
import type { JsonValue } from "../json.js";
import { Generator, type GeneratorState } from "../tensor/random.js";
import { Tensor } from "../tensor/tensor.js";
import { checkVarNames } from "./check-var-names.js";
import { DEFAULT_OVERSAMPLE } from "./incremental-pca-defaults.js";
import { type CellariumModel, lookupAttribute, type ModelAttribute, type ModelOutput } from "./model.js";
import { centeredOperator } from "./streaming/centered-operator.js";
import {
  emptyPartialSvd,
  mergePartialSvds,
  type PartialSvd,
  updatePartialSvd,
} from "./streaming/partial-svd.js";
import {
  emptyScatter,
  mergeScatters,
  type PartialScatter,
  scatterOfSummary,
  summaryOfScatter,
  symmetricScatter,
  updateScatter,
} from "./streaming/scatter.js";

/**
 * Up to this many genes the "auto" algorithm keeps the exact scatter matrix (32 MiB of float64
 * per replica and in each checkpoint at 2,048 genes; O(n g^2) per batch of n cells and one
 * eigendecomposition of g x g when the components are read). The rank-k summary drops, at every
 * batch and every replica merge, the directions below the k-th; on a flat spectrum that costs
 * accuracy, more with more replicas: on the demo data (2,000 cells x 1,000 genes, k = 50, batches
 * of 100) its top-5 singular values are up to 4.8% / 8.9% / 12.5% low and the top-5 subspace
 * 16 / 17 / 18 degrees off with trainer.devices 1 / 2 / 4 (bench/ipca-devices.ts), even though
 * every batch and merge step is an exact SVD. Common gene panels (2,000 highly variable genes)
 * fit under the bound; whole transcriptomes (20,000 genes, 3.2 GB) do not.
 */
export const SCATTER_MAX_GENES = 2048;

/** The state IncrementalPCA keeps (see SCATTER_MAX_GENES); "auto" resolves by the number of genes. */
export type IncrementalPCAAlgorithm = "scatter" | "lowrank";

export interface IncrementalPCAOptions {
  readonly var_names_g: readonly string[];
  readonly n_components: number;
  /** Power iterations of the randomized SVD; default 2, upstream's. */
  readonly svd_lowrank_niter?: number;
  /** Center each batch and correct for the shift of the mean in the merge; default true. */
  readonly perform_mean_correction?: boolean;
  /** Default DEFAULT_OVERSAMPLE. */
  readonly oversample?: number;
  /** Seed of the randomized SVD's random directions; default 0. */
  readonly seed?: number;
  /**
   * "scatter": the exact g x g scatter matrix (exact PCA for any batches and replicas; g^2
   * float64 values); "lowrank": the rank-k summary updated by SVDs of the stacked matrix
   * (upstream's, approximate); default "auto": "scatter" up to SCATTER_MAX_GENES genes.
   */
  readonly algorithm?: IncrementalPCAAlgorithm | "auto";
}

/**
 * Principal components of the cells, computed in one streaming pass (upstream's
 * `cellarium.ml.models.IncrementalPCA`): each batch updates a summary (the exact scatter matrix for
 * up to a few thousand genes, else a rank-k summary merged by SVDs), so no data set is held in
 * memory and replicas merge. After a fit, `V_kg` / `components_kg` hold the components,
 * `explained_variance_k` their variances, and `predict` projects cells onto them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IncrementalPCA } from "cellarium-ts";
 *
 * const var_names_g = ["g0", "g1", "g2"];
 * const model = new IncrementalPCA({ var_names_g, n_components: 1 });
 * // cells along the direction (1, 2, 0): one component explains them all
 * const data = new Float32Array([1, 2, 0, 2, 4, 0, 3, 6, 0, 4, 8, 0]);
 * const batch = { x_ng: { format: "dense" as const, nRows: 4, nCols: 3, data }, var_names_g };
 * model.forward(batch);
 * const [a, b, c] = model.components_kg.data;
 * assert.ok(Math.abs(Math.abs(b! / a!) - 2) < 1e-5 && Math.abs(c!) < 1e-6);
 * const { x_ng } = model.predict(batch); // [4, 1] scores, named PC1
 * assert.deepEqual(x_ng.shape, [4, 1]);
 * ```
 */
export class IncrementalPCA implements CellariumModel {
  readonly className = "IncrementalPCA";
  readonly var_names_g: readonly string[];
  readonly n_components: number;
  readonly svd_lowrank_niter: number;
  readonly perform_mean_correction: boolean;
  readonly oversample: number;
  readonly seed: number;
  readonly algorithm: IncrementalPCAAlgorithm;
  /** The rank-k summary: the state of "lowrank", the components of the scatter for "scatter". */
  private state: PartialSvd;
  /** The state of "scatter" (null for "lowrank"); `state` is recomputed from it when stale. */
  private scatter: PartialScatter | null;
  private stale = false;
  private generator: Generator;

  /**
   * @param options - upstream's init arguments: `var_names_g`, `n_components` (k), and the randomized
   *   SVD's `svd_lowrank_niter`, `oversample` and `seed`; `algorithm` picks the exact scatter matrix
   *   or upstream's low-rank merge.
   * @throws {@link ArgumentError} for a non-positive `n_components` or more components than genes.
   */
  constructor(options: IncrementalPCAOptions) {
    this.var_names_g = options.var_names_g;
    const g = this.var_names_g.length;
    this.n_components = options.n_components;
    this.svd_lowrank_niter = options.svd_lowrank_niter ?? 2;
    this.perform_mean_correction = options.perform_mean_correction ?? true;
    this.oversample = options.oversample ?? DEFAULT_OVERSAMPLE;
    this.seed = options.seed ?? 0;
    const algorithm = options.algorithm ?? "auto";
    if (algorithm !== "auto" && algorithm !== "scatter" && algorithm !== "lowrank") {
      throw new ArgumentError(
        `IncrementalPCA: algorithm must be "auto", "scatter" or "lowrank", got ${JSON.stringify(algorithm)}`,
      );
    }
    this.algorithm = algorithm === "auto" ? (g <= SCATTER_MAX_GENES ? "scatter" : "lowrank") : algorithm;
    if (!Number.isInteger(this.n_components) || this.n_components < 1 || this.n_components > g) {
      throw new ArgumentError(
        `IncrementalPCA: n_components must be an integer in [1, ${g}] (the number of genes), got ${this.n_components}`,
      );
    }
    for (const [name, value] of [
      ["svd_lowrank_niter", this.svd_lowrank_niter],
      ["oversample", this.oversample],
    ] as const) {
      if (!Number.isInteger(value) || value < 0) {
        throw new ArgumentError(`IncrementalPCA: ${name} must be a non-negative integer, got ${value}`);
      }
    }
    this.state = emptyPartialSvd(this.n_components, g);
    this.scatter = this.algorithm === "scatter" ? emptyScatter(g) : null;
    this.generator = new Generator(this.seed);
  }

  initArgs(): Record<string, JsonValue> {
    return {
      var_names_g: [...this.var_names_g],
      n_components: this.n_components,
      svd_lowrank_niter: this.svd_lowrank_niter,
      perform_mean_correction: this.perform_mean_correction,
      oversample: this.oversample,
      seed: this.seed,
      algorithm: this.algorithm,
    };
  }

  resetParameters(): void {
    const g = this.var_names_g.length;
    this.state = emptyPartialSvd(this.n_components, g);
    this.scatter = this.scatter ? emptyScatter(g) : null;
    this.stale = false;
    this.generator = new Generator(this.seed);
  }

  forward(batch: Batch): ModelOutput {
    checkVarNames(this.className, this.var_names_g, batch.var_names_g);
    if (this.scatter) {
      this.scatter = updateScatter(this.scatter, batch.x_ng, this.perform_mean_correction);
      this.stale = true;
      return {};
    }
    this.state = updatePartialSvd(
      this.state,
      batch.x_ng,
      this.n_components,
      this.svd_lowrank_niter,
      this.oversample,
      this.perform_mean_correction,
      this.generator,
    );
    return {};
  }

  parameters(): Tensor[] {
    return [];
  }

  train(): void {}

  randomState(): JsonValue {
    return { ...this.generator.getState() } as unknown as JsonValue;
  }

  setRandomState(state: JsonValue): void {
    this.generator.setState(state as unknown as GeneratorState);
  }

  /** The rank-k summary, first recomputed from the scatter matrix when that changed. */
  private summary(): PartialSvd {
    if (this.scatter && this.stale) {
      this.state = summaryOfScatter(this.scatter, this.n_components);
      this.stale = false;
    }
    return this.state;
  }

  /** Cells seen. */
  get x_size(): number {
    return (this.scatter ?? this.state).x_size;
  }

  /** The singular values of the centered data along the components, `[k]`, largest first. */
  get S_k(): Tensor {
    return new Tensor(this.summary().S_k.slice(), [this.n_components]);
  }

  /** The principal components as rows, `[k, g]` (upstream's V_kg; `components_kg` is the same). */
  get V_kg(): Tensor {
    return new Tensor(this.summary().V_kg.slice(), [this.n_components, this.var_names_g.length]);
  }

  /** The per-gene mean of the cells seen, `[g]`, which `predict` subtracts. */
  get x_mean_g(): Tensor {
    return new Tensor((this.scatter ?? this.state).x_mean_g.slice(), [this.var_names_g.length]);
  }

  /** Variance along each component, S_k^2 / x_size (x_size degrees of freedom, as upstream). */
  get explained_variance_k(): Tensor {
    const { S_k, x_size } = this.summary();
    return new Tensor(
      S_k.map((s) => (s * s) / x_size),
      [this.n_components],
    );
  }

  /**
   * The data's total variance, sum over genes of their variances (x_size degrees of freedom), where
   * the state has it: the exact scatter matrix's trace; null for "lowrank", which keeps only the
   * top k directions. Divides explained_variance_k into scanpy's variance_ratio.
   */
  get total_variance(): number | null {
    if (!this.scatter || this.scatter.x_size === 0) return null;
    const g = this.var_names_g.length;
    let trace = 0;
    for (let c = 0; c < g; c++) trace += this.scatter.x_scatter_gg[c * g + c]!;
    return trace / this.scatter.x_size;
  }

  /** The principal axes, rows sorted by decreasing explained variance. */
  get components_kg(): Tensor {
    return this.V_kg;
  }

  /** (x_ng - x_mean_g) V_kg^T as float32 [n, k], computed without densifying a CSR batch. */
  predict(batch: Batch): { x_ng: Tensor; var_names_g: string[] } {
    checkVarNames(`${this.className}.predict`, this.var_names_g, batch.var_names_g);
    const g = this.var_names_g.length;
    const k = this.n_components;
    const { V_kg, x_mean_g } = this.summary();
    const V_gk = new Float64Array(g * k);
    for (let j = 0; j < k; j++) {
      for (let c = 0; c < g; c++) V_gk[c * k + j] = V_kg[j * g + c]!;
    }
    // A z-scored CSR batch through its affine form: (x' + offset_g) - x_mean_g = x' - (x_mean_g - offset_g).
    const affine = affineForm(batch.x_ng);
    const z = (
      affine
        ? centeredOperator(
            affine.x_ng,
            x_mean_g.map((mean, c) => mean - affine.offset_g[c]!),
          )
        : centeredOperator(batch.x_ng, x_mean_g)
    ).mul({ rows: g, cols: k, data: V_gk });
    return {
      x_ng: new Tensor(new Float32Array(z.data), [z.rows, k]),
      var_names_g: Array.from({ length: k }, (_, j) => `PC${j + 1}`),
    };
  }

  attribute(name: string): ModelAttribute {
    return lookupAttribute(this.className, this.attributeTable(), name);
  }

  attributeNames(): readonly string[] {
    return Object.keys(this.attributeTable());
  }

  private attributeTable(): Record<string, () => ModelAttribute> {
    return {
      explained_variance_k: () => this.explained_variance_k,
      components_kg: () => this.components_kg,
      x_mean_g: () => this.x_mean_g,
      S_k: () => this.S_k,
      V_kg: () => this.V_kg,
      x_size: () => this.x_size,
      var_names_g: () => this.var_names_g,
      ...(this.total_variance !== null && { total_variance: () => this.total_variance! }),
    };
  }

  /**
   * Upstream's buffer names; x_size as a one-element float64 tensor; for "scatter" also the
   * scatter matrix x_scatter_gg (symmetric), from which the others follow.
   */
  stateDict(): Record<string, Tensor> {
    const g = this.var_names_g.length;
    return {
      S_k: this.S_k,
      V_kg: this.V_kg,
      x_mean_g: this.x_mean_g,
      x_size: new Tensor(new Float64Array([this.x_size]), [1]),
      ...(this.scatter && { x_scatter_gg: new Tensor(symmetricScatter(this.scatter), [g, g]) }),
    };
  }

  loadStateDict(state: Record<string, Tensor>): void {
    const g = this.var_names_g.length;
    const k = this.n_components;
    const get = (name: string, length: number): Float64Array => {
      const tensor = state[name];
      if (!tensor || !(tensor.data instanceof Float64Array) || tensor.data.length !== length) {
        throw new CheckpointError(
          `IncrementalPCA: state "${name}" must be float64 with ${length} elements, got ${tensor ? `${tensor.dtype} [${tensor.shape}]` : "nothing"}`,
        );
      }
      return tensor.data.slice();
    };
    this.state = {
      S_k: get("S_k", k),
      V_kg: get("V_kg", k * g),
      x_mean_g: get("x_mean_g", g),
      x_size: get("x_size", 1)[0]!,
    };
    this.stale = false;
    if (!this.scatter) return;
    // A state without the scatter matrix (upstream's, or a "lowrank" run's) continues from the
    // scatter its summary stands for.
    this.scatter =
      state.x_scatter_gg === undefined
        ? scatterOfSummary(this.state)
        : {
            x_scatter_gg: get("x_scatter_gg", g * g),
            x_mean_g: this.state.x_mean_g,
            x_size: this.state.x_size,
          };
  }

  /** Folds another replica's summary into this one (the stacked-matrix merge); `other` is unchanged. */
  merge(other: CellariumModel): void {
    if (!(other instanceof IncrementalPCA)) {
      throw new ArgumentError(`IncrementalPCA.merge: cannot merge a ${other.className}`);
    }
    checkVarNames("IncrementalPCA.merge", this.var_names_g, other.var_names_g);
    if (
      other.n_components !== this.n_components ||
      other.perform_mean_correction !== this.perform_mean_correction ||
      other.algorithm !== this.algorithm
    ) {
      throw new ArgumentError(
        `IncrementalPCA.merge: n_components ${other.n_components}, perform_mean_correction ${other.perform_mean_correction} and algorithm ${other.algorithm} must equal this model's ${this.n_components}, ${this.perform_mean_correction} and ${this.algorithm}`,
      );
    }
    if (this.scatter) {
      this.scatter = mergeScatters(this.scatter, other.scatter!, this.perform_mean_correction);
      this.stale = true;
      return;
    }
    this.state = mergePartialSvds(this.state, other.state, this.n_components, this.perform_mean_correction);
  }
}
