// ProbabilisticPCA (seed API), both of upstream's flavors, with the loss scaled from the batch to
// the whole data set (upstream's subsampled plate of size n_obs).
//
// marginalized (Tipping & Bishop): -log N(x_n | mean_g, W^T W + sigma^2 I) per cell. With
// M = W W^T + sigma^2 I (k x k), the Woodbury identity and the matrix determinant lemma give
//   (W^T W + sigma^2 I)^{-1} = (I - W^T M^{-1} W) / sigma^2,
//   log det(W^T W + sigma^2 I) = (g - k) log sigma^2 + log det M,
// so with r_n = x_n - mean_g and u_n = W r_n (k values) the per-cell quadratic form is
// (|r_n|^2 - u_n^T M^{-1} u_n) / sigma^2: nothing g x g is ever formed.
//
// linear_vae (Lucas et al.): model z ~ N(0, I), x ~ N(mean_g + z W, sigma); guide
// z ~ N(mu_n, D_k) with mu_n = r_n V_gk, V_gk = (M^{-1} W)^T, D_k = sigma / sqrt(diag M); the loss is
// -(log p(x, z) - log q(z)) at one reparameterized draw z = mu + D eps, as Pyro's Trace_ELBO.
// mu_n = M^{-1} u_n (M is symmetric) and |r_n - z_n W|^2 = |r_n|^2 - 2 z_n . u_n + z_n^T (W W^T) z_n.
//
// Both flavors thus see x only through U = X W^T - 1 (W mean)^T, the column sums of X and its sum of
// squares: a sparse batch is never densified (sum_n |r_n|^2 = sum x^2 - 2 mean . colsum + n |mean|^2).

import type { Batch } from "../data/batch.js";
import type { Matrix } from "../data/matrix.js";
import { ArgumentError } from "../errors.js";
import type { JsonValue } from "../json.js";
import { Module, type Parameter } from "../nn/module.js";
import { svd, svdvals } from "../tensor/linalg/svd.js";
import { eye, randn, tensor, zeros } from "../tensor/ops/creation.js";
import { add, div, exp, log, mul, sqrt, square, sub } from "../tensor/ops/elementwise.js";
import { matmul } from "../tensor/ops/matmul.js";
import { sum } from "../tensor/ops/reduce.js";
import { reshape, transpose } from "../tensor/ops/shape.js";
import { logdetSpd, solve } from "../tensor/ops/solve-logdet.js";
import { Generator, type GeneratorState } from "../tensor/random.js";
import { noGrad, Tensor } from "../tensor/tensor.js";
import { checkVarNames } from "./check-var-names.js";
import { columnMoments, matrixTimes } from "./design-matrix.js";
import {
  type CellariumModel,
  lookupAttribute,
  type ModelAttribute,
  type ModelOutput,
  type PredictOutput,
} from "./model.js";

export type PpcaFlavor = "marginalized" | "linear_vae";

const LOG_2PI = Math.log(2 * Math.PI);

export interface ProbabilisticPCAOptions {
  /** Cells in the training set: scales a batch's loss to the whole data set. */
  readonly n_obs: number;
  readonly var_names_g: readonly string[];
  readonly n_components: number;
  readonly ppca_flavor: PpcaFlavor;
  /** A fixed per-gene mean; absent: mean_g is a parameter learnt from 0. */
  readonly mean_g?: Float32Array | null;
  /** Standard deviation of W_kg's initial draws (default 1). */
  readonly W_init_scale?: number;
  /** Initial sigma (default 1). */
  readonly sigma_init_scale?: number;
  readonly seed?: number;
}

/** The tensors both losses start from, for a batch x_ng [n, g]. */
interface Centered {
  /** U_nk = (x_n - mean_g) W^T. */
  readonly U_nk: Tensor;
  /** sum_n |x_n - mean_g|^2 (a scalar tensor). */
  readonly sumSquares: Tensor;
  readonly sigma2: Tensor;
  /** W W^T (k x k). */
  readonly WWt_kk: Tensor;
  /** M = W W^T + sigma^2 I. */
  readonly M_kk: Tensor;
}

