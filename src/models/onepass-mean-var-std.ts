// OnePassMeanVarStd (seed API): per-gene mean, variance (population, ddof 0) and standard deviation
// in one pass over the data, from float64 running sums (src/models/streaming/moments.ts). Replicas
// merge exactly. At the end of fit the statistics are written to `output_path` as upstream's CSV.

import type { Batch } from "../data/batch.js";
import { ArgumentError, CheckpointError } from "../errors.js";
import type { JsonValue } from "../json.js";
import { Tensor } from "../tensor/tensor.js";
import { checkVarNames } from "./check-var-names.js";
import {
  type CellariumModel,
  lookupAttribute,
  type ModelAttribute,
  type ModelOutput,
  type TrainerContext,
} from "./model.js";
import { formatMeanVarStdCsv } from "./streaming/mean-var-std-csv.js";
import { type MomentsAlgorithm, RunningMoments } from "./streaming/moments.js";

export interface OnePassMeanVarStdOptions {
  readonly var_names_g: readonly string[];
  /** Default "naive", upstream's. */
  readonly algorithm?: MomentsAlgorithm;
  /** Where fit writes `var_names_g,mean_g,var_g,std_g`; null for none. Upstream's default file name. */
  readonly output_path?: string | null;
}

/**
 * Per-gene mean, variance (population, ddof 0) and standard deviation of a data set in a single
 * pass (upstream's `cellarium.ml.models.OnePassMeanVarStd`). A streaming model: `forward` only
 * accumulates float64 sums, so one epoch of the Trainer computes the statistics, and replicas
 * merge exactly. Its `mean_g` and `std_g` are what a {@link ZScore} transform or a
 * `!CheckpointLoader` in a config reads.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { OnePassMeanVarStd } from "cellarium-ts";
 *
 * const model = new OnePassMeanVarStd({ var_names_g: ["g0", "g1"], output_path: null });
 * // two cells x two genes, row-major; X may also be CSR
 * model.forward({ x_ng: { format: "dense", nRows: 2, nCols: 2, data: new Float32Array([1, 10, 3, 30]) }, var_names_g: ["g0", "g1"] });
 * assert.deepEqual(Array.from(model.mean_g.data), [2, 20]);
 * assert.deepEqual(Array.from(model.var_g.data), [1, 100]);
 * assert.equal(model.x_size, 2);
 * ```
 */
export class OnePassMeanVarStd implements CellariumModel {
  readonly className = "OnePassMeanVarStd";
  readonly var_names_g: readonly string[];
  readonly algorithm: MomentsAlgorithm;
  readonly output_path: string | null;
  private moments: RunningMoments;

  /**
   * @param options - upstream's init arguments: `var_names_g` (the genes, checked against every batch),
   *   `algorithm` and `output_path` (the CSV written at the end of a fit; null writes none).
   * @throws {@link ArgumentError} when `output_path` does not end in `.csv`.
   */
  constructor(options: OnePassMeanVarStdOptions) {
    this.var_names_g = options.var_names_g;
    this.algorithm = options.algorithm ?? "naive";
    this.output_path =
      options.output_path === undefined ? "onepass_mean_var_std_output.csv" : options.output_path;
    if (this.output_path !== null && !this.output_path.endsWith(".csv")) {
      throw new ArgumentError(`OnePassMeanVarStd: output_path must end with .csv, got "${this.output_path}"`);
    }
    this.moments = new RunningMoments(this.var_names_g.length, this.algorithm);
  }

  initArgs(): Record<string, JsonValue> {
    return { var_names_g: [...this.var_names_g], algorithm: this.algorithm, output_path: this.output_path };
  }

  resetParameters(): void {
    this.moments.reset();
  }

  forward(batch: Batch): ModelOutput {
    checkVarNames(this.className, this.var_names_g, batch.var_names_g);
    this.moments.update(batch.x_ng);
    return {};
  }

  parameters(): Tensor[] {
    return [];
  }

  train(): void {}

  /** Cells seen. */
  get x_size(): number {
    return this.moments.count;
  }

  /** Per-gene mean over the cells seen, float64 `[g]`. */
  get mean_g(): Tensor {
    return vector(this.moments.mean());
  }

  /** Per-gene population variance (ddof 0, as upstream), float64 `[g]`. */
  get var_g(): Tensor {
    return vector(this.moments.variance());
  }

  /** Per-gene standard deviation, the square root of `var_g`, float64 `[g]`. */
  get std_g(): Tensor {
    return vector(this.moments.std());
  }

  attribute(name: string): ModelAttribute {
    return lookupAttribute(this.className, this.attributeTable(), name);
  }

  attributeNames(): readonly string[] {
    return Object.keys(this.attributeTable());
  }

  private attributeTable(): Record<string, () => ModelAttribute> {
    return {
      mean_g: () => this.mean_g,
      var_g: () => this.var_g,
      std_g: () => this.std_g,
      x_size: () => this.x_size,
      var_names_g: () => this.var_names_g,
    };
  }

  stateDict(): Record<string, Tensor> {
    const state = this.moments.exportState();
    return {
      x_sums_g: vector(state.x_sums_g),
      x_squared_sums_g: vector(state.x_squared_sums_g),
      x_size: vector(new Float64Array([state.x_size])),
      ...(state.x_shift_g && { x_shift_g: vector(state.x_shift_g) }),
    };
  }

  loadStateDict(state: Record<string, Tensor>): void {
    const get = (name: string): Float64Array => {
      const tensor = state[name];
      if (!tensor || !(tensor.data instanceof Float64Array)) {
        throw new CheckpointError(`OnePassMeanVarStd: state "${name}" is missing or not float64`);
      }
      return tensor.data;
    };
    this.moments = RunningMoments.fromState({
      algorithm: this.algorithm,
      x_size: get("x_size")[0]!,
      x_sums_g: get("x_sums_g"),
      x_squared_sums_g: get("x_squared_sums_g"),
      x_shift_g: state.x_shift_g ? get("x_shift_g") : null,
    });
  }

  merge(other: CellariumModel): void {
    if (!(other instanceof OnePassMeanVarStd)) {
      throw new ArgumentError(`OnePassMeanVarStd.merge: cannot merge a ${other.className}`);
    }
    checkVarNames("OnePassMeanVarStd.merge", this.var_names_g, other.var_names_g);
    this.moments.merge(other.moments);
  }

  async onTrainEnd(context: TrainerContext): Promise<void> {
    if (this.output_path === null || context.replicaRank !== 0) return;
    const csv = formatMeanVarStdCsv(
      this.var_names_g,
      this.moments.mean(),
      this.moments.variance(),
      this.moments.std(),
    );
    await context.writeTextFile(this.output_path, csv);
  }
}

function vector(data: Float64Array): Tensor {
  return new Tensor(data, [data.length]);
}
