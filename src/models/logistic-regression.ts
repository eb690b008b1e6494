// LogisticRegression (seed API): multinomial logistic regression fit by MAP with a Laplace prior on
// the weights. Upstream writes it as a Pyro model with a Delta guide and takes Trace_ELBO's loss,
// which for that pair is exactly
//   loss = -sum_{g,c} log Laplace(W_gc | 0, W_prior_scale) - (n_obs / n) sum_n log softmax(x_n W + b)[y_n]:
// the prior is summed over every weight once per step (not averaged, not scaled), and the likelihood
// of the batch is scaled up to the whole data set by the subsampled plate (size n_obs).

import type { Batch } from "../data/batch.js";
import type { Matrix } from "../data/matrix.js";
import { ArgumentError, SchemaMismatchError } from "../errors.js";
import type { JsonValue } from "../json.js";
import { Module, type Parameter } from "../nn/module.js";
import { full, randn, zeros } from "../tensor/ops/creation.js";
import { laplaceLogProb } from "../tensor/ops/distributions.js";
import { add, mul, sub } from "../tensor/ops/elementwise.js";
import { crossEntropy } from "../tensor/ops/loss.js";
import { sum } from "../tensor/ops/reduce.js";
import { Generator } from "../tensor/random.js";
import { Tensor } from "../tensor/tensor.js";
import { checkVarNames } from "./check-var-names.js";
import { matrixTimes } from "./design-matrix.js";
import {
  type CellariumModel,
  lookupAttribute,
  type ModelAttribute,
  type ModelOutput,
  type PredictOutput,
} from "./model.js";

export interface LogisticRegressionOptions {
  /** Cells in the training set: scales a batch's likelihood to the whole data set. */
  readonly n_obs: number;
  readonly var_names_g: readonly string[];
  /** The label of each class code (get_categories of the obs column). */
  readonly y_categories: readonly string[];
  /** Scale of the Laplace prior on W_gc (default 1). */
  readonly W_prior_scale?: number;
  /** Standard deviation of W_gc's initial draws (default 1). */
  readonly W_init_scale?: number;
  readonly seed?: number;
  /** Whether the trainer logs a histogram of W_gc at its log steps (default true). */
  readonly log_metrics?: boolean;
}

/** logits_nc = x_ng W_gc + b_c (x_ng sparse or dense). */
export function logisticLogits(x_ng: Matrix, W_gc: Tensor, b_c: Tensor): Tensor {
  return add(matrixTimes(x_ng, W_gc), b_c);
}

/**
 * The MAP loss above for one batch with class codes y_n in [0, c). Differentiable in W_gc and b_c;
 * float64 parameters give a float64 loss (the gradient checks).
 */
export function logisticRegressionLoss(
  x_ng: Matrix,
  y_n: Int32Array,
  W_gc: Tensor,
  b_c: Tensor,
  W_prior_scale: number,
  n_obs: number,
): Tensor {
  const logits_nc = logisticLogits(x_ng, W_gc, b_c);
  const negLogLikelihood = crossEntropy(logits_nc, new Tensor(y_n, [y_n.length]), { reduction: "sum" });
  const logPrior = sum(laplaceLogProb(W_gc, 0, W_prior_scale));
  return sub(mul(negLogLikelihood, n_obs / x_ng.nRows), logPrior);
}

/**
 * Multinomial logistic regression of a per-cell label on the genes (upstream's
 * `cellarium.ml.models.LogisticRegression`): logits_nc = x_ng W_gc + b_c with a Laplace prior on
 * W_gc, trained by MAP. The batch carries the class codes as `y_n` (a config's
 * `categories_to_codes` of an obs column); `predict` returns `y_logits_nc`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LogisticRegression, adam, argmax } from "cellarium-ts";
 *
 * const var_names_g = ["g0", "g1"];
 * // gene g0 marks class 0, gene g1 class 1
 * const data = new Float32Array([5, 0, 4, 1, 0, 5, 1, 4]);
 * const y_categories = ["B cell", "T cell"];
 * const model = new LogisticRegression({ n_obs: 4, var_names_g, y_categories, seed: 0 });
 * // the batch carries the class codes and their labels (batch_keys y_n and y_categories)
 * const y_n = new Int32Array([0, 0, 1, 1]);
 * const batch = { x_ng: { format: "dense" as const, nRows: 4, nCols: 2, data }, var_names_g, y_n, y_categories };
 * const optimizer = adam(model.parameters(), { lr: 0.1 });
 * for (let step = 0; step < 100; step++) {
 *   optimizer.zeroGrad();
 *   model.forward(batch).loss!.backward();
 *   optimizer.step();
 * }
 * const logits = model.predict(batch).y_logits_nc as Parameters<typeof argmax>[0];
 * assert.deepEqual(Array.from(argmax(logits, 1).data), [0, 0, 1, 1]);
 * ```
 */
export class LogisticRegression extends Module implements CellariumModel {
  readonly className = "LogisticRegression";
  readonly n_obs: number;
  readonly var_names_g: readonly string[];
  readonly y_categories: readonly string[];
  readonly W_init_scale: number;
  readonly seed: number;
  readonly log_metrics: boolean;
  /** The weights `[g, c]`: gene g's contribution to class c's logit. */
  readonly W_gc: Parameter;
  /** The per-class bias `[c]`. */
  readonly b_c: Parameter;
  /** A buffer, as upstream's (so checkpoints carry it). */
  readonly W_prior_scale: Tensor;