function centered(x_ng: Matrix, W_kg: Tensor, logSigma: Tensor, mean_g: Tensor): Centered {
  const n = x_ng.nRows;
  const k = W_kg.shape[0]!;
  const dtype = W_kg.dtype as "float32" | "float64";
  const moments = columnMoments(x_ng);
  const colsum_g = tensor(moments.sum_g, { dtype });
  const U_nk = sub(matrixTimes(x_ng, transpose(W_kg)), reshape(matmul(W_kg, mean_g), [1, k]));
  const sumSquares = add(
    sub(moments.sumSquares, mul(sum(mul(colsum_g, mean_g)), 2)),
    mul(sum(square(mean_g)), n),
  );
  const sigma2 = exp(mul(logSigma, 2));
  const WWt_kk = matmul(W_kg, transpose(W_kg));
  const M_kk = add(WWt_kk, mul(eye(k, k, { dtype }), sigma2));
  return { U_nk, sumSquares, sigma2, WWt_kk, M_kk };
}

/** -(n_obs / n) sum_n log N(x_n | mean_g, W^T W + sigma^2 I), sigma = exp(logSigma). */
export function marginalizedLoss(
  x_ng: Matrix,
  W_kg: Tensor,
  logSigma: Tensor,
  mean_g: Tensor,
  n_obs: number,
): Tensor {
  const [n, g, k] = [x_ng.nRows, x_ng.nCols, W_kg.shape[0]!];
  const { U_nk, sumSquares, sigma2, M_kk } = centered(x_ng, W_kg, logSigma, mean_g);
  const projected = sum(mul(transpose(U_nk), solve(M_kk, transpose(U_nk))));
  const quadratic = div(sub(sumSquares, projected), sigma2);
  const logdet = add(mul(log(sigma2), g - k), logdetSpd(M_kk));
  const negLogLikelihood = mul(add(add(mul(logdet, n), quadratic), n * g * LOG_2PI), 0.5);
  return mul(negLogLikelihood, n_obs / n);
}

/** The negative ELBO at z = mu + D eps_nk (eps_nk standard normal draws), scaled by n_obs / n. */
export function linearVaeLoss(
  x_ng: Matrix,
  W_kg: Tensor,
  logSigma: Tensor,
  mean_g: Tensor,
  n_obs: number,
  eps_nk: Tensor,
): Tensor {
  const [n, g, k] = [x_ng.nRows, x_ng.nCols, W_kg.shape[0]!];
  const { U_nk, sumSquares, sigma2, WWt_kk, M_kk } = centered(x_ng, W_kg, logSigma, mean_g);
  const mu_nk = transpose(solve(M_kk, transpose(U_nk)));
  const diag_k = sum(mul(M_kk, eye(k, k, { dtype: M_kk.dtype as "float32" | "float64" })), 1);
  const D_k = div(exp(logSigma), sqrt(diag_k));
  const z_nk = add(mu_nk, mul(eps_nk, D_k));
  const residual = add(sub(sumSquares, mul(sum(mul(z_nk, U_nk)), 2)), sum(mul(matmul(z_nk, WWt_kk), z_nk)));
  const logLikelihood = sub(
    sub(mul(div(residual, sigma2), -0.5), mul(logSigma, n * g)),
    (n * g * LOG_2PI) / 2,
  );
  const logPrior = sub(mul(sum(square(z_nk)), -0.5), (n * k * LOG_2PI) / 2);
  // log q(z) at z = mu + D eps: (z - mu) / D is eps exactly, so only -log D depends on the parameters.
  const logGuide = sub(sub(mul(sum(square(eps_nk)), -0.5), mul(sum(log(D_k)), n)), (n * k * LOG_2PI) / 2);
  return mul(sub(add(logLikelihood, logPrior), logGuide), -n_obs / n);
}

