// cellarium-ml's Lightning checkpoints (`.ckpt`) as our Checkpoint, read without executing them
// (src/formats/torch-pickle.ts). What upstream writes (cellarium/ml/core/module.py, Lightning's
// checkpoint connector), a torch.save'd dict:
// - `state_dict`: the CellariumModule's tensors. Its `pipeline` is a ModuleList of cpu_transforms,
//   transforms and the model, so keys are `pipeline.<i>.<buffer or parameter>`, the model last
//   (`pipeline.2.V_kg` after two transforms); a transform that is itself a CellariumModule (a
//   checkpoint used as a frozen transform) nests: `pipeline.0.pipeline.3.V_kg`.
// - `hyper_parameters`: the CellariumModule's init arguments, saved by save_hyperparameters, as
//   pickled module objects on torch's meta device (configure_model swaps in meta copies, so they
//   hold no values): `model`, `transforms`, `cpu_transforms` (absent before 2024-08, when
//   cpu_transforms came), `optim_fn` (a class such as torch.optim.adam.Adam), `optim_kwargs`,
//   `scheduler_fn`, `scheduler_kwargs`, `is_initialized`. A module's init arguments are its
//   attributes (var_names_g, n_components, ...); its tensors come from the state dict.
// - `epoch`, `global_step`, `loops` (Lightning's progress counters), `optimizer_states`,
//   `lr_schedulers`, `callbacks`, `pytorch-lightning_version`, the datamodule's state.
// Read here: the model (class, init arguments, tensors under our names), the transforms, the
// position, and the optimizer's state in torch's form (src/train/upstream-optimizer.ts maps it onto
// the resumed model's parameters). Not read: the LR scheduler's state, callbacks, the data module's
// state, random generator states. Checkpoints of cellarium-ml before the
// CellariumPipeline (2024-01) kept no module objects in hyper_parameters and are refused.

import type { TransformState } from "../data/batch.js";
import { quote } from "../error-values.js";
import { CheckpointError } from "../errors.js";
import type { PickleValue } from "../formats/pickle.js";
import {
  isDict,
  isMetaTensor,
  isNdArray,
  isPyGlobal,
  isTensorView,
  PyObject,
  readTorchPickle,
  type TorchPickle,
} from "../formats/torch-pickle.js";
import type { JsonValue } from "../json.js";
import { geneformerState } from "../models/geneformer-import.js";
import { Tensor } from "../tensor/tensor.js";
import type { Checkpoint, TrainerPosition, UpstreamOptimizerState } from "./checkpoint.js";

/** Upstream's class of a transform that is a whole checkpointed pipeline (CheckpointLoader, attr null). */
export const CELLARIUM_MODULE = "CellariumModule";

type Module = { readonly obj: PyObject; readonly prefix: string; readonly where: string };
type ModelRead = Pick<Checkpoint, "model" | "modelState">;

/** Reads the bytes of a cellarium-ml Lightning checkpoint; `path` names it in errors. */
export function checkpointFromLightning(bytes: Uint8Array, path: string): Checkpoint {
  const pickle = readTorchPickle(bytes, path);
  const root = pickle.root;
  const fail = (message: string, key?: string): never => {
    throw new CheckpointError(`${path}: ${message}`, { file: path, ...(key !== undefined && { key }) });
  };
  if (!isDict(root) || !isDict(root.get("state_dict")))
    return fail("a torch.save file, but not a Lightning checkpoint (no state_dict)", "state_dict");
  const hparams = root.get("hyper_parameters");
  if (!isDict(hparams) || !hparams.has("model"))
    return fail(
      "hyper_parameters.model is missing: not a checkpoint of cellarium-ml's CellariumModule (or one from before 2024-03, which kept its modules out of hyper_parameters)",
      "hyper_parameters.model",
    );
  const reader = new Reader(pickle, root.get("state_dict") as Map<string, PickleValue>, path);
  const pipeline = reader.pipeline(hparams, "pipeline.", "hyper_parameters");
  // What cannot be read of the optimizer's state matters only to a resumed fit: predict,
  // !CheckpointLoader and inspect read the rest.
  let upstreamOptimizer: UpstreamOptimizerState | string | undefined;
  try {
    upstreamOptimizer = optimizerState(reader, root, hparams);
  } catch (error) {
    if (!(error instanceof CheckpointError)) throw error;
    upstreamOptimizer = error.message;
  }
  return {
    ...pipeline,
    position: position(root),
    random: {},
    ...(upstreamOptimizer !== undefined && { upstreamOptimizer }),
  };
}

