// IncrementalPCA (seed API; upstream cellarium/ml/models/incremental_pca.py): distributed and
// incremental PCA. Each batch, centered by its own mean, updates the running summary (S_k, V_kg,
// x_mean_g, x_size) through a randomized SVD of the stacked matrix
// [S_k V_kg; batch; sqrt(n1 n2 / (n1 + n2)) (mean1 - mean2)] (src/models/streaming/partial-svd.ts;
// a CSR batch is never densified); replicas merge by the exact SVD of the same stacked matrix with
// the other replica's S_k V_kg in place of the batch (merge, and mergeHierarchically for many).
//
// Differences from upstream, all for accuracy (measured by bench/ipca-accuracy.ts): the state is
// float64 (upstream's float32 buffers lose digits over millions of cells); the batch enters the
// stacked matrix itself instead of its own truncated top-k SVD, and the randomized SVD starts from
// the current components plus `oversample` random directions; a stacked matrix small enough that
// its exact SVD costs fewer flops (batches of up to a few hundred cells) is decomposed exactly; the
// replica merge's SVD is exact.

import type { Batch, JsonValue } from "../data/batch.js";
import { ArgumentError, CheckpointError } from "../errors.js";
import { Generator, type GeneratorState } from "../tensor/random.js";
import { Tensor } from "../tensor/tensor.js";
import { type CellariumModel, lookupAttribute, type ModelAttribute, type ModelOutput } from "./model.js";
import { centeredOperator } from "./streaming/centered-operator.js";
import {
  emptyPartialSvd,
  mergePartialSvds,
  type PartialSvd,
  updatePartialSvd,
} from "./streaming/partial-svd.js";
import { checkVarNames } from "./validate.js";

/**
 * Random directions added to the randomized SVD's start (the current k components after the first
 * batch). Without them a warm-started SVD finds directions that are new in a batch (a cell type the
 * earlier batches lacked) only through the power iterations. On the 5,000-cell benchmark variant
 * (bench/ipca-accuracy.ts, k = 50) the worst explained-variance error of the leading components is
 * 5.3% / 5.5% / 3.6% for oversample 0 / 10 / 25 at niter 2 and 1.1% / 0.8% for 10 / 25 at niter 4
 * (upstream's algorithm: 31%): 10 keeps the cost near upstream's (the products grow with
 * k + oversample), while svd_lowrank_niter is the setting that buys accuracy.
 */
export const DEFAULT_OVERSAMPLE = 10;

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
}

export class IncrementalPCA implements CellariumModel {
  readonly className = "IncrementalPCA";
  readonly var_names_g: readonly string[];
  readonly n_components: number;
  readonly svd_lowrank_niter: number;
  readonly perform_mean_correction: boolean;
  readonly oversample: number;
  readonly seed: number;
  private state: PartialSvd;
  private generator: Generator;

  constructor(options: IncrementalPCAOptions) {
    this.var_names_g = options.var_names_g;
    const g = this.var_names_g.length;
    this.n_components = options.n_components;
    this.svd_lowrank_niter = options.svd_lowrank_niter ?? 2;
    this.perform_mean_correction = options.perform_mean_correction ?? true;
    this.oversample = options.oversample ?? DEFAULT_OVERSAMPLE;
    this.seed = options.seed ?? 0;
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
    };
  }

  resetParameters(): void {
    this.state = emptyPartialSvd(this.n_components, this.var_names_g.length);
    this.generator = new Generator(this.seed);
  }

  forward(batch: Batch): ModelOutput {
    checkVarNames(this.className, this.var_names_g, batch.var_names_g);
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

  /** Cells seen. */
  get x_size(): number {
    return this.state.x_size;
  }

  get S_k(): Tensor {
    return new Tensor(this.state.S_k.slice(), [this.n_components]);
  }

  get V_kg(): Tensor {
    return new Tensor(this.state.V_kg.slice(), [this.n_components, this.var_names_g.length]);
  }

  get x_mean_g(): Tensor {
    return new Tensor(this.state.x_mean_g.slice(), [this.var_names_g.length]);
  }

  /** Variance along each component, S_k^2 / x_size (x_size degrees of freedom, as upstream). */
  get explained_variance_k(): Tensor {
    const { S_k, x_size } = this.state;
    return new Tensor(
      S_k.map((s) => (s * s) / x_size),
      [this.n_components],
    );
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
    const V_gk = new Float64Array(g * k);
    for (let j = 0; j < k; j++) {
      for (let c = 0; c < g; c++) V_gk[c * k + j] = this.state.V_kg[j * g + c]!;
    }
    const z = centeredOperator(batch.x_ng, this.state.x_mean_g).mul({ rows: g, cols: k, data: V_gk });
    return {
      x_ng: new Tensor(Float32Array.from(z.data), [z.rows, k]),
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
    };
  }

  /** Upstream's buffer names; x_size as a one-element float64 tensor. */
  stateDict(): Record<string, Tensor> {
    return {
      S_k: this.S_k,
      V_kg: this.V_kg,
      x_mean_g: this.x_mean_g,
      x_size: new Tensor(new Float64Array([this.state.x_size]), [1]),
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
  }

  /** Folds another replica's summary into this one (the stacked-matrix merge); `other` is unchanged. */
  merge(other: CellariumModel): void {
    if (!(other instanceof IncrementalPCA)) {
      throw new ArgumentError(`IncrementalPCA.merge: cannot merge a ${other.className}`);
    }
    checkVarNames("IncrementalPCA.merge", this.var_names_g, other.var_names_g);
    if (
      other.n_components !== this.n_components ||
      other.perform_mean_correction !== this.perform_mean_correction
    ) {
      throw new ArgumentError(
        `IncrementalPCA.merge: n_components ${other.n_components} and perform_mean_correction ${other.perform_mean_correction} must equal this model's ${this.n_components} and ${this.perform_mean_correction}`,
      );
    }
    this.state = mergePartialSvds(this.state, other.state, this.n_components, this.perform_mean_correction);
  }
}
