// HVGSeuratV3 (upstream's cellarium.ml.models.HVGSeuratV3): scanpy's highly variable genes with
// flavor seurat_v3 / seurat_v3_paper, streamed in two passes over raw counts (two epochs).
//   epoch 0: per batch category, float64 sums of x and x^2 per gene and the cells, and the
//            largest few values of each gene (min-heaps);
//   its end:  LOESS of log10 variance on log10 mean -> regularized std and clip value per gene
//             (src/models/hvg/seurat-v3.ts), once the model holds the whole run's first pass;
//   epoch 1: sums of min(x, clip) and its square;
//   its end:  normalized variances, ranks, selection; onTrainEnd writes upstream's CSVs.
// The clip lies sqrt(n) regularized stds above a gene's mean, so few values exceed it: when every
// gene's values above its clip are among the largest values kept in epoch 0, the clipped sums
// follow exactly from the first pass (each such value v takes v - clip off the sum and
// v^2 - clip^2 off the squared sum), and the fit ends after one epoch (fitComplete) instead of
// reading the data again. Otherwise epoch 1 runs as upstream's.
// Both passes are sums, so replicas and partial runs merge. Upstream keeps the pass in the
// trainer's epoch; the state here records it (passes_complete) so that a checkpoint, a merge of
// partial runs and a resume know which sums are final: after pass 1 every replica holds the same
// first-pass state (the trainer sends rank 0's, sharedState), and merges add only pass-2 sums.

import type { Batch, BatchValue } from "../data/batch.js";
import { firstNonInteger, requireCounts } from "../data/check-block.js";
import { type CsrMatrix, type Matrix, storedForm } from "../data/matrix.js";
import { ArgumentError, CheckpointError, DataValueError } from "../errors.js";
import type { JsonValue } from "../json.js";
import { kernels } from "../tensor/kernels/index.js";
import { Tensor } from "../tensor/tensor.js";
import { checkVarNames } from "./check-var-names.js";
import { formatHvgCsv, type VarColumns } from "./hvg/hvg-csv.js";
import { hvgVarFrame } from "./hvg/hvg-var.js";
import {
  fitClipValues,
  type HvgFlavor,
  type HvgTable,
  meanVariance,
  normalizedVariance,
  selectGenes,
} from "./hvg/seurat-v3.js";
import {
  type CellariumModel,
  lookupAttribute,
  type ModelAttribute,
  type ModelOutput,
  type TrainerContext,
} from "./model.js";

export interface HVGSeuratV3Options {
  readonly var_names_g: readonly string[];
  /** Genes to select; a list gives one selection (and one CSV) per value. */
  readonly n_top_genes: number | readonly number[];
  /** Batch categories (upstream links it from data.batch_keys.batch_index_n); default 1. */
  readonly n_batch?: number;
  readonly flavor?: HvgFlavor;
  /** Whether batches carry batch_index_n (codes in [0, n_batch)); default false: one batch. */
  readonly use_batch_key?: boolean;
  /** LOESS span; default 0.3. */
  readonly span?: number;
  /**
   * Where fit writes `<stem>__top<n>.csv` and `<stem>__top<n>__hvg_only.csv`, or for a path ending
   * in .h5ad `<stem>__top<n>.h5ad` (a genes-only AnnData, the results as var columns); null for none.
   */
  readonly output_path?: string | null;
  /** Batches with fewer cells take no part in the ranking; default 2. */
  readonly batch_n_cell_minimum?: number;
  /** A gene needs to rank among the top n in this many batches to be selected; default 1. */
  readonly n_batch_minimum?: number;
  /** Columns of the data's adata.var appended to the CSVs (upstream joins the first shard's var). */
  readonly var_columns?: VarColumns | null;
  /** Receives the non-integer-counts warning; default console.warn. */
  readonly warn?: (message: string) => void;
  /**
   * Largest values kept per batch category and gene in the first pass (0: none, always two passes);
   * default 16 (more cost the heaps more churn on tied counts), fewer when n_batch x genes is large
   * (at most 2^23 values in all). Not a config key of upstream's: a checkpoint's state carries its
   * own count.
   */
  readonly kept_largest?: number;
}

/** The default of kept_largest, and the most values all heaps together may hold (32 MiB). */
const KEPT_LARGEST = 16;
const KEPT_VALUES_BUDGET = 1 << 23;