/**
 * Probabilistic PCA trained by gradient descent (upstream's `cellarium.ml.models.ProbabilisticPCA`;
 * Tipping and Bishop): x_n ~ N(mean_g + W^T z_n, sigma^2 I). `ppca_flavor` "marginalized" minimises
 * the exact negative log likelihood, "linear_vae" the ELBO of a linear VAE with one draw per cell.
 * `forward` returns the loss scaled to the whole data set (`n_obs` cells); `predict` gives the
 * latent means `z_nk`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ProbabilisticPCA, adam } from "cellarium-ts";
 *
 * const var_names_g = ["g0", "g1", "g2"];
 * const model = new ProbabilisticPCA({ n_obs: 4, var_names_g, n_components: 1, ppca_flavor: "marginalized", seed: 0 });
 * const data = new Float32Array([1, 2, 0, 2, 4, 1, 3, 6, 0, 4, 8, 1]);
 * const batch = { x_ng: { format: "dense" as const, nRows: 4, nCols: 3, data }, var_names_g };
 * const optimizer = adam(model.parameters(), { lr: 0.05 });
 * const first = model.forward(batch).loss!.item();
 * for (let step = 0; step < 50; step++) {
 *   optimizer.zeroGrad();
 *   model.forward(batch).loss!.backward();
 *   optimizer.step();
 * }
 * assert.ok(model.forward(batch).loss!.item() < first);
 * assert.deepEqual((model.predict(batch).z_nk as { shape: number[] }).shape, [4, 1]);
 * ```
 */
export class ProbabilisticPCA extends Module implements CellariumModel {
  readonly className = "ProbabilisticPCA";
  readonly n_obs: number;
  readonly var_names_g: readonly string[];
  readonly n_components: number;
  readonly ppca_flavor: PpcaFlavor;
  readonly W_init_scale: number;
  readonly sigma_init_scale: number;
  readonly seed: number;
  /** The loadings `[k, g]` (upstream's W_kg). */
  readonly W_kg: Parameter;
  /** log sigma: upstream's PyroParam with a positive constraint stores exactly this. */
  readonly sigma_unconstrained: Parameter;
  /** A parameter, or a buffer when the mean was given. */
  readonly mean_g: Tensor;
  private readonly fixedMean: Float32Array | null;
  private generator: Generator;

  /**
   * @param options - upstream's init arguments: `n_obs` (cells in the training set), `var_names_g`,
   *   `n_components`, `ppca_flavor` ("marginalized" or "linear_vae"), an optional fixed `mean_g`, and
   *   the initial scales `W_init_scale` and `sigma_init_scale`; `seed` seeds the initial W and the
   *   linear VAE's draws.
   */
  constructor(options: ProbabilisticPCAOptions) {
    super();
    this.n_obs = options.n_obs;
    this.var_names_g = options.var_names_g;
    this.n_components = options.n_components;
    this.ppca_flavor = options.ppca_flavor;
    this.W_init_scale = options.W_init_scale ?? 1;
    this.sigma_init_scale = options.sigma_init_scale ?? 1;
    this.seed = options.seed ?? 0;
    this.fixedMean = options.mean_g ?? null;
    const g = this.var_names_g.length;
    const k = this.n_components;
    if (!Number.isInteger(this.n_obs) || this.n_obs < 1)
      throw new ArgumentError(`ProbabilisticPCA: n_obs must be a positive integer, got ${this.n_obs}`);
    if (!Number.isInteger(k) || k < 1 || k > g) {
      throw new ArgumentError(`ProbabilisticPCA: n_components must be an integer in [1, ${g}], got ${k}`);
    }
    if (this.ppca_flavor !== "marginalized" && this.ppca_flavor !== "linear_vae") {
      throw new ArgumentError(
        `ProbabilisticPCA: ppca_flavor must be marginalized or linear_vae, got "${this.ppca_flavor}"`,
      );
    }
    if (!(this.sigma_init_scale > 0)) {
      throw new ArgumentError(`ProbabilisticPCA: sigma_init_scale must be > 0, got ${this.sigma_init_scale}`);
    }
    if (this.fixedMean && this.fixedMean.length !== g) {
      throw new ArgumentError(
        `ProbabilisticPCA: mean_g has ${this.fixedMean.length} values for ${g} genes (var_names_g)`,
      );
    }
    this.W_kg = this.registerParameter("W_kg", zeros([k, g]));
    this.sigma_unconstrained = this.registerParameter("sigma_unconstrained", zeros([]));
    this.mean_g = this.fixedMean
      ? this.registerBuffer("mean_g", tensor(this.fixedMean))
      : this.registerParameter("mean_g", zeros([g]));
    this.generator = new Generator(this.seed);
    this.resetParameters();
  }