/**
 * `optimizer_states[0]` (torch's Optimizer.state_dict(): `state` by parameter index, `param_groups`)
 * with the optimizer's class and the model's state names in the state dict's order, in which torch
 * numbers the parameters; undefined when the run had no optimizer.
 */
function optimizerState(
  r: Reader,
  root: Map<string, PickleValue>,
  hparams: Map<string, PickleValue>,
): UpstreamOptimizerState | undefined {
  const states = root.get("optimizer_states");
  if (!Array.isArray(states) || states.length === 0) return undefined;
  if (states.length > 1)
    return r.fail(
      `optimizer_states holds ${states.length} optimizers; cellarium-ts resumes one`,
      "optimizer_states",
    );
  const optimFn = hparams.get("optim_fn");
  if (!isPyGlobal(optimFn))
    return r.fail(
      `hyper_parameters.optim_fn is ${describe(optimFn)}, not an optimizer class`,
      "hyper_parameters.optim_fn",
    );
  const saved = states[0];
  const state = isDict(saved) ? saved.get("state") : undefined;
  const groups = isDict(saved) ? saved.get("param_groups") : undefined;
  if (!(state instanceof Map) || !Array.isArray(groups))
    return r.fail(
      "optimizer_states[0] is not a torch optimizer state dict (state, param_groups)",
      "optimizer_states.0",
    );
  const where = (...path: (string | number)[]) => ["optimizer_states", 0, ...path].join(".");
  const perParam = new Map<number, { step: number; buffers: Record<string, Float32Array | Float64Array> }>();
  for (const [key, entry] of state) {
    // The pickle reader gives dict keys as strings.
    const index = Number(key);
    if (!/^\d+$/.test(String(key)) || !isDict(entry))
      return r.fail(
        `${where("state")} has entry ${describe(key as PickleValue)}: not a parameter's state`,
        where("state"),
      );
    let step = 0;
    const buffers: Record<string, Float32Array | Float64Array> = {};
    for (const [name, value] of entry) {
      const at = where("state", index, String(name));
      const read = isTensorView(value) ? r.pickle.tensor(value, at).data : value;
      if (name === "step") {
        const count = read instanceof Float32Array || read instanceof Float64Array ? read[0] : read;
        if (typeof count !== "number" || !Number.isSafeInteger(count) || count < 0)
          return r.fail(`${at} is ${describe(value)}, not a step count`, at);
        step = count;
      } else if (read instanceof Float32Array || read instanceof Float64Array) buffers[String(name)] = read;
      else return r.fail(`${at} is ${describe(value)}, not a tensor`, at);
    }
    perParam.set(index, { step, buffers });
  }
  const parsedGroups = groups.map((group, g) => {
    if (!isDict(group) || !Array.isArray(group.get("params")))
      return r.fail(
        `${where("param_groups", g)} is ${describe(group)}, not a param group`,
        where("param_groups", g),
      );
    const options: Record<string, JsonValue> = {};
    for (const [key, value] of group) {
      if (key === "params") continue;
      // betas come as a tuple: a list of two numbers here.
      if (typeof value === "number" || typeof value === "boolean" || value === null)
        options[String(key)] = value;
      else if (Array.isArray(value) && value.every((v) => typeof v === "number"))
        options[String(key)] = value as number[];
    }
    const params = group.get("params") as PickleValue[];
    if (!params.every((i) => typeof i === "number"))
      return r.fail(
        `${where("param_groups", g, "params")} is not a list of parameter indices`,
        where("param_groups", g, "params"),
      );
    return { options, params: params as number[] };
  });
  const stateOrder = [...r.stateDict.keys()]
    .filter((key) => key.startsWith(r.modelPrefix))
    .map((key) => key.slice(r.modelPrefix.length));
  return { optimFn: optimFn.name, stateOrder, state: perParam, groups: parsedGroups };
}