/** The state's per-batch sums, by upstream's buffer names. */
const SUMS = [
  "x_sums_bg",
  "x_squared_sums_bg",
  "clip_val_bg",
  "reg_std_bg",
  "counts_sum_bg",
  "sq_counts_sum_bg",
] as const;
type SumName = (typeof SUMS)[number];
/**
 * What every replica holds alike once the first pass is complete (with the second pass's sums,
 * which are final when the first pass gave them and zero otherwise).
 */
const FIRST_PASS = [
  "x_sums_bg",
  "x_squared_sums_bg",
  "x_size_b",
  "clip_val_bg",
  "reg_std_bg",
  "counts_sum_bg",
  "sq_counts_sum_bg",
  "passes_complete",
];
/** The first pass's largest values: kept_largest per batch category and gene, each a min-heap. */
const LARGEST = "largest_values_bgk";
/** 1 while the heaps hold every value of the run so far; 0 after a state without them was loaded. */
const LARGEST_COMPLETE = "largest_values_complete";

export class HVGSeuratV3 implements CellariumModel {
  readonly className = "HVGSeuratV3";
  readonly var_names_g: readonly string[];
  readonly n_top_genes: readonly number[];
  readonly n_batch: number;
  readonly flavor: HvgFlavor;
  readonly use_batch_key: boolean;
  readonly span: number;
  readonly output_path: string | null;
  readonly batch_n_cell_minimum: number;
  readonly n_batch_minimum: number;
  readonly var_columns: VarColumns | null;
  private readonly warn: (message: string) => void;
  private warnedNonInteger = false;
  private readonly sums: Record<SumName, Float64Array>;
  private readonly x_size_b: Float64Array;
  /** 0: accumulating pass 1; 1: pass 1 fitted, accumulating pass 2; 2: both done. */
  private passes = 0;
  /** The epoch the trainer is in (onTrainEpochStart); null outside a fit. */
  private epoch: number | null = null;
  private tables: Map<number, HvgTable> | null = null;
  /** Scratch of the native moments kernel: [sum, squared sum, count] per gene. */
  private moments_g3: Float64Array | null = null;
  /** Values kept per heap, the heaps (a min-heap of `kept` per batch and gene) and their minima. */
  private kept: number;
  private largest_bgk: Float32Array;
  private minima_bg: Float32Array;
  private largestComplete = true;

  constructor(options: HVGSeuratV3Options) {
    this.var_names_g = options.var_names_g;
    const top = typeof options.n_top_genes === "number" ? [options.n_top_genes] : options.n_top_genes;
    // Upstream: sorted(set(n_top_genes)).
    this.n_top_genes = [...new Set(top)].sort((a, b) => a - b);
    for (const n of this.n_top_genes) {
      if (!Number.isSafeInteger(n) || n < 1)
        throw new ArgumentError(`HVGSeuratV3: n_top_genes must be positive integers, got ${n}`);
    }
    if (this.n_top_genes.length === 0) throw new ArgumentError("HVGSeuratV3: n_top_genes is an empty list");
    this.n_batch = options.n_batch ?? 1;
    if (!Number.isSafeInteger(this.n_batch) || this.n_batch < 1)
      throw new ArgumentError(`HVGSeuratV3: n_batch must be a positive integer, got ${this.n_batch}`);
    this.flavor = options.flavor ?? "seurat_v3";
    if (this.flavor !== "seurat_v3" && this.flavor !== "seurat_v3_paper")
      throw new ArgumentError(
        `HVGSeuratV3: flavor must be seurat_v3 or seurat_v3_paper, got ${String(this.flavor)}`,
      );
    this.use_batch_key = options.use_batch_key ?? false;
    if (this.use_batch_key && this.n_batch < 2) {
      throw new ArgumentError(
        `HVGSeuratV3: use_batch_key is true but n_batch is ${this.n_batch}: add batch_index_n (attr obs, key <batch column>, convert_fn categories_to_codes) to data.batch_keys`,
      );
    }
    this.span = options.span ?? 0.3;
    if (!(this.span > 0)) throw new ArgumentError(`HVGSeuratV3: span must be positive, got ${this.span}`);
    this.output_path = options.output_path === undefined ? "hvg_seurat_v3_output.csv" : options.output_path;
    if (this.output_path !== null && !/\.(csv|h5ad)$/.test(this.output_path))
      throw new ArgumentError(
        `HVGSeuratV3: output_path must end with .csv or .h5ad, got "${this.output_path}"`,
      );
    this.batch_n_cell_minimum = options.batch_n_cell_minimum ?? 2;
    this.n_batch_minimum = options.n_batch_minimum ?? 1;
    if (this.n_batch_minimum > this.n_batch)
      throw new ArgumentError(
        `HVGSeuratV3: n_batch_minimum (${this.n_batch_minimum}) cannot exceed n_batch (${this.n_batch})`,
      );
    this.var_columns = options.var_columns ?? null;
    this.warn = options.warn ?? ((message) => console.warn(message));
    const size = this.n_batch * this.var_names_g.length;
    this.sums = Object.fromEntries(SUMS.map((name) => [name, new Float64Array(size)])) as Record<
      SumName,
      Float64Array
    >;
    this.x_size_b = new Float64Array(this.n_batch);
    const kept = options.kept_largest ?? Math.min(KEPT_LARGEST, Math.floor(KEPT_VALUES_BUDGET / size));
    if (!Number.isSafeInteger(kept) || kept < 0 || kept * size > KEPT_VALUES_BUDGET)
      throw new ArgumentError(
        `HVGSeuratV3: kept_largest must be an integer in [0, ${Math.floor(KEPT_VALUES_BUDGET / size)}] (2^23 values over ${this.n_batch} batch(es) x ${this.var_names_g.length} genes), got ${kept}`,
      );
    this.kept = kept;
    this.largest_bgk = new Float32Array(size * kept);
    this.minima_bg = new Float32Array(size);
  }

