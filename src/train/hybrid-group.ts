// Replicas in worker threads of MPI ranks (`trainer.devices: D` under an MPI launcher of S ranks):
// one ReplicaGroup of S * D replicas, replica rank * D + thread in the order of the cells' parts.
// Each collective runs in two stages: within the process through the threads' shared memory
// (thread-group.ts), across processes by each process's thread 0 over MPI (mpi-group.ts), then
// back to the other threads. Gradients are thus a mean of means (equal to the flat mean up to
// float32 rounding), and streaming states merge within each process before across.

import type { CellariumModel } from "../models/model.js";
import type { Tensor } from "../tensor/tensor.js";
import type { ModelFactory } from "./merge-partials.js";
import type { MpiReplicaGroup } from "./mpi-group.js";
import { mergedStateVia, type ReplicaGroup } from "./replica-group.js";
import type { ThreadReplicaGroup } from "./thread-group.js";

export class HybridReplicaGroup implements ReplicaGroup {
  readonly rank: number;
  readonly numReplicas: number;

  /** `across`: this process's MPI group at thread 0, null at the other threads. */
  constructor(
    private readonly local: ThreadReplicaGroup,
    private readonly across: MpiReplicaGroup | null,
    world: { readonly rank: number; readonly size: number },
    private readonly createModel: ModelFactory,
  ) {
    this.rank = world.rank * local.numReplicas + local.rank;
    this.numReplicas = world.size * local.numReplicas;
  }

  averageGradients(params: readonly Tensor[]): void {
    this.local.averageGradients(params);
    this.across?.averageGradients(params);
    this.local.broadcastGradients(params);
  }

  broadcastParameters(params: readonly Tensor[]): void {
    this.across?.broadcastParameters(params);
    this.local.broadcastParameters(params);
  }

  async reduceToRoot(model: CellariumModel, empty: boolean): Promise<boolean> {
    const merged = await this.local.reduceToRoot(model, empty);
    return this.across ? this.across.reduceToRoot(model, merged) : merged;
  }

  mergedState(model: CellariumModel, empty: boolean): Promise<Record<string, Tensor> | null> {
    return mergedStateVia(this, model, empty, this.createModel);
  }

  async broadcastShared(model: CellariumModel): Promise<void> {
    await this.across?.broadcastShared(model);
    await this.local.broadcastShared(model);
  }
}
