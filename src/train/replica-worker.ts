// One replica of a threaded fit (fit-replicas.ts): builds its module, loader and trainer through
// the factory module named by the coordinator, then runs Trainer.fit with a ThreadReplicaGroup.

import { type MessagePort, parentPort, workerData } from "node:worker_threads";
import { type ErrorReport, reportError } from "../errors.js";
import type { JsonValue } from "../json.js";
import type { TypedArray } from "../tensor/tensor.js";
import type { ReplicaFactory } from "./fit-replicas.js";
import { HybridReplicaGroup } from "./hybrid-group.js";
import { startMpi } from "./mpi.js";
import { MpiReplicaGroup } from "./mpi-group.js";
import { CONTROL, ReplicaAbortedError, ThreadReplicaGroup } from "./thread-group.js";
import { Trainer } from "./trainer.js";

export interface ReplicaWorkerInit {
  readonly rank: number;
  readonly numReplicas: number;
  /** URL of a module exporting `createReplica: ReplicaFactory`. */
  readonly factoryModule: string;
  readonly factoryArgs: JsonValue;
  /** The MPI world of this process (FitReplicasOptions.mpi). */
  readonly mpi?: { readonly rank: number; readonly size: number };
  readonly control: Int32Array;
  readonly up: MessagePort | null;
  readonly down: ReadonlyArray<readonly [number, MessagePort]>;
}

/** Replica -> coordinator. */
export type ReplicaMessage =
  | { readonly type: "ready"; readonly paramSizes: number[] }
  | {
      readonly type: "done";
      readonly runDir: string;
      readonly position: { epoch: number; batchesConsumed: number; globalStep: number };
      readonly checkpoints: string[];
      readonly cells: number;
      readonly seconds: number;
      /** Rank 0 only: the trained model's state. */
      readonly modelState?: Record<string, { data: TypedArray; shape: number[] }>;
    }
  /** aborted: the replica only stopped because another one failed (ReplicaAbortedError). */
  | { readonly type: "error"; readonly error: ErrorReport; readonly aborted: boolean };

/** Coordinator -> replica: the shared gradient buffer, once every replica reported its parameters. */
export interface StartMessage {
  readonly shared: Float64Array | null;
}

const port = parentPort!;
const init = workerData as ReplicaWorkerInit;

async function run(): Promise<void> {
  const { createReplica } = (await import(init.factoryModule)) as { createReplica: ReplicaFactory };
  const world = init.mpi ?? { rank: 0, size: 1 };
  const setup = await createReplica(init.factoryArgs, {
    rank: world.rank * init.numReplicas + init.rank,
    numReplicas: world.size * init.numReplicas,
  });
  try {
    const ready: ReplicaMessage = {
      type: "ready",
      paramSizes: setup.module.model.parameters().map((p) => p.size),
    };
    const start = new Promise<StartMessage>((resolve) => port.once("message", resolve));
    port.postMessage(ready);
    const { shared } = await start;
    const threads = new ThreadReplicaGroup({
      rank: init.rank,
      numReplicas: init.numReplicas,
      control: init.control,
      shared,
      up: init.up,
      down: new Map(init.down),
      createModel: setup.createModel,
    });
    // Thread 0 speaks for the process to the other MPI ranks (MPI is already initialized by the main thread).
    const replicaGroup = init.mpi
      ? new HybridReplicaGroup(
          threads,
          init.rank === 0 ? new MpiReplicaGroup(startMpi(process.env)!, setup.createModel) : null,
          init.mpi,
          setup.createModel,
        )
      : threads;
    const trainer = new Trainer({ ...setup.trainerOptions, replicaGroup });
    const result = await trainer
      .fit(setup.module, setup.data, {
        ...(setup.ckptPath !== undefined && { ckptPath: setup.ckptPath }),
        ...(setup.val !== undefined && { val: setup.val }),
      })
      .finally(() => threads.close());
    const model = setup.module.model;
    const modelState =
      init.rank === 0
        ? Object.fromEntries(
            Object.entries(model.stateDict()).map(([name, t]) => [
              name,
              { data: t.data, shape: [...t.shape] },
            ]),
          )
        : undefined;
    const done: ReplicaMessage = {
      type: "done",
      ...result,
      checkpoints: [...result.checkpoints],
      ...(modelState && { modelState }),
    };
    port.postMessage(done);
  } finally {
    await setup.close?.();
  }
}

run().then(
  () => port.close(),
  (error: unknown) => {
    // Wake replicas waiting at a barrier for this one before reporting.
    Atomics.store(init.control, CONTROL.abort, 1);
    Atomics.notify(init.control, CONTROL.generation);
    const report: ReplicaMessage = {
      type: "error",
      error: reportError(error),
      aborted: error instanceof ReplicaAbortedError,
    };
    port.postMessage(report);
    port.close();
  },
);