  initArgs(): Record<string, JsonValue> {
    return {
      var_names_g: [...this.var_names_g],
      n_top_genes: this.n_top_genes.length === 1 ? this.n_top_genes[0]! : [...this.n_top_genes],
      n_batch: this.n_batch,
      flavor: this.flavor,
      use_batch_key: this.use_batch_key,
      span: this.span,
      output_path: this.output_path,
      batch_n_cell_minimum: this.batch_n_cell_minimum,
      n_batch_minimum: this.n_batch_minimum,
      var_columns: this.var_columns as JsonValue,
    };
  }

  resetParameters(): void {
    for (const name of SUMS) this.sums[name].fill(0);
    this.x_size_b.fill(0);
    this.largest_bgk.fill(0);
    this.minima_bg.fill(0);
    this.largestComplete = true;
    this.passes = 0;
    this.tables = null;
  }

  /** Both passes' sums are known: after the second pass, or after the first when it gave them. */
  fitComplete(): boolean {
    return this.passes === 2;
  }

  onTrainEpochStart(context: TrainerContext): void {
    this.epoch = context.epoch;
  }

  forward(batch: Batch): ModelOutput {
    checkVarNames(this.className, this.var_names_g, batch.var_names_g);
    const batch_n = this.batchCodes(batch);
    requireCounts(this.className, batch.x_ng, batch.var_names_g);
    if ((this.epoch ?? 0) > 1)
      throw new ArgumentError(
        `HVGSeuratV3 makes two passes over the data, but the trainer is in epoch ${this.epoch}: set trainer.max_epochs to 2`,
      );
    if (this.passes === 2)
      throw new ArgumentError(
        "HVGSeuratV3: the fit is complete (both passes' sums are known; fitComplete() is true), but it was given another batch",
      );
    if (this.epoch !== null && this.epoch !== this.passes) {
      throw new ArgumentError(
        `HVGSeuratV3: epoch ${this.epoch} is pass ${this.epoch + 1}, but the model holds pass ${this.passes + 1}: a partial run (--replica_rank/--num_replicas) cannot fit the first pass's LOESS on its part alone. Run the parts with --trainer.max_epochs 1, cellarium merge them, then run the parts again with --ckpt_path <merged checkpoint>`,
      );
    }
    this.accumulate(batch.x_ng, batch_n, this.passes === 0 ? null : this.sums.clip_val_bg);
    return {};
  }

