// Replicas of a streaming model (no optimizer) each accumulate their own cells; at the end of each
// epoch (and of the fit) they merge into rank 0, which continues from the merged state while the
// others start empty, and rank 0's shared part of the state (CellariumModel.sharedState, e.g. HVG's
// first-pass statistics) goes back to every replica. Gradient models need none of this:
// their replicas average gradients at every step (ReplicaGroup.averageGradients).

import type { CellariumModel } from "../models/model.js";
import type { ReplicaGroup } from "./replica-group.js";

export class StreamingReplicas {
  /** Whether this replica holds cells not yet merged into rank 0. */
  unmerged = false;

  /** `state.empty`: whether this replica's model has seen no cells since it was built or reset. */
  constructor(
    private readonly group: ReplicaGroup,
    private readonly model: CellariumModel,
    private readonly state: { empty: boolean },
  ) {}

  /** Merges every replica's state into rank 0's; the others reset. */
  async reduce(): Promise<void> {
    this.state.empty = await this.group.reduceToRoot(this.model, this.state.empty);
    if (this.group.rank > 0) {
      this.model.resetParameters();
      this.state.empty = true;
    }
    this.unmerged = false;
  }

  /** Rank 0's shared part of the state to every replica. */
  async share(): Promise<void> {
    if (this.model.sharedState) await this.group.broadcastShared(this.model);
  }
}
