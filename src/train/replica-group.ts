// What the trainer needs from replicas that train one model together (data parallelism, SPEC.md
// section 7). The trainer calls these collectively: every replica makes the same calls in the same
// order, because every replica takes the same number of steps (the sampler gives each replica the
// same number of batches). src/train/thread-group.ts implements it for worker threads, src/train/mpi-group.ts for MPI ranks.

import type { JsonValue } from "../json.js";
import type { CellariumModel } from "../models/model.js";
import { Tensor } from "../tensor/tensor.js";
import type { ModelFactory } from "./merge-partials.js";

/**
 * Replicas training one model together (data parallelism): how they share gradients, merge streaming
 * statistics and agree on state. Threads of one process or MPI processes implement it; see
 * docs/distributed.md.
 */
export interface ReplicaGroup {
  readonly numReplicas: number;
  readonly rank: number;
  /**
   * Gradient models: replaces every replica's gradients by their mean over the replicas, the same
   * numbers in each, so one step equals a single replica's step on the union of the batches.
   */
  averageGradients(params: readonly Tensor[]): void;
  /** Gradient models: sets every replica's parameters to rank 0's (DDP does this before training). */
  broadcastParameters(params: readonly Tensor[]): void;
  /**
   * Streaming models: merges every replica's model into rank 0's in the tree order of
   * hierarchical-merge.ts. `empty` says this replica has seen no cells since it was last reset
   * (its state is then not sent, so a merge never has to handle an empty state). Resolves to
   * whether this replica's model is still empty afterwards; at ranks > 0 the model is unchanged
   * and the caller resets it, so the replicas' states always add up to the run's state.
   */
  reduceToRoot(model: CellariumModel, empty: boolean): Promise<boolean>;
  /**
   * Streaming models: at rank 0, the state of a model that merges every replica's (each model is
   * left unchanged); null at other ranks. What a checkpoint taken mid-epoch stores.
   */
  mergedState(model: CellariumModel, empty: boolean): Promise<Record<string, Tensor> | null>;
  /**
   * Streaming models with a sharedState: every replica loads rank 0's (sent down the merge tree's
   * edges, each replica forwarding it to the ranks it receives merges from).
   */
  broadcastShared(model: CellariumModel): Promise<void>;
}

/**
 * Writes each parameter's has-gradient flag (1 or 0) and its gradient (zeros when it has none) into
 * `buffer` from `offset`: the layout in which replicas exchange gradients (p.size + 1 elements each).
 */
export function packGradients(params: readonly Tensor[], buffer: Float64Array, offset: number): void {
  for (const p of params) {
    const grad = p.grad?.data;
    buffer[offset] = grad ? 1 : 0;
    if (grad) buffer.set(grad, offset + 1);
    else buffer.fill(0, offset + 1, offset + 1 + p.size);
    offset += p.size + 1;
  }
}

/** `p`'s gradient array, made (zeros, in `p`'s dtype) if it has none. */
export function ensureGrad(p: Tensor): Float32Array | Float64Array {
  p.grad ??= new Tensor(p.dtype === "float32" ? new Float32Array(p.size) : new Float64Array(p.size), p.shape);
  return p.grad.data as Float32Array | Float64Array;
}

/**
 * One step of a merge down the tree: a state received from replica `from` joins `model`, loaded
 * into it when `model` has seen no cells (`empty`), merged into it otherwise.
 */
export function absorbState(
  model: CellariumModel,
  empty: boolean,
  state: Record<string, Tensor>,
  createModel: ModelFactory,
  from: number,
): void {
  if (empty) {
    model.loadStateDict(state);
    return;
  }
  const other = createModel(
    model.className,
    model.initArgs() as Record<string, JsonValue>,
    `replica ${from}`,
  );
  other.loadStateDict(state);
  model.merge!(other);
}

/**
 * ReplicaGroup.mergedState through the group's reduceToRoot, on a copy of the model so that the
 * replica's own state stays as it is.
 */
export async function mergedStateVia(
  group: ReplicaGroup,
  model: CellariumModel,
  empty: boolean,
  createModel: ModelFactory,
): Promise<Record<string, Tensor> | null> {
  const copy = createModel(
    model.className,
    model.initArgs() as Record<string, JsonValue>,
    `replica ${group.rank}`,
  );
  if (!empty)
    copy.loadStateDict(
      Object.fromEntries(
        Object.entries(model.stateDict()).map(([name, t]) => [name, new Tensor(t.data.slice(), t.shape)]),
      ),
    );
  await group.reduceToRoot(copy, empty);
  return group.rank === 0 ? copy.stateDict() : null;
}