/** A pipeline of a checkpoint: its transforms (nested pipelines under `nested`) and model. */
type PipelineRead = Pick<Checkpoint, "model" | "modelState" | "transforms" | "nested">;

class Reader {
  /** The state dict's prefix of the checkpoint's own model (not a nested pipeline's). */
  modelPrefix = "";

  constructor(
    readonly pickle: TorchPickle,
    readonly stateDict: Map<string, PickleValue>,
    readonly path: string,
  ) {}

  fail(message: string, key: string): never {
    throw new CheckpointError(`${this.path}: ${message}`, { file: this.path, key });
  }

  /** A CellariumModule's hyper-parameters (`model`, `cpu_transforms`, `transforms`) and tensors. */
  pipeline(hparams: Map<string, PickleValue>, prefix: string, where: string): PipelineRead {
    const steps: Module[] = [];
    for (const key of ["cpu_transforms", "transforms"]) {
      const list = hparams.get(key) ?? null;
      if (list === null) continue;
      if (!Array.isArray(list))
        this.fail(`${where}.${key} is ${describe(list)}, not a list`, `${where}.${key}`);
      for (const item of list as PickleValue[]) {
        const at = `${where}.${key}.${steps.length}`;
        if (!(item instanceof PyObject)) this.fail(`${at} is ${describe(item)}, not a module`, at);
        steps.push({ obj: item as PyObject, prefix: `${prefix}${steps.length}.`, where: at });
      }
    }
    const model = hparams.get("model");
    if (prefix === "pipeline.") this.modelPrefix = `${prefix}${steps.length}.`;
    if (!(model instanceof PyObject))
      return this.fail(`${where}.model is ${describe(model)}, not a model`, `${where}.model`);
    const transforms: TransformState[] = [];
    const nested: Record<string, Checkpoint> = {};
    steps.forEach((step, i) => {
      if (className(step.obj.cls) === CELLARIUM_MODULE) {
        nested[String(i)] = this.frozen(step);
        transforms.push({ name: CELLARIUM_MODULE, args: {}, tensors: {} });
      } else transforms.push(this.transform(step));
    });
    return {
      ...this.model({ obj: model, prefix: `${prefix}${steps.length}.`, where: `${where}.model` }),
      transforms,
      ...(Object.keys(nested).length > 0 && { nested }),
    };
  }

  /** A CellariumModule used as a transform: its own hyper-parameters, its tensors nested. */
  frozen(step: Module): Checkpoint {
    const hparams = step.obj.attributes().get("_hparams");
    if (!(hparams instanceof Map))
      return this.fail(`${step.where} is a CellariumModule without hyper-parameters`, step.where);
    const inner = this.pipeline(hparams, `${step.prefix}pipeline.`, `${step.where}.hparams`);
    return { ...inner, position: { epoch: 0, batchesConsumed: 0, globalStep: 0 }, random: {} };
  }

  attr(module: Module, name: string): PickleValue | undefined {
    return module.obj.attributes().get(name);
  }

  number(module: Module, name: string, fallback?: number): number {
    const value = this.attr(module, name) ?? fallback;
    if (typeof value !== "number")
      return this.fail(
        `${module.where}.${name} is ${describe(value)}, not a number`,
        `${module.where}.${name}`,
      );
    return value;
  }

  boolean(module: Module, name: string, fallback?: boolean): boolean {
    const value = this.attr(module, name) ?? fallback;
    if (typeof value !== "boolean")
      return this.fail(
        `${module.where}.${name} is ${describe(value)}, not a bool`,
        `${module.where}.${name}`,
      );
    return value;
  }

