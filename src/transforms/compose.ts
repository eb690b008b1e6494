// A pipeline of steps (upstream's CellariumPipeline.forward): each step reads the batch and its
// output dictionary is merged into the batch the next step sees. Upstream passes each module only
// the keys its forward() names (call_func_with_batch); our steps receive the whole typed batch.

import type { Batch, BatchStep, Transform } from "../data/batch.js";

export type PipelineStep = Transform | BatchStep;

/** Applies `steps` in order; the input batch object is left as it was (outputs merge into copies). */
export function composeTransforms(steps: readonly PipelineStep[]): (batch: Batch) => Batch {
  const list = [...steps];
  return (batch) => {
    let current = batch;
    for (const step of list) {
      const out = typeof step === "function" ? step(current) : step.forward(current);
      current = { ...current, ...out };
    }
    return current;
  };
}
