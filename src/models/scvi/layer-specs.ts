// The layer specifications of scVI's encoder and decoder as upstream's configs write them:
//
//   hidden_layers:
//   - class_path: cellarium.ml.models.scvi.LinearWithBatchAndCovariates
//     init_args: {out_features: 128, label_to_bias_hidden_layers: []}
//     dressing_init_args: {use_batch_norm: true, dropout_rate: 0.1}     # optional, per layer
//   final_layer: {class_path: torch.nn.Linear, init_args: {}}
//
// parsed and checked here (every unknown key or wrong type is a ConfigError naming it), so that the
// networks are built from typed specs.

import { quote } from "../../error-values.js";
import { ConfigError } from "../../errors.js";
import type { JsonValue } from "../../json.js";
import { ACTIVATION_NAMES, type Dressing } from "../layers/vae.js";

/** What a structured-bias layer adds its bias from: the batch, the categorical covariates, or both. */
export type BiasSource = "batch" | "covariates" | "batch_and_covariates";

export const LAYER_CLASSES: Readonly<Record<string, BiasSource | "linear">> = {
  "torch.nn.Linear": "linear",
  "cellarium.ml.models.scvi.LinearWithBatch": "batch",
  "cellarium.ml.models.scvi.LinearWithCovariates": "covariates",
  "cellarium.ml.models.scvi.LinearWithBatchAndCovariates": "batch_and_covariates",
};

export interface LayerSpec {
  readonly kind: BiasSource | "linear";
  /** Required of hidden layers; a final layer's comes from the network. */
  readonly outFeatures: number | null;
  readonly bias: boolean;
  /** Structured-bias layers: the hidden sizes of the network from batch / covariates to the bias. */
  readonly labelToBiasHiddenLayers: readonly number[];
  readonly labelToBiasDressing: Partial<Dressing>;
  /** The dressing the config sets for this layer; the model fills in the rest (upstream's defaults). */
  readonly dressing: Partial<Dressing>;
}

export interface NetworkSpec {
  readonly hiddenLayers: readonly LayerSpec[];
  readonly finalLayer: LayerSpec;
  /** Decoder only: add a ReLU'd batch/covariate bias after the scale activation. */
  readonly finalAdditiveBias: boolean;
}

type JsonObject = { readonly [key: string]: JsonValue };

function isObject(value: JsonValue | undefined): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function object(value: JsonValue | undefined, where: string): JsonObject {
  if (value === undefined || value === null) return {};
  if (!isObject(value)) throw new ConfigError(`${where} must be a mapping, got ${quote(value)}`);
  return value;
}

function refuseUnknown(value: JsonObject, known: readonly string[], where: string): void {
  for (const key of Object.keys(value)) {
    if (!known.includes(key))
      throw new ConfigError(`${where}: unknown key "${key}" (valid: ${known.join(", ")})`);
  }
}

function boolean(value: JsonValue | undefined, where: string): boolean | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "boolean")
    throw new ConfigError(`${where} must be true or false, got ${quote(value)}`);
  return value;
}

function number(value: JsonValue | undefined, where: string, check: (v: number) => boolean, needs: string) {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "number" || !check(value))
    throw new ConfigError(`${where} must be ${needs}, got ${quote(value)}`);
  return value;
}

const positiveInteger = (v: number) => Number.isInteger(v) && v >= 1;

function sizes(value: JsonValue | undefined, where: string): number[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || !value.every((v) => typeof v === "number" && positiveInteger(v))) {
    throw new ConfigError(`${where} must be a list of positive integers, got ${quote(value)}`);
  }
  return value as number[];
}

/** DressedLayer's keyword arguments (upstream's names) as far as the config sets them. */
export function parseDressing(value: JsonValue | undefined, where: string): Partial<Dressing> {
  const args = object(value, where);
  refuseUnknown(
    args,
    [
      "use_batch_norm",
      "use_layer_norm",
      "activation_fn",
      "dropout_rate",
      "batch_norm_kwargs",
      "layer_norm_kwargs",
    ],
    where,
  );
  const batchNorm = object(args.batch_norm_kwargs, `${where}.batch_norm_kwargs`);
  refuseUnknown(batchNorm, ["momentum", "eps"], `${where}.batch_norm_kwargs`);
  const layerNorm = object(args.layer_norm_kwargs, `${where}.layer_norm_kwargs`);
  refuseUnknown(layerNorm, ["eps", "elementwise_affine"], `${where}.layer_norm_kwargs`);
  let activation: string | null | undefined;
  if (Object.hasOwn(args, "activation_fn")) {
    const value = args.activation_fn;
    const name = isObject(value) ? value.class_path : value;
    if (name !== null && (typeof name !== "string" || !ACTIVATION_NAMES.includes(name))) {
      throw new ConfigError(
        `${where}.activation_fn: ${quote(value)} is not supported (valid: ${ACTIVATION_NAMES.join(", ")}, null)`,
      );
    }
    activation = name;
  }
  const entries: Array<[keyof Dressing, unknown]> = [
    ["use_batch_norm", boolean(args.use_batch_norm, `${where}.use_batch_norm`)],
    ["use_layer_norm", boolean(args.use_layer_norm, `${where}.use_layer_norm`)],
    ["activation_fn", activation],
    [
      "dropout_rate",
      number(args.dropout_rate, `${where}.dropout_rate`, (v) => v >= 0 && v < 1, "a probability in [0, 1)"),
    ],
    [
      "batch_norm_momentum",
      number(batchNorm.momentum, `${where}.batch_norm_kwargs.momentum`, (v) => v >= 0 && v <= 1, "in [0, 1]"),
    ],
    ["batch_norm_eps", number(batchNorm.eps, `${where}.batch_norm_kwargs.eps`, (v) => v > 0, "> 0")],
    ["layer_norm_eps", number(layerNorm.eps, `${where}.layer_norm_kwargs.eps`, (v) => v > 0, "> 0")],
    [
      "layer_norm_elementwise_affine",
      boolean(layerNorm.elementwise_affine, `${where}.layer_norm_kwargs.elementwise_affine`),
    ],
  ];
  return Object.fromEntries(entries.filter(([, v]) => v !== undefined)) as Partial<Dressing>;
}

