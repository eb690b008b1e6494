// The arithmetic of Seurat v3's highly variable genes (Stuart et al. 2019), as scanpy's
// `highly_variable_genes(flavor="seurat_v3" | "seurat_v3_paper")` and upstream's HVGSeuratV3
// compute it, on the per-batch sums that the streaming passes of src/models/hvg-seurat-v3.ts
// accumulate:
//   pass 1 sums -> mean and variance (ddof 1) per gene, LOESS of log10 variance on log10 mean over
//                  the genes whose variance is positive -> regularized std, clip value per gene;
//   pass 2 sums of the counts clipped at that value -> normalized variance per gene;
//   per batch ranks of the normalized variances -> median rank, number of batches where a gene
//                  ranks among the top n, and the selection in the flavor's order.
// Batches with fewer than batch_n_cell_minimum cells take no part (upstream's rule; scanpy has no
// such batches).

import { ArgumentError, DataValueError } from "../../errors.js";
import { Generator } from "../../tensor/random.js";
import { loessFit } from "./loess.js";

export type HvgFlavor = "seurat_v3" | "seurat_v3_paper";

/** What pass 1 gives one batch: the regularized standard deviation and the clip value per gene. */
export interface ClipFit {
  readonly reg_std_g: Float64Array;
  readonly clip_val_g: Float64Array;
}

/** Mean and sample variance (ddof 1) from a batch's sums, as upstream's `_compute_clip_val`. */
export function meanVariance(
  sums_g: ArrayLike<number>,
  squaredSums_g: ArrayLike<number>,
  n: number,
): { mean_g: Float64Array; var_g: Float64Array } {
  const g = sums_g.length;
  const mean_g = new Float64Array(g);
  const var_g = new Float64Array(g);
  for (let j = 0; j < g; j++) {
    const s = sums_g[j]!;
    mean_g[j] = s / n;
    var_g[j] = (squaredSums_g[j]! - (s * s) / n) / (n - 1);
  }
  return { mean_g, var_g };
}

/**
 * Pass 1's fit for one batch of n cells: log10(variance) ~ log10(mean) by LOESS (degree 2, `span`)
 * over the genes with positive variance; a constant gene's fitted log10 variance is 0 (std 1).
 * clip = reg_std * sqrt(n) + mean.
 */
export function fitClipValues(
  sums_g: ArrayLike<number>,
  squaredSums_g: ArrayLike<number>,
  n: number,
  span: number,
): ClipFit {
  const { mean_g, var_g } = meanVariance(sums_g, squaredSums_g, n);
  const g = mean_g.length;
  const fitted_g = new Float64Array(g);
  const varying: number[] = [];
  for (let j = 0; j < g; j++) if (var_g[j]! > 0) varying.push(j);
  if (varying.length > 0) {
    const x = Float64Array.from(varying, (j) => Math.log10(mean_g[j]!));
    const y = Float64Array.from(varying, (j) => Math.log10(var_g[j]!));
    const fit = loessWithJitter(x, y, span);
    for (let i = 0; i < varying.length; i++) fitted_g[varying[i]!] = fit[i]!;
  }
  const reg_std_g = new Float64Array(g);
  const clip_val_g = new Float64Array(g);
  const root = Math.sqrt(n);
  for (let j = 0; j < g; j++) {
    reg_std_g[j] = Math.sqrt(10 ** fitted_g[j]!);
    clip_val_g[j] = reg_std_g[j]! * root + mean_g[j]!;
  }
  return { reg_std_g, clip_val_g };
}

/**
 * Upstream's `_fit_loess_with_jitter`: when the fit fails, x is jittered uniformly in [-j, j], j
 * from 1e-18 up by tens to 1e-6, until it succeeds. A fit fails as it does in scikit-misc, which
 * upstream and scanpy call: on dloess's errors and on its warnings too (a neighbourhood too
 * degenerate for a quadratic, e.g. most means tied, needs the pseudo-inverse). Upstream draws the
 * jitter from numpy's default_rng(0); ours comes from the project's generator with seed 0, so a
 * jittered fit (and only a jittered one) differs from upstream's in the last digits.
 */
export function loessWithJitter(x: Float64Array, y: Float64Array, span: number): Float64Array {
  const random = new Generator(0);
  let reason = "";
  for (let jitter = 0; jitter <= 1e-6; jitter = jitter === 0 ? 1e-18 : jitter * 10) {
    const xFit = jitter === 0 ? x : x.map((v) => v + jitter * (2 * uniform(random) - 1));
    try {
      const fit = loessFit(xFit, y, { span, degree: 2 });
      if (fit.warnings.length === 0) return fit.fitted;
      reason = fit.warnings.join("; ");
    } catch (error) {
      if (!(error instanceof ArgumentError || error instanceof DataValueError)) throw error;
      reason = error.message;
    }
  }
  throw new ArgumentError(
    `HVGSeuratV3: the LOESS fit of log10 variance on log10 mean over ${x.length} genes failed after jitter up to 1e-6 (${reason})`,
  );
}

