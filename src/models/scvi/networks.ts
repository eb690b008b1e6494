// scVI's encoder and decoder (upstream cellarium/ml/models/scvi.py: LinearWithBatch,
// LinearWithCovariates, LinearWithBatchAndCovariates, FullyConnectedWithBatchArchitecture,
// EncoderSCVI, DecoderSCVI), built from the parsed layer specs, with children under upstream's
// attribute names so that the state dict is upstream's.

import { ConfigError } from "../../errors.js";
import { Module, ModuleList } from "../../nn/module.js";
import { normalLogProb } from "../../tensor/ops/distributions.js";
import { add, exp, mul, sqrt } from "../../tensor/ops/elementwise.js";
import { relu, softmax, softplus } from "../../tensor/ops/nn.js";
import { sum } from "../../tensor/ops/reduce.js";
import { concat } from "../../tensor/ops/shape.js";
import type { Generator } from "../../tensor/random.js";
import type { Tensor } from "../../tensor/tensor.js";
import {
  DEFAULT_DRESSING,
  DressedLayer,
  type Dressing,
  FullyConnectedLinear,
  type LayerInput,
  PlainLinear,
} from "../layers/vae.js";
import type { BiasSource, LayerSpec, NetworkSpec } from "./layer-specs.js";

/** The per-cell conditions a structured bias reads: the batch representation and the covariates' one-hots. */
export interface Conditions {
  readonly batch_nb: Tensor;
  /** The categorical covariates' one-hot codes side by side, [n, sum(n_cats_per_cov)]; null without covariates. */
  readonly covariates_np: Tensor | null;
}

/** The widths of the conditions: the batch representation's and each covariate's category count. */
export interface ConditionSizes {
  readonly nBatch: number;
  readonly nCatsPerCov: readonly number[];
}

function conditionWidth(source: BiasSource, sizes: ConditionSizes): number {
  const covariates = sizes.nCatsPerCov.reduce((a, b) => a + b, 0);
  return source === "batch" ? sizes.nBatch : source === "covariates" ? covariates : sizes.nBatch + covariates;
}

/**
 * x W^T + b + bias_decoder(conditions): a Linear whose bias also depends on the cell's batch
 * and/or categorical covariates through a small fully connected network (one linear map when
 * label_to_bias_hidden_layers is empty, as scvi-tools' one-hot injection).
 */
export class StructuredBiasLinear extends PlainLinear {
  readonly source: BiasSource;
  readonly bias_decoder: FullyConnectedLinear;
  private readonly where: string;

  constructor(
    inFeatures: number,
    outFeatures: number,
    spec: LayerSpec & { kind: BiasSource },
    sizes: ConditionSizes,
    generator: Generator,
    where: string,
  ) {
    super(inFeatures, outFeatures, { generator, bias: spec.bias });
    this.source = spec.kind;
    this.where = where;
    const width = conditionWidth(spec.kind, sizes);
    if (width < 1) {
      throw new ConfigError(
        `${where}: ${spec.kind === "covariates" ? "LinearWithCovariates" : "this layer"} has nothing to read its bias from (n_batch ${sizes.nBatch}, n_cats_per_cov ${JSON.stringify(sizes.nCatsPerCov)})`,
      );
    }
    this.bias_decoder = this.registerModule(
      "bias_decoder",
      new FullyConnectedLinear(width, outFeatures, spec.labelToBiasHiddenLayers, {
        dressing: { ...DEFAULT_DRESSING, ...spec.labelToBiasDressing },
        generator,
        where: `${where}.init_args.label_to_bias_dressing_init_kwargs`,
      }),
    );
  }

  override forward(x: LayerInput, conditions: Conditions): Tensor {
    return add(super.forward(x), this.bias_decoder.forward(this.conditionInput(conditions)));
  }

  private conditionInput(conditions: Conditions): Tensor {
    if (this.source === "batch") return conditions.batch_nb;
    if (conditions.covariates_np === null) {
      throw new ConfigError(
        `${this.where}: the layer reads categorical covariates, but the batch has no categorical_covariate_index_nd`,
      );
    }
    return this.source === "covariates"
      ? conditions.covariates_np
      : concat([conditions.batch_nb, conditions.covariates_np], 1);
  }
}

function buildLayer(
  spec: LayerSpec,
  inFeatures: number,
  outFeatures: number,
  sizes: ConditionSizes,
  generator: Generator,
  where: string,
): PlainLinear {
  return spec.kind === "linear"
    ? new PlainLinear(inFeatures, outFeatures, { generator, bias: spec.bias })
    : new StructuredBiasLinear(
        inFeatures,
        outFeatures,
        spec as LayerSpec & { kind: BiasSource },
        sizes,
        generator,
        where,
      );
}

