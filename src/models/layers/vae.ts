// The building blocks of upstream's variational autoencoders (cellarium/ml/layers/vae.py):
// DressedLayer, a layer followed by its "dressing" (batch or layer normalization, an activation,
// dropout), and FullyConnectedLinear, a stack of dressed Linear layers ending in a plain Linear.
// Children are registered under upstream's attribute names and torch.nn.Sequential's indices
// (`layer`, `dressing.0`, `module_list.1`), so state dicts map one to one onto upstream's.

import { ConfigError } from "../../errors.js";
import { BatchNorm1d } from "../../nn/batch-norm.js";
import { Dropout } from "../../nn/dropout.js";
import { xavierNormalInit } from "../../nn/init.js";
import { LayerNorm } from "../../nn/layer-norm.js";
import { Linear } from "../../nn/linear.js";
import { Module, ModuleList } from "../../nn/module.js";
import { add, sigmoid, tanh } from "../../tensor/ops/elementwise.js";
import { gelu, relu, silu, softplus } from "../../tensor/ops/nn.js";
import { transpose } from "../../tensor/ops/shape.js";
import { type CsrOperand, csrMatmul } from "../../tensor/ops/sparse.js";
import type { Generator } from "../../tensor/random.js";
import { Tensor } from "../../tensor/tensor.js";

/** The activations a dressing may name (torch.nn class paths), applied elementwise. */
const ACTIVATIONS: Readonly<Record<string, (x: Tensor) => Tensor>> = {
  "torch.nn.ReLU": relu,
  "torch.nn.GELU": gelu,
  "torch.nn.SiLU": silu,
  "torch.nn.Softplus": softplus,
  "torch.nn.Sigmoid": sigmoid,
  "torch.nn.Tanh": tanh,
};

/** DressedLayer's keyword arguments, by upstream's names and with its defaults. */
export interface Dressing {
  readonly use_batch_norm: boolean;
  readonly use_layer_norm: boolean;
  /** torch.nn.BatchNorm1d's momentum and eps (upstream's defaults 0.01 and 0.001). */
  readonly batch_norm_momentum: number;
  readonly batch_norm_eps: number;
  /** torch.nn.LayerNorm's elementwise_affine (upstream's default false) and eps. */
  readonly layer_norm_elementwise_affine: boolean;
  readonly layer_norm_eps: number;
  /** A torch.nn activation class path, or null for none (upstream's default torch.nn.ReLU). */
  readonly activation_fn: string | null;
  readonly dropout_rate: number;
}

export const DEFAULT_DRESSING: Dressing = {
  use_batch_norm: false,
  use_layer_norm: false,
  batch_norm_momentum: 0.01,
  batch_norm_eps: 0.001,
  layer_norm_elementwise_affine: false,
  layer_norm_eps: 1e-5,
  activation_fn: "torch.nn.ReLU",
  dropout_rate: 0,
};

/** The activation functions a dressing accepts, for error messages. */
export const ACTIVATION_NAMES = Object.keys(ACTIVATIONS);

/** The part of a dressed layer after the layer: [batch norm | layer norm], [activation], [dropout]. */
class DressingSteps extends Module {
  private readonly steps: Array<(x: Tensor) => Tensor> = [];

  constructor(outFeatures: number, dressing: Dressing, generator: Generator, where: string) {
    super();
    if (dressing.use_batch_norm && dressing.use_layer_norm) {
      throw new ConfigError(`${where}: use_batch_norm and use_layer_norm cannot both be true`);
    }
    // torch.nn.Sequential numbers only the modules present, so the first present one is dressing.0
    let index = 0;
    if (dressing.use_batch_norm) {
      const norm = this.registerModule(
        String(index++),
        new BatchNorm1d(outFeatures, {
          momentum: dressing.batch_norm_momentum,
          eps: dressing.batch_norm_eps,
        }),
      );
      this.steps.push((x) => norm.forward(x));
    }
    if (dressing.use_layer_norm) {
      const norm = this.registerModule(
        String(index++),
        new LayerNorm(outFeatures, {
          eps: dressing.layer_norm_eps,
          elementwiseAffine: dressing.layer_norm_elementwise_affine,
        }),
      );
      this.steps.push((x) => norm.forward(x));
    }
    if (dressing.activation_fn !== null) {
      const activation = ACTIVATIONS[dressing.activation_fn];
      if (!activation) {
        throw new ConfigError(
          `${where}: activation_fn ${JSON.stringify(dressing.activation_fn)} is not supported (valid: ${ACTIVATION_NAMES.join(", ")}, null)`,
        );
      }
      index++;
      this.steps.push(activation);
    }
    if (dressing.dropout_rate > 0) {
      const dropout = this.registerModule(String(index++), new Dropout(dressing.dropout_rate, generator));
      this.steps.push((x) => dropout.forward(x));
    }
  }

