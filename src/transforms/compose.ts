// A pipeline of steps (upstream's CellariumPipeline.forward): each step reads the batch and its
// output dictionary is merged into the batch the next step sees. Upstream passes each module only
// the keys its forward() names (call_func_with_batch); our steps receive the whole typed batch.

import type { Batch, BatchPosition, BatchStep, StepContext, Transform } from "../data/batch.js";
import { storedValues } from "../data/matrix.js";
import { batchGenerator } from "./batch-random.js";

export type PipelineStep = Transform | BatchStep;

export interface PipelineCallOptions {
  /**
   * The caller hands over the input batch's x_ng values: nothing else holds or reads them later
   * (a DataLoader's fresh batch inside the Trainer), so the first step may overwrite them too.
   */
  readonly ownsValues?: boolean;
  /**
   * Where the batch is in the run (the Trainer gives it): each Transform then draws its random
   * numbers from the stream of its (batch, step) pair (batch-random.ts). Without it, random
   * Transforms draw from their own generators.
   */
  readonly position?: BatchPosition;
}

/**
 * Applies `steps` in order; the input batch and its arrays are left as they were (outputs merge into
 * copies) unless the call says it owns them. Once a Transform has allocated a new x_ng, the
 * following Transforms that can work in place (Log1p after NormalizeTotal, ...) overwrite it
 * instead of allocating another: nothing outside this call holds it. An opaque function step may
 * return arrays it shares, so its output is never overwritten.
 */
export function composeTransforms(
  steps: readonly PipelineStep[],
): (batch: Batch, options?: PipelineCallOptions) => Batch {
  const list = [...steps];
  return (batch, options = {}) => {
    let current = batch;
    let ownsValues = options.ownsValues === true;
    const { position } = options;
    for (const [index, step] of list.entries()) {
      // The stored values: reading a deferred dense block's data would densify it (matrix.ts).
      const before = batchValues(current);
      const context: StepContext | undefined = position && {
        generator: () => batchGenerator(position, index),
      };
      let out: Partial<Batch>;
      if (typeof step === "function") out = step(current);
      else if (ownsValues && step.forwardInPlace !== undefined) out = step.forwardInPlace(current, context);
      else out = step.forward(current, context);
      current = { ...current, ...out };
      // Transforms allocate what they change (src/data/batch.ts), so new values are this call's own.
      if (batchValues(current) !== before) ownsValues = typeof step !== "function";
    }
    return current;
  };
}

function batchValues(batch: Batch): Float32Array | undefined {
  return batch.x_ng === undefined ? undefined : storedValues(batch.x_ng);
}
