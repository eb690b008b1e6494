// Replicas in worker threads of one process (ReplicaGroup, replica-group.ts). Gradients and
// parameters go through one SharedArrayBuffer (no copies through messages): each replica writes
// its slot, waits at a barrier (Atomics on a shared Int32Array), then reads every slot and
// averages in rank order, so all replicas compute bit-identical means. The buffer has two halves
// used alternately: a replica can only write a half again after the next barrier, which every
// replica reaches only once it has finished reading that half. Streaming states, large and rare,
// travel as messages along the merge tree's edges (one MessagePort per non-zero rank).

import type { MessagePort } from "node:worker_threads";
import { CellariumError } from "../errors.js";
import type { CellariumModel } from "../models/model.js";
import { Tensor, type TypedArray } from "../tensor/tensor.js";
import { treeRole } from "./hierarchical-merge.js";
import type { ModelFactory } from "./merge-partials.js";
import {
  absorbState,
  ensureGrad,
  mergedStateVia,
  packGradients,
  type ReplicaGroup,
} from "./replica-group.js";

/**
 * What a replica throws when it stops because another one failed: a consequence, never the cause,
 * so the run reports the failing replica's own error (fitReplicas).
 */
export class ReplicaAbortedError extends CellariumError {}

/** Indices into the control array. */
export const CONTROL = { abort: 0, arrived: 1, generation: 2, length: 3 } as const;

/** A state dict as it travels between threads; null for an empty replica. */
type StateMessage = Record<string, { data: TypedArray; shape: number[] }> | null;

/** Elements of the shared buffer one replica writes per call: every parameter plus a has-grad flag each. */
export function slotLength(paramSizes: readonly number[]): number {
  return paramSizes.reduce((sum, n) => sum + n + 1, 0);
}

export interface ThreadGroupOptions {
  readonly rank: number;
  readonly numReplicas: number;
  /** Int32Array over a SharedArrayBuffer of CONTROL.length elements. */
  readonly control: Int32Array;
  /** 2 * numReplicas * slotLength float64 elements, or null when the model has no parameters. */
  readonly shared: Float64Array | null;
  /** The port to the rank this one sends its state to (null at rank 0). */
  readonly up: MessagePort | null;
  /** Ports from the ranks this one receives from, by rank. */
  readonly down: ReadonlyMap<number, MessagePort>;
  readonly createModel: ModelFactory;
}

/** Messages of one port, awaited in order. */
class Mailbox {
  private readonly queue: StateMessage[] = [];
  private waiter: ((message: StateMessage) => void) | undefined;

  constructor(port: MessagePort) {
    port.on("message", (message: StateMessage) => {
      const waiter = this.waiter;
      this.waiter = undefined;
      if (waiter) waiter(message);
      else this.queue.push(message);
    });
  }

  next(): Promise<StateMessage> {
    if (this.queue.length > 0) return Promise.resolve(this.queue.shift()!);
    return new Promise((resolve) => (this.waiter = resolve));
  }
}

export class ThreadReplicaGroup implements ReplicaGroup {
  readonly rank: number;
  readonly numReplicas: number;
  private readonly control: Int32Array;
  private readonly shared: Float64Array | null;
  private readonly up: MessagePort | null;
  private readonly down: ReadonlyMap<number, MessagePort>;
  private readonly mailboxes = new Map<number, Mailbox>();
  /** What rank 0 sends down (broadcastShared), arriving on the port this replica sends merges up. */
  private readonly fromParent: Mailbox | null;
  private readonly createModel: ModelFactory;
  private half = 0;

  constructor(options: ThreadGroupOptions) {
    this.rank = options.rank;
    this.numReplicas = options.numReplicas;
    this.control = options.control;
    this.shared = options.shared;
    this.up = options.up;
    this.down = options.down;
    this.fromParent = options.up === null ? null : new Mailbox(options.up);
    this.createModel = options.createModel;
    for (const [rank, port] of options.down) this.mailboxes.set(rank, new Mailbox(port));
  }

  /** Waits until every replica has arrived; throws when another replica failed meanwhile. */
  private barrier(): void {
    const c = this.control;
    const generation = Atomics.load(c, CONTROL.generation);
    if (Atomics.add(c, CONTROL.arrived, 1) === this.numReplicas - 1) {
      Atomics.store(c, CONTROL.arrived, 0);
      Atomics.add(c, CONTROL.generation, 1);
      Atomics.notify(c, CONTROL.generation);
      return;
    }
    while (Atomics.load(c, CONTROL.generation) === generation) {
      if (Atomics.load(c, CONTROL.abort) !== 0) {
        throw new ReplicaAbortedError(`replica ${this.rank}: stopped because another replica failed`);
      }
      // The timeout only bounds how late an abort is noticed if its notify came before this wait.
      Atomics.wait(c, CONTROL.generation, generation, 100);
    }
  }

