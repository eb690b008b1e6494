// Checkpoints: one safetensors file (SPEC.md section 7), readable by Python's safetensors.
// Tensors: `model.<name>` (parameters and buffers), `transforms.<i>.<name>` (a transform's
// buffers, e.g. ZScore's mean_g), `optimizer.<name>` (torch's state names, e.g.
// `optimizer.state.0.exp_avg`). `__metadata__` holds JSON strings: the model's class and init
// arguments (var_names_g among them), the transform chain, optimizer and scheduler settings, the
// trainer's position and the random generators' states, so a resumed run continues exactly.
// loadCheckpoint also reads cellarium-ml's Lightning `.ckpt` files (src/train/lightning-checkpoint.ts),
// told apart by their first bytes: a zip archive's local header signature, where a safetensors file
// begins with its header's length.

import type { OutputOptions } from "../data/atomic-file.js";
import type { TransformState } from "../data/batch.js";
import { readRegularFile } from "../data/regular-file.js";
import { CheckpointError, FileFormatError } from "../errors.js";
import type { SafetensorsTensor } from "../formats/safetensors.js";
import { decodeSafetensors } from "../formats/safetensors.js";
import { writeSafetensorsFile } from "../formats/safetensors-file.js";
import type { JsonValue } from "../json.js";
import type { OptimizerStateDict } from "../optim/optimizer.js";
import type { LrSchedulerState } from "../optim/schedulers.js";
import type { FloatArray } from "../tensor/kernels/types.js";
import { Tensor } from "../tensor/tensor.js";
import { checkpointFromLightning } from "./lightning-checkpoint.js";

export const CHECKPOINT_FORMAT = "cellarium-ts.checkpoint/1";

/** Where training stood: `batchesConsumed` batches of `epoch` are done; `globalStep` steps in all. */
export interface TrainerPosition {
  readonly epoch: number;
  readonly batchesConsumed: number;
  readonly globalStep: number;
}

export interface Checkpoint {
  readonly model: { readonly className: string; readonly initArgs: Record<string, JsonValue> };
  readonly modelState: Record<string, Tensor>;
  readonly transforms: readonly TransformState[];
  readonly optimizer?: { readonly config: JsonValue; readonly state: OptimizerStateDict };
  readonly scheduler?: { readonly config: JsonValue; readonly state: LrSchedulerState };
  readonly position: TrainerPosition;
  /** States of the random generators (the model's and the trainer's), by owner. */
  readonly random: Record<string, JsonValue>;
  /** The resolved configuration the run was started with, when it came from the command line. */
  readonly config?: JsonValue;
  /** Data parallelism the run used; absent for a single replica (src/train/replica-group.ts). */
  readonly parallel?: ParallelInfo;
  /**
   * A cellarium-ml `.ckpt`'s optimizer state in torch's form, which a resumed fit maps onto its
   * model's parameters (src/train/upstream-optimizer.ts), or why it cannot be read; ours carry
   * `optimizer` instead.
   */
  readonly upstreamOptimizer?: UpstreamOptimizerState | string;
  /**
   * Transforms that are whole pipelines (upstream's CellariumModule used as a frozen transform, in
   * its `.ckpt` files), by index into `transforms`, where they stand as `CellariumModule`.
   */
  readonly nested?: { readonly [transformIndex: string]: Checkpoint };
}

/** torch's Optimizer.state_dict() of an upstream run, as a `.ckpt` holds it. */
export interface UpstreamOptimizerState {
  /** The optimizer's class (hyper_parameters.optim_fn), e.g. `torch.optim.adam.Adam`. */
  readonly optimFn: string;
  /** The model's state names in the state dict's order: torch numbers the parameters in this order. */
  readonly stateOrder: readonly string[];
  /** By torch's parameter index: the updates applied and the buffers (`exp_avg`, `exp_avg_sq`, ...). */
  readonly state: ReadonlyMap<
    number,
    { readonly step: number; readonly buffers: Record<string, FloatArray> }
  >;
  /** torch's param_groups: options by torch's names (lr, betas, weight_decay, ...) and parameter indices. */
  readonly groups: readonly {
    readonly options: Record<string, JsonValue>;
    readonly params: readonly number[];
  }[];
}

/** How a checkpoint's run was split across replicas. */
export interface ParallelInfo {
  /** Replicas the loader split the cells across (threads, or processes of a partial run). */
  readonly numReplicas: number;
  /** Set when the checkpoint holds one process's part only, to be combined by `cellarium merge`. */
  readonly partial?: PartialInfo;
}