  string(module: Module, name: string, fallback?: string | null): string | null {
    const value = this.attr(module, name) ?? fallback;
    if (value !== null && typeof value !== "string")
      return this.fail(`${module.where}.${name} is ${describe(value)}, not a str`, `${module.where}.${name}`);
    return value as string | null;
  }

  /** A list of str: a numpy array of str or object, a list or tuple. */
  strings(module: Module, name: string): string[] {
    const value = this.attr(module, name);
    const items = isNdArray(value) ? value.values : value;
    if (!Array.isArray(items) || !items.every((s) => typeof s === "string"))
      return this.fail(
        `${module.where}.${name} is ${describe(value)}, not a list of str`,
        `${module.where}.${name}`,
      );
    return items as string[];
  }

  has(module: Module, name: string): boolean {
    return this.stateDict.has(module.prefix + name);
  }

  /** The state dict's `<prefix><name>`, copied out of the file. */
  tensor(module: Module, name: string): { shape: number[]; data: Float32Array | Float64Array } {
    const key = module.prefix + name;
    const value = this.stateDict.get(key);
    if (value === undefined)
      return this.fail(
        `state_dict lacks "${key}" (${className(module.obj.cls)}'s ${name})`,
        `state_dict.${key}`,
      );
    if (!isTensorView(value))
      return this.fail(`state_dict "${key}" is ${describe(value)}, not a tensor`, `state_dict.${key}`);
    return this.pickle.tensor(value, `state_dict.${key}`);
  }

  float32(module: Module, name: string): Float32Array {
    const { data } = this.tensor(module, name);
    return data instanceof Float32Array ? data : Float32Array.from(data);
  }

  float64(module: Module, name: string): Float64Array {
    const { data } = this.tensor(module, name);
    return data instanceof Float64Array ? data : Float64Array.from(data);
  }

  transform(step: Module): TransformState {
    const name = className(step.obj.cls);
    if (!step.obj.cls.startsWith("cellarium.ml.transforms.") || !Object.hasOwn(TRANSFORMS, name))
      return this.fail(
        `${step.where} is a ${step.obj.cls}, which cellarium-ts does not have yet (it reads ${Object.keys(TRANSFORMS).join(", ")})`,
        step.where,
      );
    return { name, ...TRANSFORMS[name]!(this, step) };
  }

  model(module: Module): ModelRead {
    const name = className(module.obj.cls);
    if (!module.obj.cls.startsWith("cellarium.ml.models.") || !Object.hasOwn(MODELS, name))
      return this.fail(
        `${module.where} is a ${module.obj.cls}, which cellarium-ts does not have yet (it reads ${Object.keys(MODELS).join(", ")})`,
        module.where,
      );
    const { initArgs, modelState } = MODELS[name]!(this, module);
    return { model: { className: name, initArgs }, modelState };
  }
}

type TransformReader = (r: Reader, m: Module) => Omit<TransformState, "name">;

// Each transform's attributes and buffers (cellarium/ml/transforms/*.py) under our state's names.
const TRANSFORMS: Record<string, TransformReader> = {
  NormalizeTotal: (r, m) => ({
    args: { target_count: r.number(m, "target_count"), eps: r.number(m, "eps") },
    tensors: {},
  }),
  Log1p: () => ({ args: {}, tensors: {} }),
  Densify: () => ({ args: {}, tensors: {} }),
  ZScore: (r, m) => ({
    args: { var_names_g: r.strings(m, "var_names_g"), eps: r.number(m, "eps") },
    tensors: { mean_g: r.float32(m, "mean_g"), std_g: r.float32(m, "std_g") },
  }),
  DivideByScale: (r, m) => ({
    args: { var_names_g: r.strings(m, "var_names_g"), eps: r.number(m, "eps") },
    tensors: { scale_g: r.float32(m, "scale_g") },
  }),
  Filter: (r, m) => ({
    args: {
      filter_list: r.strings(m, "filter_list"),
      ordering: r.boolean(m, "ordering", true),
      allow_missing: r.boolean(m, "allow_missing", false),
    },
    tensors: {},
  }),
};