  /** The batch category of each cell: batch_index_n's codes, or all 0 without a batch key. */
  private batchCodes(batch: Batch): Int32Array | null {
    const codes: BatchValue | undefined = batch.batch_index_n;
    if (!this.use_batch_key) {
      if (codes !== undefined)
        throw new ArgumentError(
          "HVGSeuratV3: the batches carry batch_index_n but use_batch_key is false: set use_batch_key: true or remove batch_index_n from data.batch_keys",
        );
      return null;
    }
    if (codes === undefined)
      throw new ArgumentError(
        "HVGSeuratV3: use_batch_key is true but the batches carry no batch_index_n: add it to data.batch_keys (attr obs, key <batch column>, convert_fn categories_to_codes)",
      );
    if (!(codes instanceof Int32Array || codes instanceof Float32Array || codes instanceof Float64Array))
      throw new ArgumentError(
        "HVGSeuratV3: batch_index_n must be category codes (convert_fn categories_to_codes) or integers",
      );
    const out = codes instanceof Int32Array ? codes : Int32Array.from(codes);
    for (let i = 0; i < codes.length; i++) {
      const code = codes[i]!;
      if (!(Number.isInteger(code) && code >= 0 && code < this.n_batch))
        throw new DataValueError(
          `HVGSeuratV3: batch_index_n of cell ${i} of the batch is ${code}, outside the ${this.n_batch} batch categories (a missing category?)`,
          { row: i },
        );
    }
    return out;
  }

  /** Adds a block's x (clip null) or min(x, clip) to the pass's sums, cell by cell into its batch's row. */
  private accumulate(x: Matrix, batch_n: Int32Array | null, clip_bg: Float64Array | null): void {
    const sums = clip_bg === null ? this.sums.x_sums_bg : this.sums.counts_sum_bg;
    const squares = clip_bg === null ? this.sums.x_squared_sums_bg : this.sums.sq_counts_sum_bg;
    // A deferred dense block (Densify) through its CSR form: its zeros add nothing to either pass.
    const stored = storedForm(x);
    const g = this.var_names_g.length;
    // Runs of consecutive cells of one batch category: the whole block without a batch key.
    for (let first = 0; first < stored.nRows; ) {
      const b = batch_n === null ? 0 : batch_n[first]!;
      let end = first + 1;
      while (end < stored.nRows && (batch_n === null || batch_n[end] === b)) end++;
      // The first pass keeps the largest values too: with the native sums, in the same pass.
      const keep = clip_bg === null && this.kept > 0;
      if (stored.format === "csr" && stored.indptr[end]! - stored.indptr[first]! >= 2 * g)
        this.addRunNative(stored, first, end, b, clip_bg, sums, squares, keep);
      else {
        this.addRun(stored, first, end, b, clip_bg, sums, squares);
        if (keep) this.keepLargest(stored, first, end, b, null);
      }
      if (clip_bg === null) this.x_size_b[b]! += end - first;
      first = end;
    }
    if (clip_bg === null && !this.warnedNonInteger && firstNonInteger(stored.data) < stored.data.length) {
      this.warnedNonInteger = true;
      this.warn(
        "warning: HVGSeuratV3 expects raw counts, but non-integer values were found (as scanpy warns)",
      );
    }
  }

  /**
   * Rows [first, end) of one category through the native per-gene moments kernel (with `keep`,
   * keepLargest's, which also keeps the largest values in the same pass), then in the second pass
   * the excess over the clip taken back from the few values above it (the clip lies sqrt(n)
   * regularized stds above the mean): 2.5x the speed of addRun's loops, for runs long enough (2
   * values per gene) to pay for the scratch's fill and fold.
   */
  private addRunNative(
    csr: CsrMatrix,
    first: number,
    end: number,
    b: number,
    clip_bg: Float64Array | null,
    sums: Float64Array,
    squares: Float64Array,
    keep: boolean,
  ): void {
    const g = this.var_names_g.length;
    if (this.moments_g3 === null) this.moments_g3 = new Float64Array(3 * g);
    const moments_g3 = this.moments_g3;
    moments_g3.fill(0);
    const [start, stop] = [csr.indptr[first]!, csr.indptr[end]!];
    if (keep) this.keepLargest(csr, first, end, b, moments_g3);
    else
      kernels().csrColumnMoments({
        indices: csr.indices.subarray(start, stop),
        values: csr.data.subarray(start, stop),
        shift: null,
        moments: moments_g3,
      });
    if (clip_bg !== null) takeExcess(csr.data, csr.indices, start, stop, clip_bg, b * g, moments_g3);
    for (let j = 0; j < g; j++) {
      sums[b * g + j]! += moments_g3[3 * j]!;
      squares[b * g + j]! += moments_g3[3 * j + 1]!;
    }
  }