/** One `{class_path, init_args, dressing_init_args}` entry. */
export function parseLayer(value: JsonValue | undefined, where: string, hidden: boolean): LayerSpec {
  const layer = object(value, where);
  refuseUnknown(layer, ["class_path", "init_args", "dressing_init_args"], where);
  const classPath = layer.class_path;
  const kind = typeof classPath === "string" ? LAYER_CLASSES[classPath] : undefined;
  if (kind === undefined) {
    throw new ConfigError(
      `${where}.class_path: ${quote(classPath)} is not a layer scVI builds (valid: ${Object.keys(LAYER_CLASSES).join(", ")})`,
    );
  }
  const args = object(layer.init_args, `${where}.init_args`);
  // n_batch and categorical_covariate_dimensions are upstream's to fill in from the model's
  // arguments (it overwrites what a config gives), so they are accepted and not read.
  const structured = [
    "label_to_bias_hidden_layers",
    "label_to_bias_dressing_init_kwargs",
    "n_batch",
    "categorical_covariate_dimensions",
  ];
  refuseUnknown(
    args,
    ["out_features", "bias", ...(kind === "linear" ? [] : structured)],
    `${where}.init_args`,
  );
  const outFeatures = number(
    args.out_features,
    `${where}.init_args.out_features`,
    positiveInteger,
    "a positive integer",
  );
  if (hidden && outFeatures === undefined) {
    throw new ConfigError(
      `${where}.init_args.out_features is required for hidden layers (e.g. out_features: 128)`,
    );
  }
  if (kind !== "linear" && !Object.hasOwn(args, "label_to_bias_hidden_layers")) {
    throw new ConfigError(
      `${where}.init_args.label_to_bias_hidden_layers is required for ${classPath} ([] is one linear map, as scvi-tools)`,
    );
  }
  return {
    kind,
    outFeatures: outFeatures ?? null,
    bias: boolean(args.bias, `${where}.init_args.bias`) ?? true,
    labelToBiasHiddenLayers: sizes(
      args.label_to_bias_hidden_layers,
      `${where}.init_args.label_to_bias_hidden_layers`,
    ),
    labelToBiasDressing: parseDressing(
      args.label_to_bias_dressing_init_kwargs,
      `${where}.init_args.label_to_bias_dressing_init_kwargs`,
    ),
    dressing: parseDressing(layer.dressing_init_args, `${where}.dressing_init_args`),
  };
}

/** The `encoder` or `decoder` argument: hidden_layers, final_layer and (decoder) final_additive_bias. */
export function parseNetwork(value: JsonValue | undefined, where: string, decoder: boolean): NetworkSpec {
  const network = object(value, where);
  refuseUnknown(
    network,
    ["hidden_layers", "final_layer", ...(decoder ? ["final_additive_bias"] : [])],
    where,
  );
  const hidden = network.hidden_layers;
  if (!Array.isArray(hidden))
    throw new ConfigError(`${where}.hidden_layers must be a list, got ${quote(hidden)}`);
  if (!isObject(network.final_layer)) {
    throw new ConfigError(
      `${where}.final_layer must be a mapping {class_path, init_args}, got ${quote(network.final_layer)}`,
    );
  }
  let finalAdditiveBias = false;
  if (decoder) {
    if (typeof network.final_additive_bias !== "boolean") {
      throw new ConfigError(
        `${where}.final_additive_bias must be true or false, got ${quote(network.final_additive_bias)}`,
      );
    }
    finalAdditiveBias = network.final_additive_bias;
  }
  return {
    hiddenLayers: hidden.map((layer, i) => parseLayer(layer, `${where}.hidden_layers[${i}]`, true)),
    finalLayer: parseLayer(network.final_layer, `${where}.final_layer`, false),
    finalAdditiveBias,
  };
}
