// A trained pipeline rebuilt from a checkpoint: its transforms from their saved states and its model
// from its class, init arguments and state. Used by `!CheckpointLoader` (an attribute such as
// `model.mean_g`, or the whole pipeline as a frozen transform), by `predict`, and by `inspect --attr`.

import type { Batch, BatchStep, BatchValue } from "../data/batch.js";
import { CheckpointError, ConfigError } from "../errors.js";
import type { CellariumModel, ModelAttribute } from "../models/model.js";
import { Tensor } from "../tensor/tensor.js";
import { type Checkpoint, loadCheckpoint } from "../train/checkpoint.js";
import { CELLARIUM_MODULE } from "../train/lightning-checkpoint.js";
import { composeTransforms, type PipelineStep } from "../transforms/compose.js";
import { createModel, loadModelClass, modelByClass, transformFromState } from "./registry.js";

export interface LoadedPipeline {
  readonly path: string;
  readonly checkpoint: Checkpoint;
  /** Transforms, and frozen pipelines nested in upstream `.ckpt` files (CellariumModule transforms). */
  readonly transforms: readonly PipelineStep[];
  readonly model: CellariumModel;
}

const cache = new Map<string, Promise<LoadedPipeline>>();

/** Loads (once per path) the pipeline saved in a checkpoint. */
export function loadPipeline(path: string): Promise<LoadedPipeline> {
  let loaded = cache.get(path);
  if (!loaded) {
    loaded = build(path);
    cache.set(path, loaded);
    loaded.catch(() => cache.delete(path));
  }
  return loaded;
}

async function build(path: string): Promise<LoadedPipeline> {
  const checkpoint = await loadCheckpoint(path);
  await loadModels(checkpoint, path);
  return fromCheckpoint(path, checkpoint, path);
}

/** Loads the modules of the models of a checkpoint and of the pipelines nested in it. */
async function loadModels(checkpoint: Checkpoint, where: string): Promise<void> {
  await loadModelClass(checkpoint.model.className, `${where}: model`);
  for (const [i, nested] of Object.entries(checkpoint.nested ?? {})) {
    await loadModels(nested, `${where}: transforms.${i}`);
  }
}

/** `where` names the pipeline in errors: the path, then `transforms.<i>` for nested ones. */
function fromCheckpoint(path: string, checkpoint: Checkpoint, where: string): LoadedPipeline {
  const entry = modelByClass(checkpoint.model.className, `${where}: model`);
  const model = createModel(entry, checkpoint.model.initArgs, `${where}: model`);
  try {
    model.loadStateDict(checkpoint.modelState);
  } catch (error) {
    if (!(error instanceof CheckpointError)) throw error;
    throw new CheckpointError(`${where}: ${error.message}`, { file: path, cause: error });
  }
  model.train(false);
  const transforms = checkpoint.transforms.map((state, i): PipelineStep => {
    const nested = checkpoint.nested?.[String(i)];
    if (state.name === CELLARIUM_MODULE && nested)
      return frozenStep(fromCheckpoint(path, nested, `${where}: transforms.${i}`));
    return transformFromState(state, `${where}: transforms.${i}`);
  });
  return { path, checkpoint, transforms, model };
}

/** `model.<name>` of a loaded pipeline, as `!CheckpointLoader` attr and `inspect --attr` read it. */
export function pipelineAttribute(pipeline: LoadedPipeline, attr: string): ModelAttribute {
  const match = /^model\.(.+)$/.exec(attr);
  if (!match)
    throw new ConfigError(`${pipeline.path}: attr "${attr}" must name a model attribute, e.g. model.mean_g`);
  const model = pipeline.model;
  if (!model.attribute)
    throw new ConfigError(`${pipeline.path}: ${model.className} has no attributes to read`);
  return model.attribute(match[1]!);
}

/**
 * The pipeline as a frozen step of another pipeline (upstream uses the loaded CellariumModule as a
 * transform): its transforms, then its model's predict, whose outputs replace batch keys (IncrementalPCA
 * turns x_ng into z_nk and var_names_g into PC1..PCk).
 */
export function frozenStep(pipeline: LoadedPipeline): BatchStep {
  const model = pipeline.model;
  if (!model.predict) {
    throw new CheckpointError(
      `${pipeline.path}: ${model.className} cannot predict, so it cannot serve as a transform`,
    );
  }
  const transform = composeTransforms(pipeline.transforms);
  return (batch: Batch) => {
    const output = model.predict!(transform(batch));
    const out: Partial<Batch> = {};
    for (const [key, value] of Object.entries(output)) out[key] = toBatchValue(value);
    return out;
  };
}

/** A prediction value as a batch value: 2-d float tensors become dense float32 matrices. */
export function toBatchValue(value: BatchValue | Tensor): BatchValue {
  if (!(value instanceof Tensor)) return value;
  if (value.shape.length === 2 && value.dtype !== "int32") {
    const data = value.data instanceof Float32Array ? value.data : Float32Array.from(value.data);
    return { format: "dense", nRows: value.shape[0]!, nCols: value.shape[1]!, data };
  }
  return value.data;
}