  /**
   * Rows [first, end) of category b into its genes' heaps of largest values; with moments_g3, their
   * per-gene sums in the same pass (keepLargest's moments, CSR only).
   */
  private keepLargest(
    stored: Matrix,
    first: number,
    end: number,
    b: number,
    moments_g3: Float64Array | null,
  ): void {
    const g = this.var_names_g.length;
    const heaps = { cols: g, base: b * g, kept: this.kept, minima: this.minima_bg, heaps: this.largest_bgk };
    if (stored.format === "csr") {
      const [start, stop] = [stored.indptr[first]!, stored.indptr[end]!];
      kernels().keepLargest({
        indices: stored.indices.subarray(start, stop),
        values: stored.data.subarray(start, stop),
        ...heaps,
        moments: moments_g3,
      });
      return;
    }
    // A dense row: every gene's column index once.
    const columns = Int32Array.from({ length: g }, (_, j) => j);
    for (let i = first; i < end; i++)
      kernels().keepLargest({
        indices: columns,
        values: stored.data.subarray(i * g, (i + 1) * g),
        ...heaps,
        moments: null,
      });
  }

  /** Rows [first, end) of category b, value by value into its row of the sums. */
  private addRun(
    stored: Matrix,
    first: number,
    end: number,
    b: number,
    clip_bg: Float64Array | null,
    sums: Float64Array,
    squares: Float64Array,
  ): void {
    const g = this.var_names_g.length;
    const base = b * g;
    const { data } = stored;
    if (stored.format === "csr")
      addRows(data, stored.indices, stored.indptr[first]!, stored.indptr[end]!, base, clip_bg, sums, squares);
    else addDenseRows(data, first * g, end * g, g, base, clip_bg, sums, squares);
  }

  /**
   * The epoch is over. With the whole run's sums (not a partial run's part), pass 1 ends in the
   * LOESS fit of every batch and pass 2 in the ranking.
   */
  onTrainEpochEnd(context: TrainerContext): void {
    if (!context.wholeRun) return;
    if (this.passes === 0) this.finishFirstPass();
    else if (this.passes === 1) {
      this.passes = 2;
      this.tables = null;
    }
  }

  private finishFirstPass(): void {
    const g = this.var_names_g.length;
    const { clip_val_bg, reg_std_bg, x_sums_bg, x_squared_sums_bg } = this.sums;
    // A batch too small to take part clips nothing (upstream's +inf).
    clip_val_bg.fill(Number.POSITIVE_INFINITY);
    reg_std_bg.fill(0);
    for (let b = 0; b < this.n_batch; b++) {
      const n = this.x_size_b[b]!;
      if (n < this.batch_n_cell_minimum) continue;
      const row = (a: Float64Array) => a.subarray(b * g, (b + 1) * g);
      const fit = fitClipValues(row(x_sums_bg), row(x_squared_sums_bg), n, this.span);
      clip_val_bg.set(fit.clip_val_g, b * g);
      reg_std_bg.set(fit.reg_std_g, b * g);
    }
    this.passes = 1;
    if (this.clippedSumsFromLargest()) this.passes = 2;
  }

  /**
   * The second pass's sums from the first pass's, when every gene's values above its clip are
   * among its heap's (the heap's minimum is at most the clip: the values outside it are below):
   * each takes v - clip off the sum and v^2 - clip^2 off the squared sum. False, and nothing
   * written, when some gene needs the second pass.
   */
  private clippedSumsFromLargest(): boolean {
    if (this.kept === 0 || !this.largestComplete) return false;
    const { clip_val_bg, x_sums_bg, x_squared_sums_bg, counts_sum_bg, sq_counts_sum_bg } = this.sums;
    const { largest_bgk, minima_bg, kept } = this;
    for (let slot = 0; slot < minima_bg.length; slot++)
      if (minima_bg[slot]! > clip_val_bg[slot]!) return false;
    for (let slot = 0; slot < minima_bg.length; slot++) {
      const c = clip_val_bg[slot]!;
      let sum = x_sums_bg[slot]!;
      let squares = x_squared_sums_bg[slot]!;
      for (let i = slot * kept; i < (slot + 1) * kept; i++) {
        const v = largest_bgk[i]!;
        if (v > c) {
          sum -= v - c;
          squares -= v * v - c * c;
        }
      }
      counts_sum_bg[slot] = sum;
      sq_counts_sum_bg[slot] = squares;
    }
    return true;
  }

