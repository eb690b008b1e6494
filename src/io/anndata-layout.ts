// Where a model's predictions go in an .h5ad, under the names scanpy and single-cell viewers look
// for (SPEC.md section 1, step 6): PCA coordinates as obsm["X_pca"] with varm["PCs"] and
// uns["pca"] as sc.pp.pca writes them, Geneformer embeddings as obsm["X_geneformer"], a
// classifier's logits as predicted labels in obs. cellxgene shows only obsm embeddings named X_*.

import type { DenseMatrix } from "../data/matrix.js";
import type { UnsInputDict } from "../formats/h5ad/write-elements.js";
import type { CellariumModel } from "../models/model.js";
import type { Tensor } from "../tensor/tensor.js";

/** Class predictions from logits: obs `<name>_pred`, `<name>_pred_probability`, obsm `<name>_probabilities`. */
export interface LabelLayout {
  /** The label's obs key (batch_keys.y_n.key), else "label". */
  readonly name: string;
  /** The class names, in the logits' column order (LogisticRegression's y_categories). */
  readonly categories: readonly string[];
}

export interface AnnDataLayout {
  /** obsm key of the written prediction; with `labels`, the logits become labels instead. */
  readonly obsmKey: string;
  readonly labels?: LabelLayout;
  /** var_names of the file, the model's genes, when varm has per-gene matrices. */
  readonly varNames?: readonly string[];
  /** Per-gene matrices, genes x (the prediction's columns), e.g. PCs. */
  readonly varm?: Readonly<Record<string, DenseMatrix>>;
  readonly uns?: UnsInputDict;
}

export interface LayoutOptions {
  /** The predict output written (PredictionWriter's key). */
  readonly key: string;
  /** obsm key chosen in the config (PredictionWriter's obsm_key); default by model. */
  readonly obsmKey?: string | null;
  /** The obs key of the labels a classifier was trained on (batch_keys.y_n.key). */
  readonly labelKey?: string | null;
  /** Columns written (prediction_size), which also cuts PCs and the variances. */
  readonly width?: number | null;
}

/** The layout of `model`'s output `key`; models and keys without a convention go to obsm[key]. */
export function anndataLayout(model: CellariumModel, options: LayoutOptions): AnnDataLayout {
  const { key } = options;
  const chosen = options.obsmKey ?? null;
  const name = model.className;
  if (name === "LogisticRegression" && key === "y_logits_nc") {
    const categories = model.attribute!("y_categories") as readonly string[];
    return {
      obsmKey: `${options.labelKey ?? "label"}_probabilities`,
      labels: { name: options.labelKey ?? "label", categories },
    };
  }
  if (name === "IncrementalPCA" && key === "x_ng")
    return { obsmKey: chosen ?? "X_pca", ...pcaExtras(model, options.width ?? null) };
  // ProbabilisticPCA's z_nk is the posterior mean in W's basis, not a projection on orthonormal
  // axes: no PCs or variances correspond to its columns.
  if (name === "ProbabilisticPCA" && key === "z_nk") return { obsmKey: chosen ?? "X_pca" };
  if (name === "Geneformer" && key === "cell_embedding_nh") return { obsmKey: chosen ?? "X_geneformer" };
  // scVI's predict writes the latent means under x_ng (upstream's name), or reconstructed counts
  // of reconstruction_var_names_g (not an embedding: no X_ prefix, which cellxgene would plot)
  if (name === "SingleCellVariationalInference" && key === "x_ng") {
    const reconstructs = model.attribute!("reconstruct_counts_on_predict") === 1;
    return { obsmKey: chosen ?? (reconstructs ? "scvi_reconstructed" : "X_scvi") };
  }
  return { obsmKey: chosen ?? key };
}

/**
 * IncrementalPCA's components and variances as scanpy stores them: varm["PCs"] genes x k,
 * uns["pca"]["variance"] with n - 1 degrees of freedom (sklearn's explained_variance_; the model's
 * explained_variance_k divides by n), and variance_ratio where the model knows the total variance
 * (its exact scatter matrix; the low-rank state does not, and the ratio is then left out).
 */
function pcaExtras(model: CellariumModel, width: number | null): Omit<AnnDataLayout, "obsmKey"> {
  const V_kg = model.attribute!("components_kg") as Tensor;
  const varNames = model.attribute!("var_names_g") as readonly string[];
  const [k0, g] = V_kg.shape as [number, number];
  const k = width === null ? k0 : Math.min(width, k0);
  const PCs = new Float32Array(g * k);
  for (let j = 0; j < k; j++) for (let c = 0; c < g; c++) PCs[c * k + j] = V_kg.data[j * g + c]!;
  const n = model.attribute!("x_size") as number;
  const explained = (model.attribute!("explained_variance_k") as Tensor).data.subarray(0, k);
  const variance = Float64Array.from(explained, (v) => (v * n) / Math.max(1, n - 1));
  const total = model.attributeNames!().includes("total_variance")
    ? (model.attribute!("total_variance") as number)
    : null;
  const pca: UnsInputDict = { variance };
  if (total !== null && total > 0) pca.variance_ratio = Float64Array.from(explained, (v) => v / total);
  return { varNames, varm: { PCs: { format: "dense", nRows: g, nCols: k, data: PCs } }, uns: { pca } };
}

/** Softmax of each row of n x c logits (float64 inside), its argmax and the max probability. */
export function classProbabilities(logits: DenseMatrix): {
  probabilities: DenseMatrix;
  codes: Int32Array;
  best: Float32Array;
} {
  const { nRows: n, nCols: c, data } = logits;
  const out = new Float32Array(n * c);
  const codes = new Int32Array(n);
  const best = new Float32Array(n);
  const row = new Float64Array(c);
  for (let i = 0; i < n; i++) {
    let max = -Infinity;
    let arg = 0;
    for (let j = 0; j < c; j++) {
      const v = data[i * c + j]!;
      if (v > max) {
        max = v;
        arg = j;
      }
    }
    let sum = 0;
    for (let j = 0; j < c; j++) sum += row[j] = Math.exp(data[i * c + j]! - max);
    for (let j = 0; j < c; j++) out[i * c + j] = row[j]! / sum;
    codes[i] = arg;
    best[i] = 1 / sum;
  }
  return { probabilities: { format: "dense", nRows: n, nCols: c, data: out }, codes, best };
}
