// TDigest (seed API): one t-digest per gene over the gene's NON-ZERO values, as upstream does with
// crick's TDigest (compression 100), so median_g is the median expression where a gene is detected
// (the scale DivideByScale uses for Geneformer). The digests are vectorised over genes
// (src/models/streaming/tdigest-set.ts) and stored in checkpoints as tensors; replicas merge them.

import type { Batch } from "../data/batch.js";
import { requireCounts } from "../data/check-block.js";
import { ArgumentError, CheckpointError } from "../errors.js";
import type { JsonValue } from "../json.js";
import { Tensor } from "../tensor/tensor.js";
import { checkVarNames } from "./check-var-names.js";
import { type CellariumModel, lookupAttribute, type ModelAttribute, type ModelOutput } from "./model.js";
import { TDigestSet } from "./streaming/tdigest-set.js";

export interface TDigestOptions {
  readonly var_names_g: readonly string[];
  /** Default 100, crick's (and so upstream's). */
  readonly compression?: number;
  /** Where the NaN-median warning goes; default console.warn. */
  readonly warn?: (message: string) => void;
}

/**
 * Per-gene quantile sketch of the non-zero values (upstream's `cellarium.ml.models.TDigest`, a
 * t-digest per gene as crick builds it). A streaming model: after one epoch `median_g` holds each
 * gene's median of its non-zero values, the usual scale for {@link DivideByScale} before Geneformer
 * (upstream's gene median dictionary). Zeros are skipped, as upstream does; a gene never seen
 * non-zero has a NaN median.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { TDigest } from "cellarium-ts";
 *
 * const model = new TDigest({ var_names_g: ["g0"] });
 * const values = new Float32Array([0, 1, 2, 3, 0, 4, 5]); // 7 cells, one gene
 * model.forward({ x_ng: { format: "dense", nRows: 7, nCols: 1, data: values }, var_names_g: ["g0"] });
 * assert.equal(model.median_g.data[0], 3); // the median of 1..5: zeros are not counted
 * assert.equal(model.count_g.data[0], 5);
 * ```
 */
export class TDigest implements CellariumModel {
  readonly className = "TDigest";
  readonly var_names_g: readonly string[];
  readonly compression: number;
  private digests: TDigestSet;
  private readonly warn: (message: string) => void;

  /**
   * @param options - `var_names_g`, and `compression` (centroids per digest, default 100 as upstream's
   *   crick): more is more exact and larger.
   */
  constructor(options: TDigestOptions) {
    this.var_names_g = options.var_names_g;
    this.compression = options.compression ?? 100;
    this.warn = options.warn ?? ((message) => console.warn(message));
    this.digests = new TDigestSet(this.var_names_g.length, this.compression);
  }

  initArgs(): Record<string, JsonValue> {
    return { var_names_g: [...this.var_names_g], compression: this.compression };
  }

  resetParameters(): void {
    this.digests = new TDigestSet(this.var_names_g.length, this.compression);
  }

  forward(batch: Batch): ModelOutput {
    checkVarNames(this.className, this.var_names_g, batch.var_names_g);
    // Medians of non-zero counts: a negative or NaN value is an input error, not a value to skip.
    requireCounts(this.className, batch.x_ng, batch.var_names_g);
    this.digests.update(batch.x_ng);
    return {};
  }

  parameters(): Tensor[] {
    return [];
  }

  train(): void {}

  /** The q-quantile of each gene's non-zero values; NaN for genes that were never non-zero. */
  quantile_g(q: number): Tensor {
    if (!(q >= 0 && q <= 1)) throw new ArgumentError(`TDigest.quantile_g: q must be in [0, 1], got ${q}`);
    const empty = this.digests.emptyGeneCount();
    if (empty > 0) {
      this.warn(
        `TDigest: ${empty} of ${this.var_names_g.length} genes were never non-zero; their quantiles are NaN`,
      );
    }
    const values = this.digests.quantile(q);
    return new Tensor(values, [values.length]);
  }

  /** Per-gene median of the non-zero values seen, `[g]`; NaN for a gene with none. */
  get median_g(): Tensor {
    return this.quantile_g(0.5);
  }

  /** Non-zero values seen per gene. */
  get count_g(): Tensor {
    const counts = this.digests.counts();
    return new Tensor(counts, [counts.length]);
  }

  /**
   * Attributes by name: median_g, count_g, var_names_g, and quantiles as `q<percent>_g`
   * (`q25_g`, `q90_g`, `q99.9_g`).
   */
  attribute(name: string): ModelAttribute {
    const quantile = /^q(\d+(?:\.\d+)?)_g$/.exec(name);
    if (quantile) return this.quantile_g(Number(quantile[1]) / 100);
    return lookupAttribute(this.className, this.attributeTable(), name);
  }

  attributeNames(): readonly string[] {
    return [...Object.keys(this.attributeTable()), "q<percent>_g"];
  }

  private attributeTable(): Record<string, () => ModelAttribute> {
    return {
      median_g: () => this.median_g,
      count_g: () => this.count_g,
      var_names_g: () => this.var_names_g,
    };
  }

  stateDict(): Record<string, Tensor> {
    const s = this.digests.exportState();
    const t = (data: Float64Array | Int32Array) => new Tensor(data, [data.length]);
    return {
      centroid_offsets: t(s.centroidOffsets),
      centroid_means: t(s.centroidMeans),
      centroid_weights: t(s.centroidWeights),
      // Tensors have no uint8 dtype; the 0/1 flags travel as int32.
      centroid_pure: t(Int32Array.from(s.centroidPure)),
      min_g: t(s.min_g),
      max_g: t(s.max_g),
    };
  }

  loadStateDict(state: Record<string, Tensor>): void {
    const get = <T extends Float64Array | Int32Array>(name: string, type: new (n: number) => T): T => {
      const data = state[name]?.data;
      if (!(data instanceof type))
        throw new CheckpointError(`TDigest: state "${name}" is missing or has the wrong dtype`);
      return data as T;
    };
    this.digests = TDigestSet.fromState({
      compression: this.compression,
      centroidOffsets: get("centroid_offsets", Int32Array),
      centroidMeans: get("centroid_means", Float64Array),
      centroidWeights: get("centroid_weights", Float64Array),
      centroidPure: Uint8Array.from(get("centroid_pure", Int32Array)),
      min_g: get("min_g", Float64Array),
      max_g: get("max_g", Float64Array),
    });
    if (this.digests.nGenes !== this.var_names_g.length) {
      throw new CheckpointError(
        `TDigest: the state has ${this.digests.nGenes} genes, the model ${this.var_names_g.length}`,
      );
    }
  }

  merge(other: CellariumModel): void {
    if (!(other instanceof TDigest))
      throw new ArgumentError(`TDigest.merge: cannot merge a ${other.className}`);
    checkVarNames("TDigest.merge", this.var_names_g, other.var_names_g);
    this.digests.merge(other.digests);
  }
}