  /** The ranking for n_top_genes `n` (one of the model's), from the completed passes. */
  table(n: number): HvgTable {
    if (this.passes < 2)
      throw new ArgumentError(`HVGSeuratV3: the selection needs both passes; ${this.passes} complete`);
    if (!this.n_top_genes.includes(n))
      throw new ArgumentError(`HVGSeuratV3: n_top_genes ${n} is not one of ${this.n_top_genes.join(", ")}`);
    this.tables ??= new Map();
    let table = this.tables.get(n);
    if (!table) {
      table = selectGenes(this.normalizedVariances(), n, this.flavor, this.n_batch_minimum);
      this.tables.set(n, table);
    }
    return table;
  }

  /** Per batch that takes part, the normalized variance of every gene. */
  private normalizedVariances(): Float64Array[] {
    const g = this.var_names_g.length;
    const out: Float64Array[] = [];
    for (let b = 0; b < this.n_batch; b++) {
      const n = this.x_size_b[b]!;
      if (n < this.batch_n_cell_minimum) continue;
      const row = (name: SumName) => this.sums[name].subarray(b * g, (b + 1) * g);
      const mean_g = row("x_sums_bg").map((s) => s / n);
      out.push(
        normalizedVariance(mean_g, row("reg_std_bg"), row("counts_sum_bg"), row("sq_counts_sum_bg"), n),
      );
    }
    return out;
  }

  /** scanpy's means and variances (ddof 1) over every cell, whatever its batch. */
  overallMeanVariance(): { mean_g: Float64Array; var_g: Float64Array } {
    const g = this.var_names_g.length;
    const sums = new Float64Array(g);
    const squares = new Float64Array(g);
    let n = 0;
    for (let b = 0; b < this.n_batch; b++) {
      n += this.x_size_b[b]!;
      for (let j = 0; j < g; j++) {
        sums[j]! += this.sums.x_sums_bg[b * g + j]!;
        squares[j]! += this.sums.x_squared_sums_bg[b * g + j]!;
      }
    }
    return meanVariance(sums, squares, n);
  }

  parameters(): Tensor[] {
    return [];
  }

  train(): void {}

  attribute(name: string): ModelAttribute {
    return lookupAttribute(this.className, this.attributeTable(), name);
  }

  attributeNames(): readonly string[] {
    return Object.keys(this.attributeTable());
  }

  private attributeTable(): Record<string, () => ModelAttribute> {
    const first = this.n_top_genes[0]!;
    const selected = (n: number) => {
      const table = this.table(n);
      return Array.from(table.order)
        .filter((j) => table.highly_variable[j] === 1)
        .map((j) => this.var_names_g[j]!);
    };
    const perGene = (data: Float64Array | Int32Array | Uint8Array) =>
      new Tensor(Float64Array.from(data), [data.length]);
    return {
      // The selected genes in rank order: what Filter's filter_list takes (!CheckpointLoader).
      highly_variable_genes: () => selected(first),
      ...Object.fromEntries(
        this.n_top_genes.map((n) => [`highly_variable_genes_top${n}`, () => selected(n)]),
      ),
      highly_variable: () => perGene(this.table(first).highly_variable),
      highly_variable_rank: () => perGene(this.table(first).highly_variable_rank),
      highly_variable_nbatches: () => perGene(this.table(first).highly_variable_nbatches),
      variances_norm: () => perGene(this.table(first).variances_norm),
      means: () => perGene(this.overallMeanVariance().mean_g),
      variances: () => perGene(this.overallMeanVariance().var_g),
      x_size: () => this.x_size_b.reduce((a, b) => a + b, 0),
      var_names_g: () => this.var_names_g,
    };
  }

  stateDict(): Record<string, Tensor> {
    const shape = [this.n_batch, this.var_names_g.length];
    return {
      ...Object.fromEntries(SUMS.map((name) => [name, new Tensor(this.sums[name], shape)])),
      x_size_b: new Tensor(this.x_size_b, [this.n_batch]),
      passes_complete: new Tensor(Float64Array.of(this.passes), [1]),
      [LARGEST]: new Tensor(this.largest_bgk, [...shape, this.kept]),
      [LARGEST_COMPLETE]: new Tensor(Float64Array.of(this.largestComplete ? 1 : 0), [1]),
    };
  }

  /**
   * Restores a checkpoint's state. A state without the first pass's largest values (upstream's
   * checkpoints, ours from before they were kept) loads with the heaps marked incomplete: the fit
   * then makes the second pass.
   */
  loadStateDict(state: Record<string, Tensor>): void {
    this.load(state, [...SUMS, "x_size_b", "passes_complete"]);
    this.loadLargest(state);
  }