/** upstream's FullyConnectedWithBatchArchitecture: dressed layers, or the identity when there are none. */
export class FullyConnectedWithBatch extends Module {
  readonly outFeatures: number;
  readonly module_list: ModuleList<Module>;
  private readonly layers: DressedLayer<LayerInput, Conditions>[];

  constructor(
    inFeatures: number,
    specs: readonly LayerSpec[],
    defaults: Dressing,
    sizes: ConditionSizes,
    generator: Generator,
    where: string,
  ) {
    super();
    let width = inFeatures;
    this.layers = specs.map((spec, i) => {
      const layer = buildLayer(spec, width, spec.outFeatures!, sizes, generator, `${where}[${i}]`);
      width = spec.outFeatures!;
      return new DressedLayer<LayerInput, Conditions>(
        layer,
        { ...defaults, ...spec.dressing },
        generator,
        `${where}[${i}].dressing_init_args`,
      );
    });
    // upstream holds a torch.nn.Identity (no state) when there are no hidden layers
    this.module_list = this.registerModule("module_list", new ModuleList<Module>(this.layers));
    this.outFeatures = width;
  }

  forward(x: LayerInput, conditions: Conditions): LayerInput {
    let y = x;
    for (const layer of this.layers) y = layer.forward(y, conditions);
    return y;
  }
}

/** The encoder's posterior q(z | x) = N(mean, scale^2). */
export interface LatentPosterior {
  readonly mean_nk: Tensor;
  readonly scale_nk: Tensor;
}

/** log q(z | x) summed over the latent axis, [n]. */
export function posteriorLogProb(posterior: LatentPosterior, z_nk: Tensor): Tensor {
  return sum(normalLogProb(z_nk, posterior.mean_nk, posterior.scale_nk), -1);
}

/** upstream's EncoderSCVI: the variance is exp(var_encoder(h)) + 1e-4. */
export class EncoderSCVI extends Module {
  readonly fully_connected: FullyConnectedWithBatch;
  readonly mean_encoder: PlainLinear;
  readonly var_encoder: PlainLinear;
  private readonly varEps = 1e-4;

  constructor(
    inFeatures: number,
    outFeatures: number,
    spec: NetworkSpec,
    defaults: Dressing,
    sizes: ConditionSizes,
    generator: Generator,
  ) {
    super();
    this.fully_connected = this.registerModule(
      "fully_connected",
      new FullyConnectedWithBatch(
        inFeatures,
        spec.hiddenLayers,
        defaults,
        sizes,
        generator,
        "encoder.hidden_layers",
      ),
    );
    const width = this.fully_connected.outFeatures;
    const build = () =>
      buildLayer(spec.finalLayer, width, outFeatures, sizes, generator, "encoder.final_layer");
    this.mean_encoder = this.registerModule("mean_encoder", build());
    this.var_encoder = this.registerModule("var_encoder", build());
  }

  forward(x: LayerInput, conditions: Conditions): LatentPosterior {
    const h = this.fully_connected.forward(x, conditions);
    const variance = add(exp(this.var_encoder.forward(h, conditions)), this.varEps);
    return { mean_nk: this.mean_encoder.forward(h, conditions), scale_nk: sqrt(variance) };
  }
}

export type Dispersion = "gene" | "gene-batch" | "gene-cell";
export type GeneLikelihood = "nb" | "zinb" | "poisson";

/** What the decoder gives the likelihood: the scaled mean's parts and, for nb / zinb, their parameters. */
export interface CountParameters {
  /** The normalized-count decoder's output, before the scale activation. */
  readonly logits_ng: Tensor;
  readonly scaleActivation: "softmax" | "softplus";
  /** log library size, [n, 1]. */
  readonly library_n1: Tensor;
  /** The final additive bias before its ReLU, [n, g], or null. */
  readonly additive_ng: Tensor | null;
  /** The inverse overdispersion (theta): [g] or [n, g]; null for poisson. */
  readonly theta: Tensor | null;
  /** zinb: the logits of the zero-inflation probability, [n, g]. */
  readonly dropoutLogits_ng: Tensor | null;
}

/** The decoder's mean counts: exp(library) * scale_activation(logits) + relu(the additive bias). */
export function scaledMean(parameters: CountParameters): Tensor {
  const { logits_ng, scaleActivation, library_n1, additive_ng } = parameters;
  const chi_ng = scaleActivation === "softmax" ? softmax(logits_ng, -1) : softplus(logits_ng);
  const mean_ng = mul(exp(library_n1), chi_ng);
  return additive_ng ? add(mean_ng, relu(additive_ng)) : mean_ng;
}