type ModelReader = (
  r: Reader,
  m: Module,
) => { initArgs: Record<string, JsonValue>; modelState: Record<string, Tensor> };

const vector = (data: Float32Array | Float64Array, shape: number[] = [data.length]) =>
  new Tensor(data, shape);

/** Sums the rows of a [b, g] matrix (upstream's per-batch sums since 2026-04) into g values. */
function sumRows(data: Float64Array, columns: number): Float64Array {
  const out = new Float64Array(columns);
  for (let i = 0; i < data.length; i++) out[i % columns]! += data[i]!;
  return out;
}

// Each model's attributes (cellarium/ml/models/*.py) as our init arguments, its buffers and
// parameters as our state names and dtypes (the models' loadStateDict).
const MODELS: Record<string, ModelReader> = {
  OnePassMeanVarStd: (r, m) => {
    const var_names_g = r.strings(m, "var_names_g");
    const algorithm = r.string(m, "algorithm", "naive") as string;
    const g = var_names_g.length;
    // Since 2026-04 the sums are per batch (x_sums_bg, x_size_b); before, x_sums and x_size.
    const perBatch = r.has(m, "x_sums_bg");
    const sums = perBatch ? sumRows(r.float64(m, "x_sums_bg"), g) : r.float64(m, "x_sums");
    const squares = perBatch ? sumRows(r.float64(m, "x_squared_sums_bg"), g) : r.float64(m, "x_squared_sums");
    const size = perBatch ? r.float64(m, "x_size_b").reduce((a, b) => a + b, 0) : r.float64(m, "x_size")[0]!;
    // Upstream's x_shift is zeros until the first batch; ours is absent until then.
    const shift = algorithm === "shifted_data" && size > 0 ? r.float64(m, "x_shift") : null;
    const output_path = r.attr(m, "output_path") === undefined ? null : r.string(m, "output_path");
    return {
      initArgs: { var_names_g, algorithm, output_path },
      modelState: {
        x_sums_g: vector(sums),
        x_squared_sums_g: vector(squares),
        x_size: vector(new Float64Array([size])),
        ...(shift && { x_shift_g: vector(shift) }),
      },
    };
  },
  IncrementalPCA: (r, m) => {
    const var_names_g = r.strings(m, "var_names_g");
    const k = r.number(m, "n_components");
    return {
      initArgs: {
        var_names_g,
        n_components: k,
        svd_lowrank_niter: r.number(m, "svd_lowrank_niter", 2),
        perform_mean_correction: r.boolean(m, "perform_mean_correction", true),
      },
      modelState: {
        S_k: vector(r.float64(m, "S_k")),
        V_kg: vector(r.float64(m, "V_kg"), [k, var_names_g.length]),
        x_mean_g: vector(r.float64(m, "x_mean_g")),
        x_size: vector(new Float64Array([r.float64(m, "x_size")[0] ?? 0])),
      },
    };
  },
  LogisticRegression: (r, m) => {
    const var_names_g = r.strings(m, "var_names_g");
    const y_categories = r.strings(m, "y_categories");
    const W_prior_scale = r.float32(m, "W_prior_scale");
    return {
      initArgs: {
        n_obs: r.number(m, "n_obs"),
        var_names_g,
        y_categories,
        W_prior_scale: r.number(m, "_W_prior_scale", W_prior_scale[0]),
        W_init_scale: r.number(m, "W_init_scale", 1),
        seed: r.number(m, "seed", 0),
        log_metrics: r.boolean(m, "log_metrics", true),
      },
      modelState: {
        W_gc: vector(r.float32(m, "W_gc"), [var_names_g.length, y_categories.length]),
        b_c: vector(r.float32(m, "b_c")),
        W_prior_scale: vector(W_prior_scale, []),
      },
    };
  },
  ProbabilisticPCA: (r, m) => {
    const var_names_g = r.strings(m, "var_names_g");
    const k = r.number(m, "n_components");
    // mean_g given to the constructor is a buffer; learnt, a parameter (both `mean_g` in the state).
    const buffers = r.attr(m, "_buffers");
    const fixedMean = isDict(buffers) && buffers.has("mean_g");
    const mean_g = r.float32(m, "mean_g");
    return {
      initArgs: {
        n_obs: r.number(m, "n_obs"),
        var_names_g,
        n_components: k,
        ppca_flavor: r.string(m, "ppca_flavor") as string,
        mean_g: fixedMean ? [...mean_g] : null,
        W_init_scale: r.number(m, "W_init_scale", 1),
        sigma_init_scale: r.number(m, "sigma_init_scale", 1),
        seed: r.number(m, "seed", 0),
      },
      modelState: {
        W_kg: vector(r.float32(m, "W_kg"), [k, var_names_g.length]),
        // pyro's PyroParam with constraints.positive keeps log(sigma) as sigma_unconstrained.
        sigma_unconstrained: vector(r.float32(m, "sigma_unconstrained"), []),
        mean_g: vector(mean_g),
      },
    };
  },
  TDigest: (r, m) => tdigest(r, m),
  Geneformer: (r, m) => geneformer(r, m),
};