  /** The heaps from `state`, whatever their count per gene; absent: empty and incomplete. */
  private loadLargest(state: Record<string, Tensor>): void {
    const heaps = state[LARGEST];
    const complete = state[LARGEST_COMPLETE];
    const size = this.minima_bg.length;
    if (heaps === undefined || complete === undefined) {
      this.largest_bgk.fill(0);
      this.minima_bg.fill(0);
      this.largestComplete = false;
      return;
    }
    const kept = heaps.data.length / size;
    if (
      !(heaps.data instanceof Float32Array) ||
      !Number.isSafeInteger(kept) ||
      kept * size > KEPT_VALUES_BUDGET ||
      !(complete.data instanceof Float64Array) ||
      complete.data.length !== 1 ||
      ![0, 1].includes(complete.data[0]!)
    )
      throw new CheckpointError(
        `HVGSeuratV3: state "${LARGEST}" is not float32 values, a whole number (at most ${Math.floor(KEPT_VALUES_BUDGET / size)}) per batch and gene, or "${LARGEST_COMPLETE}" is not 0 or 1`,
      );
    this.kept = kept;
    this.largest_bgk = heaps.data.slice();
    this.minima_bg = new Float32Array(size);
    for (let slot = 0; slot < size; slot++)
      this.minima_bg[slot] = kept === 0 ? 0 : this.largest_bgk[slot * kept]!;
    this.largestComplete = complete.data[0] === 1;
  }

  sharedState(): Record<string, Tensor> {
    const state = this.stateDict();
    return Object.fromEntries(FIRST_PASS.map((name) => [name, state[name]!]));
  }

  loadSharedState(state: Record<string, Tensor>): void {
    this.load(state, FIRST_PASS);
  }

  /** Copies the state's tensors `names` into the model, every one checked before any is copied. */
  private load(state: Record<string, Tensor>, names: readonly string[]): void {
    const lengthOf = (name: string) =>
      name === "passes_complete"
        ? 1
        : name === "x_size_b"
          ? this.n_batch
          : this.n_batch * this.var_names_g.length;
    const arrays = names.map((name): [string, Float64Array] => {
      const tensor = state[name];
      const length = lengthOf(name);
      if (!tensor || !(tensor.data instanceof Float64Array) || tensor.data.length !== length)
        throw new CheckpointError(
          `HVGSeuratV3: state "${name}" is missing or not ${length} float64 values (n_batch ${this.n_batch} x ${this.var_names_g.length} genes)`,
        );
      if (name === "passes_complete" && ![0, 1, 2].includes(tensor.data[0]!))
        throw new CheckpointError(`HVGSeuratV3: state "passes_complete" is ${tensor.data[0]}, not 0, 1 or 2`);
      return [name, tensor.data];
    });
    for (const [name, data] of arrays) {
      if (name === "passes_complete") this.passes = data[0]!;
      else if (name === "x_size_b") this.x_size_b.set(data);
      else this.sums[name as SumName].set(data);
    }
    this.tables = null;
  }

  /**
   * Adds another replica's sums. In pass 1 both hold parts of the first pass, which add; once the
   * first pass is fitted both hold the same first pass (the trainer shares it), so only the
   * second pass's sums add.
   */
  merge(other: CellariumModel): void {
    if (!(other instanceof HVGSeuratV3))
      throw new ArgumentError(`HVGSeuratV3.merge: cannot merge a ${other.className}`);
    checkVarNames("HVGSeuratV3.merge", this.var_names_g, other.var_names_g);
    if (other.n_batch !== this.n_batch)
      throw new ArgumentError(`HVGSeuratV3.merge: n_batch ${other.n_batch} differs from ${this.n_batch}`);
    if (other.passes !== this.passes)
      throw new ArgumentError(
        `HVGSeuratV3.merge: a replica with ${other.passes} complete passes cannot merge into one with ${this.passes}`,
      );
    const add = (name: SumName) => {
      const mine = this.sums[name];
      const theirs = other.sums[name];
      for (let i = 0; i < mine.length; i++) mine[i]! += theirs[i]!;
    };
    if (this.passes === 0) {
      add("x_sums_bg");
      add("x_squared_sums_bg");
      for (let b = 0; b < this.n_batch; b++) this.x_size_b[b]! += other.x_size_b[b]!;
      this.mergeLargest(other);
      return;
    }
    // Parts resumed from a completed first merge hold the same final sums: nothing to add.
    const final = this.passes === 2;
    const same = final
      ? (["x_sums_bg", "x_squared_sums_bg", "clip_val_bg", "counts_sum_bg", "sq_counts_sum_bg"] as const)
      : (["x_sums_bg", "x_squared_sums_bg", "clip_val_bg"] as const);
    for (const name of same) {
      const mine = this.sums[name];
      const theirs = other.sums[name];
      for (let i = 0; i < mine.length; i++) {
        if (mine[i] !== theirs[i])
          throw new ArgumentError(
            `HVGSeuratV3.merge: the replicas' first passes differ (${name}[${i}]: ${mine[i]} vs ${theirs[i]}); parts of the second pass must all start from the same merged first pass`,
          );
      }
    }
    if (final) return;
    add("counts_sum_bg");
    add("sq_counts_sum_bg");
    this.tables = null;
  }

