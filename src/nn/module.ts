// Module: the base class of layers and models, as torch.nn.Module but without reflection. A
// subclass registers its parameters, buffers and child modules explicitly, in its constructor:
//
//   this.weight = this.registerParameter("weight", tensor);
//   this.dense = this.registerModule("dense", new Linear(...));
//
// Registration order is the order of namedParameters() and stateDict(), and dotted names follow
// torch's (`attention.self.query.weight`), so checkpoints map one to one onto torch state dicts.

import { ArgumentError, CheckpointError } from "../errors.js";
import { type FloatArray, formatShape, sameShape, type Tensor } from "../tensor/tensor.js";

/** A float tensor (its data typed as such). */
export interface FloatTensor extends Tensor {
  readonly data: FloatArray;
}

/** A registered parameter: a float tensor with a float gradient, which the optimizers accept as is. */
export interface Parameter extends FloatTensor {
  grad: FloatTensor | null;
}

export interface LoadStateDictOptions {
  /** Refuse missing and unexpected keys (default true, as torch). */
  strict?: boolean;
}

export interface LoadStateDictResult {
  /** Keys of this module that the dict did not have (only when strict is false). */
  readonly missingKeys: string[];
  /** Keys of the dict that this module does not have (only when strict is false). */
  readonly unexpectedKeys: string[];
}

const NAME = /^[A-Za-z0-9_]+$/;

/**
 * A neural-network module (torch.nn.Module): registered parameters, buffers and child modules under
 * dotted names, so that `parameters()`, `stateDict()` / `loadStateDict()` and `train()` / `eval()`
 * reach the whole tree. Subclass it and register in the constructor; models with parameters
 * (ProbabilisticPCA, scVI, Geneformer) are Modules.
 */
export class Module {
  /** Training mode (dropout active); set through train() and eval(), which reach every child. */
  training = true;
  private readonly ownParameters = new Map<string, Parameter>();
  private readonly ownBuffers = new Map<string, Tensor>();
  private readonly children = new Map<string, Module>();

  /** Registers a float tensor as trainable (it is marked requiresGrad) under `name`; returns it. */
  protected registerParameter(name: string, tensor: Tensor): Parameter {
    this.checkName(name);
    if (tensor.dtype === "int32")
      throw new ArgumentError(`Module: parameter "${name}" must be a float tensor, got int32`);
    tensor.requiresGrad = true;
    const parameter = tensor as Parameter;
    this.ownParameters.set(name, parameter);
    return parameter;
  }

  /** Registers a non-trainable tensor that belongs to the state dict (running statistics, constants). */
  protected registerBuffer(name: string, buffer: Tensor): Tensor {
    this.checkName(name);
    this.ownBuffers.set(name, buffer);
    return buffer;
  }

  /** Registers a child module; its entries appear under `name.`. Returns it. */
  protected registerModule<M extends Module>(name: string, module: M): M {
    this.checkName(name);
    this.children.set(name, module);
    return module;
  }

  /** Direct children with their names, in registration order. */
  namedChildren(): Array<[string, Module]> {
    return [...this.children];
  }

  /** This module and every descendant, with dotted names ("" for this module). */
  namedModules(prefix = ""): Array<[string, Module]> {
    const out: Array<[string, Module]> = [[prefix, this]];
    for (const [name, child] of this.children) out.push(...child.namedModules(join(prefix, name)));
    return out;
  }

  /** Every parameter with its dotted name; a tensor registered twice (tied weights) appears once. */
  namedParameters(): Array<[string, Parameter]> {
    return this.collect((m) => m.ownParameters);
  }

  /**
   * Every trainable tensor of this module and its descendants, in registration order (what an optimizer
   * takes).
   */
  parameters(): Parameter[] {
    return this.namedParameters().map(([, p]) => p);
  }

  /** Every buffer with its dotted name (duplicates removed as for parameters). */
  namedBuffers(): Array<[string, Tensor]> {
    return this.collect((m) => m.ownBuffers);
  }

  /**
   * Parameters and buffers by dotted name. The tensors are the live ones, not copies: encode them
   * (e.g. encodeSafetensors) before the next optimizer step if a snapshot is needed.
   */
  stateDict(): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    for (const [name, t] of [...this.namedParameters(), ...this.namedBuffers()]) out[name] = t;
    return out;
  }

  /**
   * Copies the dict's tensors into this module's parameters and buffers (in place, so optimizers
   * holding them stay valid). A shape or dtype mismatch always throws CheckpointError naming the
   * key; missing and unexpected keys throw when strict (default) and are returned otherwise.
   * Nothing is copied unless every check passes.
   */
  loadStateDict(dict: Record<string, Tensor>, options: LoadStateDictOptions = {}): LoadStateDictResult {
    const strict = options.strict ?? true;
    const own = this.stateDict();
    const missingKeys = Object.keys(own).filter((key) => !(key in dict));
    const unexpectedKeys = Object.keys(dict).filter((key) => !(key in own));
    if (strict && missingKeys.length > 0) {
      throw new CheckpointError(`loadStateDict: missing keys ${missingKeys.map((k) => `"${k}"`).join(", ")}`);
    }
    if (strict && unexpectedKeys.length > 0) {
      throw new CheckpointError(
        `loadStateDict: unexpected keys ${unexpectedKeys.map((k) => `"${k}"`).join(", ")}`,
      );
    }
    const pairs: Array<[Tensor, Tensor]> = [];
    for (const [key, target] of Object.entries(own)) {
      const source = dict[key];
      if (source === undefined) continue;
      if (source.dtype !== target.dtype || !sameShape(source.shape, target.shape)) {
        throw new CheckpointError(
          `loadStateDict: "${key}" is ${source.dtype}${formatShape(source.shape)} in the checkpoint, ${target.dtype}${formatShape(target.shape)} in the module`,
        );
      }
      pairs.push([target, source]);
    }
    for (const [target, source] of pairs) target.data.set(source.data);
    return { missingKeys, unexpectedKeys };
  }

  /** Sets training mode on this module and every descendant; returns this. */
  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }

  /** Evaluation mode (train(false)); returns this. */
  eval(): this {
    return this.train(false);
  }

  /** Drops every parameter's gradient (torch's zero_grad with set_to_none, its default since 2.0). */
  zeroGrad(): void {
    for (const p of this.parameters()) p.grad = null;
  }

  private collect<T extends Tensor>(pick: (m: Module) => Map<string, T>): Array<[string, T]> {
    const seen = new Set<T>();
    const out: Array<[string, T]> = [];
    for (const [prefix, m] of this.namedModules()) {
      for (const [name, t] of pick(m)) {
        if (seen.has(t)) continue;
        seen.add(t);
        out.push([join(prefix, name), t]);
      }
    }
    return out;
  }

  private checkName(name: string): void {
    if (!NAME.test(name)) {
      throw new ArgumentError(`Module: name "${name}" must be letters, digits and underscores (no dots)`);
    }
    if (this.ownParameters.has(name) || this.ownBuffers.has(name) || this.children.has(name)) {
      throw new ArgumentError(`Module: "${name}" is already registered`);
    }
  }
}

function join(prefix: string, name: string): string {
  return prefix === "" ? name : `${prefix}.${name}`;
}

/** Child modules under the names "0", "1", ... (torch.nn.ModuleList), e.g. `encoder.layer.3`. */
export class ModuleList<M extends Module> extends Module {
  readonly items: readonly M[];

  constructor(modules: readonly M[]) {
    super();
    this.items = modules.map((m, i) => this.registerModule(String(i), m));
  }
}