/** The identity of a partial checkpoint, which `cellarium merge` checks across the parts. */
export interface PartialInfo {
  readonly rank: number;
  readonly numReplicas: number;
  /** Hash of the configuration that decides the result (src/train/partial.ts). */
  readonly fingerprint: string;
}

export function toSafetensors(tensor: Tensor): SafetensorsTensor {
  const dtype = tensor.dtype === "float32" ? "F32" : tensor.dtype === "float64" ? "F64" : "I32";
  return { dtype, shape: [...tensor.shape], data: tensor.data };
}

export function fromSafetensors(path: string, name: string, tensor: SafetensorsTensor): Tensor {
  const { data } = tensor;
  if (data instanceof Float32Array || data instanceof Float64Array || data instanceof Int32Array) {
    // Decoded tensors may be views into the file's bytes; copy so the model owns its memory.
    return new Tensor(data.slice(), [...tensor.shape]);
  }
  throw new CheckpointError(
    `${path}: tensor "${name}" has dtype ${tensor.dtype}; checkpoints hold F32, F64 and I32`,
  );
}

/**
 * Writes a checkpoint atomically (temporary file, then rename); a failure to write (a full disk) is
 * an OutputError naming the path and `options.key`, and leaves an older file at `path` as it was.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mkdtempSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 * import { OnePassMeanVarStd, loadCheckpoint, saveCheckpoint } from "cellarium-ts/node";
 *
 * const model = new OnePassMeanVarStd({ var_names_g: ["g0"], output_path: null });
 * model.forward({ x_ng: { format: "dense", nRows: 2, nCols: 1, data: new Float32Array([1, 3]) }, var_names_g: ["g0"] });
 * const path = join(mkdtempSync(join(tmpdir(), "ckpt-")), "model.safetensors");
 * await saveCheckpoint(path, {
 *   model: { className: model.className, initArgs: model.initArgs() },
 *   modelState: model.stateDict(),
 *   transforms: [],
 *   position: { epoch: 1, batchesConsumed: 0, globalStep: 1 },
 *   random: {},
 * });
 * const restored = new OnePassMeanVarStd({ var_names_g: ["g0"], output_path: null });
 * restored.loadStateDict((await loadCheckpoint(path)).modelState);
 * assert.deepEqual(Array.from(restored.mean_g.data), [2]);
 * ```
 */
export async function saveCheckpoint(
  path: string,
  checkpoint: Checkpoint,
  options: OutputOptions = {},
): Promise<void> {
  const tensors: Record<string, SafetensorsTensor> = {};
  for (const [name, tensor] of Object.entries(checkpoint.modelState))
    tensors[`model.${name}`] = toSafetensors(tensor);
  checkpoint.transforms.forEach((transform, i) => {
    for (const [name, data] of Object.entries(transform.tensors)) {
      tensors[`transforms.${i}.${name}`] = { dtype: "F32", shape: [data.length], data };
    }
  });
  if (checkpoint.optimizer) {
    for (const [name, data] of Object.entries(checkpoint.optimizer.state.tensors)) {
      tensors[`optimizer.${name}`] = {
        dtype: data instanceof Float32Array ? "F32" : "F64",
        shape: [data.length],
        data,
      };
    }
  }
  const json = (value: unknown) => JSON.stringify(value);
  const metadata: Record<string, string> = {
    format: CHECKPOINT_FORMAT,
    model: json(checkpoint.model),
    transforms: json(checkpoint.transforms.map(({ name, args }) => ({ name, args }))),
    position: json(checkpoint.position),
    random: json(checkpoint.random),
  };
  if (checkpoint.optimizer) {
    metadata.optimizer = json({
      config: checkpoint.optimizer.config,
      metadata: checkpoint.optimizer.state.metadata,
    });
  }
  if (checkpoint.scheduler) metadata.scheduler = json(checkpoint.scheduler);
  if (checkpoint.config !== undefined) metadata.config = json(checkpoint.config);
  if (checkpoint.parallel !== undefined) metadata.parallel = json(checkpoint.parallel);
  await writeSafetensorsFile(path, tensors, metadata, options);
}

/** A zip archive's first bytes (a local file header): torch.save's files, Lightning's `.ckpt`. */
const ZIP_MAGIC = [0x50, 0x4b, 0x03, 0x04];

/**
 * Reads a checkpoint: one written by saveCheckpoint or the {@link Trainer}, or a cellarium-ml
 * Lightning `.ckpt` (whatever the file's name); a file of another kind is a CheckpointError naming
 * it. The result holds the model's class name and init args, its state, the transforms, the
 * optimizer and where training stood: enough to rebuild the model and resume. See
 * {@link Trainer} for an example.
 *
 * @throws {@link cellarium-ts!CheckpointError | CheckpointError} when the file is not a checkpoint
 *   or lacks an entry.
 */
