// Replicas in the ranks of an MPI job (ReplicaGroup, replica-group.ts), one replica per rank.
// Gradients are averaged with one in-place Allreduce per step over a flat float64 buffer (in
// buckets of MPI_BUCKET elements): float32 gradients sum exactly in float64 for any realistic
// number of ranks, so the mean does not depend on the order MPI's algorithm adds them in and
// equals that of `trainer.devices` (thread-group.ts, which sums the same way). Streaming states
// travel as safetensors bytes along the merge tree's edges (hierarchical-merge.ts), so every path
// merges in one order.

import { decodeSafetensors, encodeSafetensors } from "../formats/safetensors.js";
import type { CellariumModel } from "../models/model.js";
import type { Tensor } from "../tensor/tensor.js";
import { fromSafetensors, toSafetensors } from "./checkpoint.js";
import { treeRole } from "./hierarchical-merge.js";
import type { ModelFactory } from "./merge-partials.js";
import type { MpiWorld } from "./mpi.js";
import {
  absorbState,
  ensureGrad,
  mergedStateVia,
  packGradients,
  type ReplicaGroup,
} from "./replica-group.js";

/** The tag of the merge tree's messages. */
const STATE_TAG = 1;

/**
 * The replicas of a fit as the processes of an MPI world (mpirun / srun): a {@link ReplicaGroup} whose
 * merges and reductions go over MPI. See docs/distributed.md.
 */
export class MpiReplicaGroup implements ReplicaGroup {
  readonly rank: number;
  readonly numReplicas: number;
  /** The gradient buffer, kept between steps: each parameter's has-grad flag, then its gradient. */
  private buffer = new Float64Array(0);

  constructor(
    private readonly world: MpiWorld,
    private readonly createModel: ModelFactory,
  ) {
    this.rank = world.rank;
    this.numReplicas = world.size;
  }

  averageGradients(params: readonly Tensor[]): void {
    const length = params.reduce((sum, p) => sum + p.size + 1, 0);
    if (this.buffer.length !== length) this.buffer = new Float64Array(length);
    const buffer = this.buffer;
    packGradients(params, buffer, 0);
    this.world.allreduceSum(buffer);
    const scale = 1 / this.numReplicas;
    let offset = 0;
    for (const p of params) {
      if (buffer[offset] !== 0) {
        const grad = ensureGrad(p);
        for (let i = 0; i < p.size; i++) grad[i] = buffer[offset + 1 + i]! * scale;
      }
      offset += p.size + 1;
    }
  }

  broadcastParameters(params: readonly Tensor[]): void {
    for (const p of params) this.world.bcast(p.data as Float32Array | Float64Array | Int32Array, 0);
  }

  async reduceToRoot(model: CellariumModel, empty: boolean): Promise<boolean> {
    const { receivesFrom, sendsTo } = treeRole(this.rank, this.numReplicas);
    for (const from of receivesFrom) {
      const bytes = this.world.recv(from, STATE_TAG);
      // An empty message: that replica's subtree has seen no cells.
      if (bytes.length === 0) continue;
      absorbState(model, empty, decodeState(bytes, `the state of rank ${from}`), this.createModel, from);
      empty = false;
    }
    if (sendsTo !== null)
      this.world.send(empty ? new Uint8Array(0) : encodeState(model.stateDict()), sendsTo, STATE_TAG);
    return empty;
  }

  mergedState(model: CellariumModel, empty: boolean): Promise<Record<string, Tensor> | null> {
    return mergedStateVia(this, model, empty, this.createModel);
  }

  async broadcastShared(model: CellariumModel): Promise<void> {
    const bytes = this.world.bcastBytes(this.rank === 0 ? encodeState(model.sharedState!()) : null, 0);
    if (this.rank !== 0) model.loadSharedState!(decodeState(bytes, "rank 0's shared state"));
  }
}

function encodeState(state: Record<string, Tensor>): Uint8Array {
  return encodeSafetensors(
    Object.fromEntries(Object.entries(state).map(([name, t]) => [name, toSafetensors(t)])),
  );
}

function decodeState(bytes: Uint8Array, source: string): Record<string, Tensor> {
  const { tensors } = decodeSafetensors(bytes, { source });
  return Object.fromEntries(
    Object.entries(tensors).map(([name, t]) => [name, fromSafetensors(source, name, t)]),
  );
}