/** A uniform double in [0, 1) from 53 random bits. */
function uniform(random: Generator): number {
  const high = random.nextUint32() >>> 5;
  const low = random.nextUint32() >>> 6;
  return (high * 67108864 + low) / 9007199254740992;
}

/**
 * Pass 2 for one batch of n cells: the variance of the clipped counts in units of the regularized
 * variance, (n mean^2 + sum(c^2) - 2 mean sum(c)) / ((n - 1) reg_std^2), with c the count clipped at
 * the gene's clip value. NaN (n = 1) becomes 0, as upstream does.
 */
export function normalizedVariance(
  mean_g: ArrayLike<number>,
  reg_std_g: ArrayLike<number>,
  clippedSums_g: ArrayLike<number>,
  clippedSquaredSums_g: ArrayLike<number>,
  n: number,
): Float64Array {
  const g = mean_g.length;
  const out = new Float64Array(g);
  for (let j = 0; j < g; j++) {
    const m = mean_g[j]!;
    const std = reg_std_g[j]!;
    const v = (n * m * m + clippedSquaredSums_g[j]! - 2 * m * clippedSums_g[j]!) / ((n - 1) * std * std);
    out[j] = Number.isNaN(v) ? 0 : v;
  }
  return out;
}

/** scanpy's `adata.var` columns of the result, gene by gene, and the order the flavor ranks them in. */
export interface HvgTable {
  readonly highly_variable: Uint8Array;
  /** Median over the batches of the gene's rank where it is among the top n; NaN where it never is. */
  readonly highly_variable_rank: Float64Array;
  /** Batches in which the gene ranks among the top n. */
  readonly highly_variable_nbatches: Int32Array;
  /** The normalized variance, averaged over the batches that take part. */
  readonly variances_norm: Float64Array;
  /** Gene indices in the flavor's order (the selected genes first). */
  readonly order: Int32Array;
}

/**
 * Ranks and selects genes from the normalized variances of the batches that take part (one
 * Float64Array per batch). Within a batch, rank 0 is the largest normalized variance; equal values
 * rank by gene position (numpy's argsort, which scanpy uses, breaks such ties in an unspecified
 * order). seurat_v3 orders genes by median rank, then by more batches; seurat_v3_paper by more
 * batches, then by median rank; genes without a rank come last, ties keep gene order (pandas'
 * stable sort). The first n_top_genes genes in that order with at least n_batch_minimum batches
 * are selected.
 */
export function selectGenes(
  normalized_bg: readonly Float64Array[],
  nTopGenes: number,
  flavor: HvgFlavor,
  nBatchMinimum: number,
): HvgTable {
  if (normalized_bg.length === 0) {
    throw new ArgumentError("HVGSeuratV3: no batch has enough cells to rank genes (batch_n_cell_minimum)");
  }
  const g = normalized_bg[0]!.length;
  const ranks_bg = normalized_bg.map((norm) => {
    const order = Int32Array.from({ length: g }, (_, j) => j).sort((a, b) => norm[b]! - norm[a]! || a - b);
    const rank = new Int32Array(g);
    for (let r = 0; r < g; r++) rank[order[r]!] = r;
    return rank;
  });
  const nbatches = new Int32Array(g);
  const medianRank = new Float64Array(g);
  const variancesNorm = new Float64Array(g);
  const top: number[] = [];
  for (let j = 0; j < g; j++) {
    top.length = 0;
    let sum = 0;
    for (let b = 0; b < ranks_bg.length; b++) {
      const r = ranks_bg[b]![j]!;
      if (r < nTopGenes) top.push(r);
      sum += normalized_bg[b]![j]!;
    }
    nbatches[j] = top.length;
    medianRank[j] = median(top);
    variancesNorm[j] = sum / ranks_bg.length;
  }
  const rankKey = (j: number) => (Number.isNaN(medianRank[j]!) ? Number.POSITIVE_INFINITY : medianRank[j]!);
  const order = Int32Array.from({ length: g }, (_, j) => j).sort((a, b) => {
    const byRank = rankKey(a) - rankKey(b) || 0;
    const byBatches = nbatches[b]! - nbatches[a]!;
    const first = flavor === "seurat_v3" ? byRank : byBatches;
    const second = flavor === "seurat_v3" ? byBatches : byRank;
    return first || second || a - b;
  });
  const selected = new Uint8Array(g);
  let chosen = 0;
  for (let i = 0; i < g && chosen < nTopGenes; i++) {
    const j = order[i]!;
    if (nbatches[j]! >= nBatchMinimum) {
      selected[j] = 1;
      chosen++;
    }
  }
  return {
    highly_variable: selected,
    highly_variable_rank: medianRank,
    highly_variable_nbatches: nbatches,
    variances_norm: variancesNorm,
    order,
  };
}

/** The median of small integers as numpy's masked median gives it (mean of the middle two); NaN when empty. */
function median(values: number[]): number {
  if (values.length === 0) return Number.NaN;
  values.sort((a, b) => a - b);
  const mid = values.length >> 1;
  return values.length % 2 === 1 ? values[mid]! : (values[mid - 1]! + values[mid]!) / 2;
}