/**
 * TDigest keeps one crick.tdigest.TDigest per gene in its extra state (`_extra_state`, a dict
 * {"tdigests": [...]}); crick pickles each as (compression,) plus (centroids, total_weight, min,
 * max), the centroids a structured array of (mean f8, weight u4).
 */
function tdigest(r: Reader, m: Module) {
  const var_names_g = r.strings(m, "var_names_g");
  const key = `${m.prefix}_extra_state`;
  const extra = r.stateDict.get(key);
  const digests = isDict(extra) ? extra.get("tdigests") : undefined;
  if (!Array.isArray(digests) || digests.length !== var_names_g.length)
    return r.fail(
      `state_dict "${key}" does not hold ${var_names_g.length} digests under "tdigests" (${describe(extra)})`,
      `state_dict.${key}`,
    );
  const offsets = new Int32Array(var_names_g.length + 1);
  const means: number[] = [];
  const weights: number[] = [];
  const min_g = new Float64Array(var_names_g.length);
  const max_g = new Float64Array(var_names_g.length);
  let compression = 100;
  digests.forEach((digest, g) => {
    const where = `state_dict "${key}" tdigests[${g}]`;
    const state = digest instanceof PyObject ? digest.state : null;
    const centroids = Array.isArray(state) ? state[0] : undefined;
    const columns = isNdArray(centroids) ? centroids.columns : undefined;
    if (
      !(digest instanceof PyObject) ||
      digest.cls !== "crick.tdigest.TDigest" ||
      !Array.isArray(state) ||
      !columns?.mean ||
      !columns.weight ||
      typeof state[1] !== "number"
    )
      r.fail(`${where} is not a crick TDigest (${describe(digest)})`, `state_dict.${key}`);
    const d = digest as PyObject;
    const s = state as PickleValue[];
    if (typeof d.args[0] === "number") compression = d.args[0];
    means.push(...columns!.mean!);
    weights.push(...columns!.weight!);
    offsets[g + 1] = offsets[g]! + columns!.mean!.length;
    const empty = (s[1] as number) === 0;
    min_g[g] = empty || typeof s[2] !== "number" ? Number.NaN : s[2];
    max_g[g] = empty || typeof s[3] !== "number" ? Number.NaN : s[3];
  });
  const t = (data: Float64Array | Int32Array) => new Tensor(data, [data.length]);
  return {
    initArgs: { var_names_g, compression },
    modelState: {
      centroid_offsets: t(offsets),
      centroid_means: t(Float64Array.from(means)),
      centroid_weights: t(Float64Array.from(weights)),
      // crick does not record which centroids hold one repeated value; a single value is one.
      centroid_pure: t(Int32Array.from(weights, (w) => (w === 1 ? 1 : 0))),
      min_g: t(min_g),
      max_g: t(max_g),
    },
  };
}