  private slots(paramSizes: readonly number[]): { slot: number; base: number } {
    const slot = slotLength(paramSizes);
    const shared = this.shared;
    if (shared === null || shared.length !== 2 * this.numReplicas * slot) {
      throw new CellariumError(
        `replica ${this.rank}: the shared gradient buffer does not fit parameters of ${slot} elements`,
      );
    }
    const base = this.half * this.numReplicas * slot;
    this.half = 1 - this.half;
    return { slot, base };
  }

  averageGradients(params: readonly Tensor[]): void {
    const { slot, base } = this.slots(params.map((p) => p.size));
    const shared = this.shared!;
    packGradients(params, shared, base + this.rank * slot);
    this.barrier();
    const scale = 1 / this.numReplicas;
    let at = base;
    for (const p of params) {
      let any = false;
      for (let r = 0; r < this.numReplicas; r++) any ||= shared[at + r * slot] !== 0;
      if (any) {
        const grad = ensureGrad(p);
        for (let i = 0; i < p.size; i++) {
          let sum = 0;
          for (let r = 0; r < this.numReplicas; r++) sum += shared[at + r * slot + 1 + i]!;
          grad[i] = sum * scale;
        }
      }
      at += p.size + 1;
    }
  }

  broadcastParameters(params: readonly Tensor[]): void {
    this.broadcastSlots(
      params,
      (p) => p.data,
      (p, values) => p.data.set(values!),
    );
  }

  /**
   * Sets every replica's gradients to rank 0's, a missing gradient included (replicas of MPI ranks,
   * hybrid-group.ts: rank 0 holds the mean over all ranks).
   */
  broadcastGradients(params: readonly Tensor[]): void {
    this.broadcastSlots(
      params,
      (p) => p.grad?.data ?? null,
      (p, values) => {
        if (values === null) {
          p.grad = null;
          return;
        }
        ensureGrad(p).set(values);
      },
    );
  }

  /** Rank 0 writes each parameter's `read` (null: absent) into its slot; the others `write` it. */
  private broadcastSlots(
    params: readonly Tensor[],
    read: (p: Tensor) => TypedArray | null,
    write: (p: Tensor, values: Float64Array | null) => void,
  ): void {
    const { base } = this.slots(params.map((p) => p.size));
    const shared = this.shared!;
    if (this.rank === 0) {
      let offset = base;
      for (const p of params) {
        const values = read(p);
        shared[offset] = values === null ? 0 : 1;
        if (values !== null) shared.set(values, offset + 1);
        offset += p.size + 1;
      }
    }
    this.barrier();
    if (this.rank === 0) return;
    let offset = base;
    for (const p of params) {
      write(p, shared[offset] === 0 ? null : shared.subarray(offset + 1, offset + 1 + p.size));
      offset += p.size + 1;
    }
  }

  async reduceToRoot(model: CellariumModel, empty: boolean): Promise<boolean> {
    const { receivesFrom, sendsTo } = treeRole(this.rank, this.numReplicas);
    for (const from of receivesFrom) {
      const state = await this.mailboxes.get(from)!.next();
      if (state === null) continue;
      absorbState(model, empty, tensorsOf(state), this.createModel, from);
      empty = false;
    }
    if (sendsTo !== null) this.up!.postMessage(empty ? null : stateMessage(model));
    return empty;
  }

  /** Closes the ports to the other replicas (their listeners would keep the thread alive). */
  close(): void {
    this.up?.close();
    for (const port of this.down.values()) port.close();
  }

  async broadcastShared(model: CellariumModel): Promise<void> {
    let state: NonNullable<StateMessage>;
    if (this.fromParent === null) state = message(model.sharedState!());
    else {
      const received = await this.fromParent.next();
      if (received === null) throw new CellariumError(`replica ${this.rank}: received no shared state`);
      state = received;
      model.loadSharedState!(tensorsOf(state));
    }
    // postMessage copies the arrays: the children never share this replica's memory.
    for (const port of this.down.values()) port.postMessage(state);
  }

  mergedState(model: CellariumModel, empty: boolean): Promise<Record<string, Tensor> | null> {
    return mergedStateVia(this, model, empty, this.createModel);
  }
}

function stateMessage(model: CellariumModel): StateMessage {
  return message(model.stateDict());
}

function message(state: Record<string, Tensor>): NonNullable<StateMessage> {
  const out: NonNullable<StateMessage> = {};
  for (const [name, t] of Object.entries(state)) out[name] = { data: t.data, shape: [...t.shape] };
  return out;
}

function tensorsOf(state: NonNullable<StateMessage>): Record<string, Tensor> {
  return Object.fromEntries(Object.entries(state).map(([name, t]) => [name, new Tensor(t.data, t.shape)]));
}