export interface DecoderOptions {
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly spec: NetworkSpec;
  readonly defaults: Dressing;
  readonly sizes: ConditionSizes;
  readonly dispersion: Dispersion;
  readonly geneLikelihood: GeneLikelihood;
  /** softmax (the default) or softplus (upstream's choice with use_size_factor_key). */
  readonly scaleActivation: "softmax" | "softplus";
  readonly generator: Generator;
}

/** upstream's DecoderSCVI. */
export class DecoderSCVI extends Module {
  readonly fully_connected: FullyConnectedWithBatch;
  readonly inverse_overdispersion_decoder: PlainLinear | null;
  readonly dropout_decoder: PlainLinear | null;
  readonly normalized_count_decoder: PlainLinear;
  readonly final_additive_bias_layer: ModuleList<FullyConnectedLinear> | null;
  private readonly scaleActivation: "softmax" | "softplus";

  constructor(options: DecoderOptions) {
    super();
    const { spec, sizes, generator, outFeatures } = options;
    this.fully_connected = this.registerModule(
      "fully_connected",
      new FullyConnectedWithBatch(
        options.inFeatures,
        spec.hiddenLayers,
        options.defaults,
        sizes,
        generator,
        "decoder.hidden_layers",
      ),
    );
    const width = this.fully_connected.outFeatures;
    this.inverse_overdispersion_decoder =
      options.geneLikelihood !== "poisson" && options.dispersion === "gene-cell"
        ? this.registerModule(
            "inverse_overdispersion_decoder",
            new PlainLinear(width, outFeatures, { generator }),
          )
        : null;
    this.dropout_decoder =
      options.geneLikelihood === "zinb"
        ? this.registerModule("dropout_decoder", new PlainLinear(width, outFeatures, { generator }))
        : null;
    this.normalized_count_decoder = this.registerModule(
      "normalized_count_decoder",
      buildLayer(spec.finalLayer, width, outFeatures, sizes, generator, "decoder.final_layer"),
    );
    this.scaleActivation = options.scaleActivation;
    // upstream's Sequential(FullyConnectedLinear(n_batch + covariates -> genes, no hidden layer), ReLU):
    // index 0 holds the linear map, the ReLU has no state
    this.final_additive_bias_layer = spec.finalAdditiveBias
      ? this.registerModule(
          "final_additive_bias_layer",
          new ModuleList([
            new FullyConnectedLinear(
              sizes.nBatch + sizes.nCatsPerCov.reduce((a, b) => a + b, 0),
              outFeatures,
              [],
              { dressing: DEFAULT_DRESSING, generator, where: "decoder.final_additive_bias" },
            ),
          ]),
        )
      : null;
  }

  /** Whether any layer reads the categorical covariates (upstream's _decoder_uses_categorical_covariates). */
  readsCovariates(nCatsPerCov: readonly number[]): boolean {
    const structured = this.namedModules().some(
      ([, m]) => m instanceof StructuredBiasLinear && m.source !== "batch",
    );
    return (
      structured || (this.final_additive_bias_layer !== null && nCatsPerCov.reduce((a, b) => a + b, 0) > 0)
    );
  }

  /**
   * The count distribution's parameters for latent z [n, k]; `theta` is the gene (or gene-batch)
   * inverse overdispersion, or null where the decoder computes it per cell.
   */
  forward(z_nk: Tensor, conditions: Conditions, theta: Tensor | null, library_n1: Tensor): CountParameters {
    const h = this.fully_connected.forward(z_nk, conditions) as Tensor;
    let additive_ng: Tensor | null = null;
    if (this.final_additive_bias_layer !== null) {
      const input =
        conditions.covariates_np === null
          ? conditions.batch_nb
          : concat([conditions.batch_nb, conditions.covariates_np], 1);
      // its ReLU is applied where the mean is formed (scaledMean, or fused in the likelihood)
      additive_ng = this.final_additive_bias_layer.items[0]!.forward(input);
    }
    const cellTheta = this.inverse_overdispersion_decoder
      ? exp(this.inverse_overdispersion_decoder.forward(h))
      : null;
    return {
      logits_ng: this.normalized_count_decoder.forward(h, conditions),
      scaleActivation: this.scaleActivation,
      library_n1,
      additive_ng,
      theta: theta ?? cellTheta,
      dropoutLogits_ng: this.dropout_decoder ? this.dropout_decoder.forward(h) : null,
    };
  }
}
