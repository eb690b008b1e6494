// A fit's state as a checkpoint (snapshot) and back (restore): the model, the transforms' state,
// the optimizer and LR schedule, the position and the random streams, so that `ckptPath` resumes
// exactly where a run stopped.

import { CheckpointError } from "../errors.js";
import type { JsonValue } from "../json.js";
import type { Tensor } from "../tensor/tensor.js";
import type { FitState } from "./callbacks/callback.js";
import type { CellariumModule, Optimization } from "./cellarium-module.js";
import { type Checkpoint, loadCheckpoint, type ParallelInfo, type TrainerPosition } from "./checkpoint.js";
import { checkResumeConfig } from "./resume-check.js";
import { optimizerStateFromUpstream } from "./upstream-optimizer.js";

/** The checkpoint of `fit` at its position, with `modelState` (the model's, or the replicas' merged state). */
export function snapshot(fit: FitState, modelState: Record<string, Tensor>): Checkpoint {
  const { module, optimization, position, config, parallel, seed } = fit;
  const model = module.model;
  return {
    model: { className: model.className, initArgs: model.initArgs() },
    modelState,
    transforms: module.transforms.flatMap((t) => (typeof t === "function" ? [] : [t.state()])),
    ...(optimization && {
      optimizer: { config: module.optimizerJson(), state: optimization.optimizer.stateDict() },
    }),
    ...(optimization?.scheduler && {
      scheduler: {
        config: module.schedulerConfig
          ? { name: module.schedulerConfig.name, kwargs: module.schedulerConfig.kwargs }
          : null,
        state: optimization.scheduler.stateDict(),
      },
    }),
    position,
    // The random transforms' streams are functions of the seed and the position (batch-random.ts).
    random: { ...(model.randomState && { model: model.randomState() }), transforms: { seed } },
    ...(config !== undefined && { config }),
    ...(parallel !== undefined && { parallel }),
  };
}

/** "2 replicas", "part 1 of 4" or "1 replica": how a checkpoint's run was split, for messages. */
function describeParallel(parallel: ParallelInfo | undefined): string {
  if (parallel?.partial) return `part ${parallel.partial.rank} of ${parallel.partial.numReplicas}`;
  const n = parallel?.numReplicas ?? 1;
  return `${n} replica${n === 1 ? "" : "s"}`;
}

export async function restore(
  path: string,
  module: CellariumModule,
  optimization: Optimization | null,
  parallel: ParallelInfo | undefined,
  loadModel: boolean,
  config: JsonValue | undefined,
): Promise<{ position: TrainerPosition; seed: number | undefined }> {
  const checkpoint = await loadCheckpoint(path);
  const model = module.model;
  if (checkpoint.model.className !== model.className) {
    throw new CheckpointError(
      `${path}: checkpoint of ${checkpoint.model.className}, cannot resume ${model.className}`,
    );
  }
  // Positions count each replica's batches, so a run resumes only under the split it was written
  // with (and a part only as the same part of the same run).
  const written = describeParallel(checkpoint.parallel);
  const wanted = describeParallel(parallel);
  const fingerprints = [checkpoint.parallel?.partial?.fingerprint, parallel?.partial?.fingerprint];
  // A merged checkpoint at an epoch boundary starts the parts of the next epochs of a model whose
  // later epochs need only the shared part of the state (the position does not depend on the
  // split there): every part takes that part and nothing else, so no cell is counted twice.
  const sharedStart =
    parallel?.partial !== undefined &&
    checkpoint.parallel?.partial === undefined &&
    checkpoint.position.batchesConsumed === 0 &&
    model.sharedState !== undefined;
  if (sharedStart) {
    checkResumeConfig(path, checkpoint.config, config);
    const names = Object.keys(model.sharedState!());
    model.loadSharedState!(Object.fromEntries(names.map((name) => [name, checkpoint.modelState[name]!])));
    return { position: checkpoint.position, seed: transformsSeed(checkpoint) };
  }
  if (written !== wanted || fingerprints[0] !== fingerprints[1]) {
    throw new CheckpointError(
      `${path}: written by a run of ${written}${fingerprints[0] ? ` (config ${fingerprints[0]})` : ""}, cannot resume a run of ${wanted}${fingerprints[1] ? ` (config ${fingerprints[1]})` : ""}`,
    );
  }
  checkResumeConfig(path, checkpoint.config, config);
  if (loadModel) model.loadStateDict(checkpoint.modelState);
  if (optimization) {
    const { optimizer } = optimization;
    if (checkpoint.optimizer) optimizer.loadStateDict(checkpoint.optimizer.state as never);
    else if (checkpoint.upstreamOptimizer) {
      // A cellarium-ml .ckpt: torch's state, matched to the parameters by name.
      const state = optimizerStateFromUpstream(
        checkpoint.upstreamOptimizer,
        model,
        optimizer.stateDict(),
        path,
      );
      optimizer.loadStateDict(state as never);
    } else throw new CheckpointError(`${path}: checkpoint has no optimizer state to resume from`);
    if (optimization.scheduler) {
      if (!checkpoint.scheduler)
        throw new CheckpointError(`${path}: checkpoint has no LR scheduler state to resume from`);
      optimization.scheduler.loadStateDict(checkpoint.scheduler.state);
    }
  }
  if (model.setRandomState && checkpoint.random.model !== undefined)
    model.setRandomState(checkpoint.random.model);
  return { position: checkpoint.position, seed: transformsSeed(checkpoint) };
}

/** The seed of the random transforms' streams a checkpoint's run used, if it recorded one. */
function transformsSeed(checkpoint: Checkpoint): number | undefined {
  const transforms = checkpoint.random.transforms;
  const seed =
    typeof transforms === "object" && transforms !== null && !Array.isArray(transforms)
      ? transforms.seed
      : undefined;
  return typeof seed === "number" ? seed : undefined;
}
