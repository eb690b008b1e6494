// A partial run (one process of several, SPEC.md section 7) writes its replica's state at the end
// instead of the outputs; `cellarium merge` combines the parts.

import { saveCheckpoint } from "../checkpoint.js";
import { snapshot } from "../fit-checkpoint.js";
import type { FitCallback, FitState } from "./callback.js";

export class PartialCheckpoint implements FitCallback {
  constructor(private readonly path: string) {}

  async onTrainEnd(fit: FitState): Promise<void> {
    await saveCheckpoint(this.path, snapshot(fit, fit.module.model.stateDict()));
  }
}