  /**
   * @param options - upstream's init arguments: `n_obs` (cells in the training set, which scales a
   *   batch's likelihood), `var_names_g`, `y_categories` (the label of each class code), the prior
   *   and initial scales `W_prior_scale` and `W_init_scale`, `seed`, and `log_metrics`.
   */
  constructor(options: LogisticRegressionOptions) {
    super();
    this.n_obs = options.n_obs;
    this.var_names_g = options.var_names_g;
    this.y_categories = options.y_categories;
    this.W_init_scale = options.W_init_scale ?? 1;
    this.seed = options.seed ?? 0;
    this.log_metrics = options.log_metrics ?? true;
    const priorScale = options.W_prior_scale ?? 1;
    if (!Number.isInteger(this.n_obs) || this.n_obs < 1)
      throw new ArgumentError(`LogisticRegression: n_obs must be a positive integer, got ${this.n_obs}`);
    if (this.y_categories.length < 2) {
      throw new ArgumentError(
        `LogisticRegression: y_categories needs at least 2 categories, got ${JSON.stringify(this.y_categories)}`,
      );
    }
    if (!(priorScale > 0))
      throw new ArgumentError(`LogisticRegression: W_prior_scale must be > 0, got ${priorScale}`);
    if (!(this.W_init_scale >= 0))
      throw new ArgumentError(`LogisticRegression: W_init_scale must be >= 0, got ${this.W_init_scale}`);
    const g = this.var_names_g.length;
    const c = this.y_categories.length;
    this.W_gc = this.registerParameter("W_gc", zeros([g, c]));
    this.b_c = this.registerParameter("b_c", zeros([c]));
    this.W_prior_scale = this.registerBuffer("W_prior_scale", full([], priorScale));
    this.resetParameters();
  }

  initArgs(): Record<string, JsonValue> {
    return {
      n_obs: this.n_obs,
      var_names_g: [...this.var_names_g],
      y_categories: [...this.y_categories],
      W_prior_scale: this.W_prior_scale.item(),
      W_init_scale: this.W_init_scale,
      seed: this.seed,
      log_metrics: this.log_metrics,
    };
  }

  /** W_gc ~ N(0, W_init_scale) from Generator(seed), b_c = 0. */
  resetParameters(): void {
    const [g, c] = this.W_gc.shape as [number, number];
    const draws = randn([g, c], new Generator(this.seed), { std: this.W_init_scale });
    this.W_gc.data.set(draws.data);
    this.b_c.data.fill(0);
  }

  forward(batch: Batch): ModelOutput {
    const y_n = this.checkBatch(batch);
    const loss = logisticRegressionLoss(
      batch.x_ng,
      y_n,
      this.W_gc,
      this.b_c,
      this.W_prior_scale.item(),
      this.n_obs,
    );
    return { loss };
  }

  /** The same loss on held-out cells (upstream's ValidateMixin logs it as val_loss). */
  validate(batch: Batch): ModelOutput {
    return this.forward(batch);
  }

  /** The class logits `y_logits_nc` `[n, c]` of the batch's cells (softmax them for probabilities). */
  predict(batch: Batch): PredictOutput {
    checkVarNames(this.className, this.var_names_g, batch.var_names_g);
    return { y_logits_nc: logisticLogits(batch.x_ng, this.W_gc, this.b_c) };
  }

  histograms(): Record<string, Tensor> {
    return this.log_metrics ? { W_gc: this.W_gc } : {};
  }

  attribute(name: string): ModelAttribute {
    return lookupAttribute(this.className, this.attributeTable(), name);
  }

  attributeNames(): readonly string[] {
    return Object.keys(this.attributeTable());
  }

  private attributeTable(): Record<string, () => ModelAttribute> {
    return {
      W_gc: () => this.W_gc,
      b_c: () => this.b_c,
      W_prior_scale: () => this.W_prior_scale.item(),
      var_names_g: () => this.var_names_g,
      y_categories: () => this.y_categories,
    };
  }

  /** Checks genes, categories and labels (upstream asserts the first two); returns the labels. */
  private checkBatch(batch: Batch): Int32Array {
    checkVarNames(this.className, this.var_names_g, batch.var_names_g);
    const categories = batch.y_categories;
    if (!Array.isArray(categories)) {
      throw new SchemaMismatchError(
        `${this.className}: the batch has no y_categories (add y_categories to data.batch_keys with convert_fn get_categories)`,
      );
    }
    const same =
      categories.length === this.y_categories.length &&
      categories.every((category, i) => category === this.y_categories[i]);
    if (!same) {
      throw new SchemaMismatchError(
        `${this.className}: the batch's y_categories ${JSON.stringify(categories)} differ from the model's ${JSON.stringify(this.y_categories)}`,
      );
    }
    const y_n = batch.y_n;
    if (!(y_n instanceof Int32Array) || y_n.length !== batch.x_ng.nRows) {
      throw new SchemaMismatchError(
        `${this.className}: y_n must hold one int32 category code per cell (convert_fn categories_to_codes), got ${y_n === undefined ? "none" : `${y_n.constructor.name} of length ${y_n.length}`} for ${batch.x_ng.nRows} cells`,
      );
    }
    const c = this.y_categories.length;
    for (let i = 0; i < y_n.length; i++) {
      const code = y_n[i]!;
      if (code < 0 || code >= c) {
        throw new SchemaMismatchError(
          `${this.className}: y_n[${i}] is ${code}, outside the ${c} categories [0, ${c})`,
        );
      }
    }
    return y_n;
  }
}