  initArgs(): Record<string, JsonValue> {
    return {
      n_obs: this.n_obs,
      var_names_g: [...this.var_names_g],
      n_components: this.n_components,
      ppca_flavor: this.ppca_flavor,
      mean_g: this.fixedMean ? [...this.fixedMean] : null,
      W_init_scale: this.W_init_scale,
      sigma_init_scale: this.sigma_init_scale,
      seed: this.seed,
    };
  }

  /**
   * W_kg ~ N(0, W_init_scale) from Generator(seed), sigma = sigma_init_scale, a learnt mean 0. The
   * same generator then draws the linear_vae noise, so a run is reproducible from the seed.
   */
  resetParameters(): void {
    this.generator = new Generator(this.seed);
    const draws = randn(this.W_kg.shape, this.generator, { std: this.W_init_scale });
    this.W_kg.data.set(draws.data);
    this.sigma_unconstrained.data[0] = Math.log(this.sigma_init_scale);
    if (!this.fixedMean) this.mean_g.data.fill(0);
  }

  forward(batch: Batch): ModelOutput {
    checkVarNames(this.className, this.var_names_g, batch.var_names_g);
    const x_ng = batch.x_ng;
    if (this.ppca_flavor === "marginalized") {
      return { loss: marginalizedLoss(x_ng, this.W_kg, this.sigma_unconstrained, this.mean_g, this.n_obs) };
    }
    const eps_nk = randn([x_ng.nRows, this.n_components], this.generator);
    return {
      loss: linearVaeLoss(x_ng, this.W_kg, this.sigma_unconstrained, this.mean_g, this.n_obs, eps_nk),
    };
  }

  /** z_nk = (x_n - mean_g) V_gk, the guide's mean. */
  predict(batch: Batch): PredictOutput {
    checkVarNames(this.className, this.var_names_g, batch.var_names_g);
    return noGrad(() => {
      const { U_nk, M_kk } = centered(batch.x_ng, this.W_kg, this.sigma_unconstrained, this.mean_g);
      return { z_nk: transpose(solve(M_kk, transpose(U_nk))) };
    });
  }

  randomState(): JsonValue {
    return this.generator.getState() as unknown as JsonValue;
  }

  setRandomState(state: JsonValue): void {
    this.generator = Generator.fromState(state as unknown as GeneratorState);
  }

  /** The isotropic noise standard deviation, exp of the learnt `sigma_unconstrained`. */
  get sigma(): number {
    return Math.exp(this.sigma_unconstrained.data[0]!);
  }

  /** The PC variances: squared singular values of W^T plus sigma^2. */
  get L_k(): Tensor {
    const s = svdvals(this.W_gkMat());
    const sigma2 = this.sigma ** 2;
    return new Tensor(
      s.map((v) => v * v + sigma2),
      [s.length],
    );
  }

  /** The principal directions: W^T's left singular vectors. */
  get U_gk(): Tensor {
    const { u } = svd(this.W_gkMat());
    return new Tensor(u.data, [u.rows, u.cols]);
  }

  /** trace(W^T W): the variance the components carry. */
  get W_variance(): number {
    let total = 0;
    for (const w of this.W_kg.data) total += w * w;
    return total;
  }

  /** n_vars sigma^2: the variance left to the isotropic noise. */
  get sigma_variance(): number {
    return this.var_names_g.length * this.sigma ** 2;
  }

  attribute(name: string): ModelAttribute {
    return lookupAttribute(this.className, this.attributeTable(), name);
  }

  attributeNames(): readonly string[] {
    return Object.keys(this.attributeTable());
  }

  private attributeTable(): Record<string, () => ModelAttribute> {
    return {
      L_k: () => this.L_k,
      U_gk: () => this.U_gk,
      W_variance: () => this.W_variance,
      sigma_variance: () => this.sigma_variance,
      W_kg: () => this.W_kg,
      sigma: () => this.sigma,
      mean_g: () => this.mean_g,
      var_names_g: () => this.var_names_g,
    };
  }

  private W_gkMat() {
    const [k, g] = this.W_kg.shape as [number, number];
    const t = transpose(noGrad(() => this.W_kg.detach()));
    return { rows: g, cols: k, data: t.data as Float32Array };
  }
}