/**
 * Geneformer wraps a Hugging Face BertForMaskedLM as `bert`: its tensors are `bert.<Hugging Face
 * key>`, its sizes the BertConfig attribute `config`.
 */
function geneformer(r: Reader, m: Module) {
  const var_names_g = r.strings(m, "var_names_g");
  const config = r.attr(m, "config");
  const attributes = config instanceof PyObject ? config.attributes() : undefined;
  if (attributes === undefined)
    return r.fail(`${m.where}.config is ${describe(config)}, not a BertConfig`, `${m.where}.config`);
  const sizes: Record<string, JsonValue> = {};
  for (const name of [
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "hidden_act",
    "hidden_dropout_prob",
    "attention_probs_dropout_prob",
    "max_position_embeddings",
    "type_vocab_size",
    "initializer_range",
    "position_embedding_type",
    "layer_norm_eps",
  ]) {
    const value = attributes.get(name);
    if (typeof value !== "number" && typeof value !== "string")
      return r.fail(`${m.where}.config.${name} is ${describe(value)}`, `${m.where}.config.${name}`);
    sizes[name] = value;
  }
  const hf: Record<string, Tensor> = {};
  for (const key of r.stateDict.keys()) {
    if (!key.startsWith(`${m.prefix}bert.`)) continue;
    const name = key.slice(m.prefix.length);
    const { shape, data } = r.tensor(m, name);
    hf[name.slice("bert.".length)] = new Tensor(
      data instanceof Float32Array ? data : Float32Array.from(data),
      shape,
    );
  }
  return {
    initArgs: { var_names_g, ...sizes, mlm_probability: r.number(m, "mlm_probability", 0.15) },
    modelState: geneformerState(hf, r.path).state,
  };
}

/** The trainer's position: Lightning's epoch and global step, and the batches done in that epoch. */
function position(root: Map<string, PickleValue>): TrainerPosition {
  const count = (value: PickleValue | undefined) => (typeof value === "number" && value >= 0 ? value : 0);
  const get = (value: PickleValue | undefined, ...path: string[]): PickleValue | undefined => {
    for (const key of path) value = isDict(value) ? value.get(key) : undefined;
    return value;
  };
  const fit = get(root, "loops", "fit_loop");
  const epochsDone = get(fit, "epoch_progress", "current", "completed");
  const batchesDone = get(fit, "epoch_loop.batch_progress", "current", "completed");
  const epoch = count(root.get("epoch"));
  // A checkpoint written at an epoch's end counts that epoch as completed: resume at the next one.
  const finished = typeof epochsDone === "number" && epochsDone > epoch;
  return {
    epoch: finished ? epochsDone : epoch,
    batchesConsumed: finished ? 0 : count(batchesDone),
    globalStep: count(root.get("global_step")),
  };
}

/** `cellarium.ml.models.incremental_pca.IncrementalPCA` -> `IncrementalPCA`. */
function className(qualified: string): string {
  return qualified.slice(qualified.lastIndexOf(".") + 1);
}

/** A pickled value in a few words, for messages. */
function describe(value: PickleValue | undefined): string {
  if (value === undefined) return "missing";
  if (value instanceof PyObject) return `a ${value.cls}`;
  if (isPyGlobal(value)) return `the global ${value.name}`;
  if (isMetaTensor(value)) return "a meta tensor";
  if (isTensorView(value)) return "a tensor";
  if (isNdArray(value)) return `a numpy array of shape ${quote(value.shape)}`;
  if (value instanceof Map) return "a dict";
  if (Array.isArray(value)) return `a list of ${value.length}`;
  if (value instanceof Uint8Array) return `${value.length} bytes`;
  return quote(value);
}