  /** The batch norms, for upstream's weights_init. */
  batchNorms(): BatchNorm1d[] {
    return this.namedChildren()
      .map(([, m]) => m)
      .filter((m): m is BatchNorm1d => m instanceof BatchNorm1d);
  }

  forward(x: Tensor): Tensor {
    let y = x;
    for (const step of this.steps) y = step(y);
    return y;
  }
}

/** A layer whose forward takes more than x (a structured-bias layer takes the batch and covariates). */
export interface DressableLayer<Input, Context> extends Module {
  readonly outFeatures: number;
  forward(x: Input, context: Context): Tensor;
}

/** upstream's DressedLayer: `layer` then `dressing`. */
export class DressedLayer<Input, Context> extends Module {
  readonly layer: DressableLayer<Input, Context>;
  readonly dressing: DressingSteps;

  constructor(
    layer: DressableLayer<Input, Context>,
    dressing: Dressing,
    generator: Generator,
    where: string,
  ) {
    super();
    this.layer = this.registerModule("layer", layer);
    this.dressing = this.registerModule(
      "dressing",
      new DressingSteps(layer.outFeatures, dressing, generator, where),
    );
  }

  get outFeatures(): number {
    return this.layer.outFeatures;
  }

  batchNorms(): BatchNorm1d[] {
    return this.dressing.batchNorms();
  }

  forward(x: Input, context: Context): Tensor {
    return this.dressing.forward(this.layer.forward(x, context));
  }
}

/** What a first layer may read: a dense tensor, or a CSR block of counts (read as X W^T, never densified). */
export type LayerInput = Tensor | CsrOperand;

/**
 * A torch.nn.Linear that also reads a CSR input and takes (and ignores) a context, so that it can
 * be dressed like the structured-bias layers.
 */
export class PlainLinear extends Linear implements DressableLayer<LayerInput, unknown> {
  override forward(x: LayerInput, _context?: unknown): Tensor {
    if (x instanceof Tensor) return super.forward(x);
    const product = csrMatmul(x, transpose(this.weight));
    return this.bias ? add(product, this.bias) : product;
  }
}

/**
 * upstream's FullyConnectedLinear: dressed Linear layers of sizes nHidden (each with a bias), then
 * a final Linear to outFeatures, with a bias only when asked (upstream's default: none).
 */
export class FullyConnectedLinear extends Module {
  readonly outFeatures: number;
  readonly module_list: ModuleList<Module>;
  private readonly hidden: DressedLayer<Tensor, unknown>[];
  private readonly final: PlainLinear;

  constructor(
    inFeatures: number,
    outFeatures: number,
    nHidden: readonly number[],
    options: { dressing: Dressing; generator: Generator; bias?: boolean; where: string },
  ) {
    super();
    this.outFeatures = outFeatures;
    const { generator } = options;
    const sizes = [inFeatures, ...nHidden];
    this.hidden = nHidden.map(
      (n, i) =>
        new DressedLayer(
          new PlainLinear(sizes[i]!, n, { generator }),
          options.dressing,
          generator,
          options.where,
        ),
    );
    this.final = new PlainLinear(sizes[sizes.length - 1]!, outFeatures, {
      generator,
      bias: options.bias ?? false,
    });
    this.module_list = this.registerModule(
      "module_list",
      new ModuleList<Module>([...this.hidden, this.final]),
    );
  }

  forward(x: Tensor): Tensor {
    let y = x;
    for (const layer of this.hidden) y = layer.forward(y, null);
    return this.final.forward(y);
  }
}

/**
 * upstream's weights_init applied to every module below `root`: Linear weights xavier-normal and
 * biases 0, batch-norm weights N(1, 0.02) and biases 0.
 */
export function initializeWeights(root: Module, generator: Generator): void {
  for (const [, module] of root.namedModules()) {
    if (module instanceof Linear) {
      xavierNormalInit(module.weight, generator);
      module.bias?.data.fill(0);
    } else if (module instanceof BatchNorm1d) {
      generator.fillNormal(module.weight.data, 1, 0.02);
      module.bias.data.fill(0);
    }
  }
}