export async function loadCheckpoint(path: string): Promise<Checkpoint> {
  const bytes = await readRegularFile(
    path,
    (reason, cause) =>
      new FileFormatError(`${path}: cannot read checkpoint (${reason})`, { file: path, cause }),
  );
  if (ZIP_MAGIC.every((b, i) => bytes[i] === b)) return checkpointFromLightning(bytes, path);
  // A safetensors file starts with its JSON header's length (8 bytes), then "{".
  if (bytes.length < 9 || bytes[8] !== 0x7b) {
    const start = [...bytes.subarray(0, 8)].map((b) => b.toString(16).padStart(2, "0")).join(" ");
    throw new CheckpointError(
      `${path}: not a checkpoint: neither a cellarium-ts safetensors file nor a Lightning .ckpt (zip archive); it starts with bytes ${start || "(empty file)"}`,
      { file: path, value: start },
    );
  }
  return checkpointFromSafetensors(bytes, path);
}

function checkpointFromSafetensors(bytes: Uint8Array, path: string): Checkpoint {
  const { tensors, metadata } = decodeSafetensors(bytes, { source: path });
  if (metadata.format !== CHECKPOINT_FORMAT) {
    throw new CheckpointError(
      `${path}: not a cellarium-ts checkpoint (metadata format is ${JSON.stringify(metadata.format ?? null)}, expected "${CHECKPOINT_FORMAT}")`,
    );
  }
  const parse = <T>(key: string, required = true): T | undefined => {
    const text = metadata[key];
    if (text === undefined) {
      if (required) throw new CheckpointError(`${path}: checkpoint metadata lacks "${key}"`);
      return undefined;
    }
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new CheckpointError(`${path}: checkpoint metadata "${key}" is not valid JSON`);
    }
  };
  const model = parse<Checkpoint["model"]>("model")!;
  if (typeof model?.className !== "string" || typeof model.initArgs !== "object" || model.initArgs === null) {
    throw new CheckpointError(`${path}: checkpoint metadata "model" lacks className or initArgs`);
  }
  const transformSpecs = parse<{ name: string; args: Record<string, JsonValue> }[]>("transforms")!;
  const modelState: Record<string, Tensor> = {};
  const transformTensors: Record<string, Float32Array>[] = transformSpecs.map(() => ({}));
  const optimizerTensors: Record<string, Float32Array | Float64Array> = {};
  for (const [key, tensor] of Object.entries(tensors)) {
    const dot = key.indexOf(".");
    const group = key.slice(0, dot);
    const name = key.slice(dot + 1);
    if (group === "model") modelState[name] = fromSafetensors(path, key, tensor);
    else if (group === "optimizer") {
      const data = fromSafetensors(path, key, tensor).data;
      if (data instanceof Int32Array)
        throw new CheckpointError(`${path}: optimizer tensor "${key}" is not float`);
      optimizerTensors[name] = data;
    } else if (group === "transforms") {
      const match = /^(\d+)\.(.+)$/.exec(name);
      const index = match ? Number(match[1]) : -1;
      const data = fromSafetensors(path, key, tensor).data;
      if (!match || index >= transformSpecs.length || !(data instanceof Float32Array)) {
        throw new CheckpointError(
          `${path}: tensor "${key}" does not belong to any of the ${transformSpecs.length} transforms`,
        );
      }
      transformTensors[index]![match[2]!] = data;
    } else
      throw new CheckpointError(
        `${path}: unexpected tensor "${key}" (expected model., transforms. or optimizer.)`,
      );
  }
  const optimizerMeta = parse<{ config: JsonValue; metadata: OptimizerStateDict["metadata"] }>(
    "optimizer",
    false,
  );
  const scheduler = parse<Checkpoint["scheduler"]>("scheduler", false);
  const config = parse<JsonValue>("config", false);
  const parallel = parse<ParallelInfo>("parallel", false);
  return {
    model,
    modelState,
    transforms: transformSpecs.map((spec, i) => ({
      name: spec.name,
      args: spec.args,
      tensors: transformTensors[i]!,
    })),
    ...(optimizerMeta && {
      optimizer: {
        config: optimizerMeta.config,
        state: { tensors: optimizerTensors, metadata: optimizerMeta.metadata },
      },
    }),
    ...(scheduler && { scheduler }),
    position: parse<TrainerPosition>("position")!,
    random: parse<Record<string, JsonValue>>("random")!,
    ...(config !== undefined && { config }),
    ...(parallel !== undefined && { parallel }),
  };
}