  /** The largest values of both replicas' heaps, complete when both were and kept alike. */
  private mergeLargest(other: HVGSeuratV3): void {
    if (other.kept !== this.kept || !other.largestComplete) {
      this.largestComplete = false;
      return;
    }
    // Every value of the other's heaps into the heap of its slot.
    const { kept } = this;
    const slots = this.minima_bg.length;
    kernels().keepLargest({
      indices: Int32Array.from({ length: slots * kept }, (_, i) => Math.floor(i / kept)),
      values: other.largest_bgk,
      cols: slots,
      base: 0,
      kept,
      minima: this.minima_bg,
      heaps: this.largest_bgk,
      moments: null,
    });
  }

  async onTrainEnd(context: TrainerContext): Promise<void> {
    if (this.output_path === null || this.passes < 2 || context.replicaRank !== 0) return;
    const { mean_g, var_g } = this.overallMeanVariance();
    for (const n of this.n_top_genes) {
      const table = this.table(n);
      const columns = {
        var_names_g: this.var_names_g,
        means: mean_g,
        variances: var_g,
        table,
        withBatches: this.n_batch > 1,
        varColumns: this.var_columns,
      };
      const [, stem, extension] = /^(.*)\.(csv|h5ad)$/.exec(this.output_path)!;
      if (extension === "h5ad") {
        await context.writeGenes(`${stem}__top${n}.h5ad`, hvgVarFrame(columns));
        continue;
      }
      await context.writeTextFile(`${stem}__top${n}.csv`, formatHvgCsv(columns, false));
      await context.writeTextFile(`${stem}__top${n}__hvg_only.csv`, formatHvgCsv(columns, true));
    }
  }
}

/** Stored values [start, end) of rows of one category, clipped (second pass) or not, into its sums. */
function addRows(
  data: Float32Array,
  indices: Int32Array,
  start: number,
  end: number,
  base: number,
  clip: Float64Array | null,
  sums: Float64Array,
  squares: Float64Array,
): void {
  for (let p = start; p < end; p++) {
    const at = base + indices[p]!;
    const v = clip === null ? data[p]! : Math.min(data[p]!, clip[at]!);
    sums[at]! += v;
    squares[at]! += v * v;
  }
}

function addDenseRows(
  data: Float32Array,
  start: number,
  end: number,
  g: number,
  base: number,
  clip: Float64Array | null,
  sums: Float64Array,
  squares: Float64Array,
): void {
  for (let p = start; p < end; p++) {
    const at = base + ((p - start) % g);
    const v = clip !== null ? Math.min(data[p]!, clip[at]!) : data[p]!;
    sums[at]! += v;
    squares[at]! += v * v;
  }
}

/**
 * Moments of a block's stored values (interleaved [sum, squared sum, count] per gene) turned into
 * those of the values clipped at clip[base + gene]: each value v above its clip c takes v - c off
 * the sum and v^2 - c^2 off the squared sum.
 */
function takeExcess(
  data: Float32Array,
  indices: Int32Array,
  start: number,
  end: number,
  clip: Float64Array,
  base: number,
  moments_g3: Float64Array,
): void {
  for (let p = start; p < end; p++) {
    const j = indices[p]!;
    const c = clip[base + j]!;
    const v = data[p]!;
    if (v > c) {
      moments_g3[3 * j]! -= v - c;
      moments_g3[3 * j + 1]! -= v * v - c * c;
    }
  }
}
