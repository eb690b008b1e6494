// devices: N on one machine (SPEC.md section 7): N replicas of a fit in worker threads, each
// building its own module and loader part through a factory module (so that anything that can
// build a fit, the command line or a library user, can run it replicated), coordinated here.
// A replica that throws or exits stops the others and fails the run with its rank in the message.

import { MessageChannel, type MessagePort, type Worker } from "node:worker_threads";
import { startModuleWorker } from "../data/start-worker.js";
import { ArgumentError, errorFromReport, reportError } from "../errors.js";
import type { JsonValue } from "../json.js";
import { kernels } from "../tensor/kernels/index.js";
import { Tensor } from "../tensor/tensor.js";
import type { CellariumModule } from "./cellarium-module.js";
import { treeRole } from "./hierarchical-merge.js";
import type { ModelFactory } from "./merge-partials.js";
import type { ReplicaMessage, ReplicaWorkerInit, StartMessage } from "./replica-worker.js";
import { CONTROL, slotLength } from "./thread-group.js";
import type { BatchSource, FitResult, TrainerOptions } from "./trainer.js";

/** What one replica trains: built in its own thread by the factory. */
export interface ReplicaSetup {
  readonly module: CellariumModule;
  /** This replica's part of the cells (a DataLoader with numReplicas and replicaRank). */
  readonly data: BatchSource;
  /** Without replicaGroup (the replica adds its own). */
  readonly trainerOptions: TrainerOptions;
  readonly ckptPath?: string;
  /** Rank 0's validation data (Trainer.fit's `val`), read whole by rank 0 alone. */
  readonly val?: BatchSource;
  /** Rebuilds a model of the same class for merges (the registry's createModel). */
  readonly createModel: ModelFactory;
  /** Releases what the setup opened (files). */
  close?(): Promise<void> | void;
}

/** The export `createReplica` of a factory module. */
export type ReplicaFactory = (
  args: JsonValue,
  replica: { readonly rank: number; readonly numReplicas: number },
) => Promise<ReplicaSetup>;

export interface FitReplicasOptions {
  readonly numReplicas: number;
  /** URL of a module exporting `createReplica: ReplicaFactory`. */
  readonly factoryModule: string;
  /** Passed to createReplica in every replica (structured-cloneable). */
  readonly factoryArgs: JsonValue;
  /**
   * The MPI world this process is a rank of (mpi.ts, already initialized): the threads are then
   * replicas rank * numReplicas + thread of the whole job's (hybrid-group.ts).
   */
  readonly mpi?: { readonly rank: number; readonly size: number };
}

/** Rank 0's fit result and trained model state, with the cells of this process's replicas. */
export interface FitReplicasResult extends FitResult {
  readonly modelState: Record<string, Tensor>;
}

export async function fitReplicas(options: FitReplicasOptions): Promise<FitReplicasResult> {
  const n = options.numReplicas;
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new ArgumentError(`fitReplicas: numReplicas must be an integer >= 1, got ${n}`);
  }
  // OpenBLAS's thread count is the process's. Replicas already fill the cores, and threads
  // calling a multi-threaded OpenBLAS at once get their products split by timing, so results
  // would vary in the last bit from run to run (a resumed run would not equal the uninterrupted
  // one): one BLAS thread, unless OPENBLAS_NUM_THREADS says otherwise.
  const k = kernels();
  const blasThreads = k.getNumThreads();
  if (n > 1 && process.env.OPENBLAS_NUM_THREADS === undefined) k.setNumThreads(1);
  try {
    return await runReplicas(options);
  } finally {
    k.setNumThreads(blasThreads);
  }
}

async function runReplicas(options: FitReplicasOptions): Promise<FitReplicasResult> {
  const n = options.numReplicas;
  const control = new Int32Array(new SharedArrayBuffer(CONTROL.length * Int32Array.BYTES_PER_ELEMENT));
  // One channel per edge of the merge tree: rank r sends up to its parent.
  const up: (MessagePort | null)[] = [null];
  const down: [number, MessagePort][][] = Array.from({ length: n }, () => []);
  for (let r = 1; r < n; r++) {
    const { port1, port2 } = new MessageChannel();
    up.push(port1);
    down[treeRole(r, n).sendsTo!]!.push([r, port2]);
  }
  const workers: Worker[] = [];
  const ready: (number[] | undefined)[] = new Array(n).fill(undefined);
  const results: (Extract<ReplicaMessage, { type: "done" }> | undefined)[] = new Array(n).fill(undefined);
  let failure: Error | undefined;
  // A replica that stopped because another failed reports that second; its report may still reach
  // this thread first (one port per worker, no order between them), so it waits for the cause and
  // is only used if no replica reports one.
  let aborted: Error | undefined;
  const reported: boolean[] = new Array(n).fill(false);
  const exited: boolean[] = new Array(n).fill(false);

  return await new Promise<FitReplicasResult>((resolve, reject) => {
    const fail = (rank: number, error: Error) => {
      if (failure !== undefined) return;
      failure = errorFromReport({
        ...reportError(error),
        message: `replica ${rank} of ${n}: ${error.message}`,
      });
      Atomics.store(control, CONTROL.abort, 1);
      Atomics.notify(control, CONTROL.generation);
      Promise.all(workers.map((w) => w.terminate())).then(() => reject(failure));
    };
    const onReady = () => {
      const sizes = ready[0]!;
      for (let r = 1; r < n; r++) {
        if (ready[r]!.join() !== sizes.join()) {
          fail(
            r,
            new ArgumentError(
              `its parameters (${ready[r]!.length}) differ from replica 0's (${sizes.length})`,
            ),
          );
          return;
        }
      }
      const shared =
        sizes.length === 0
          ? null
          : new Float64Array(
              new SharedArrayBuffer(2 * n * slotLength(sizes) * Float64Array.BYTES_PER_ELEMENT),
            );
      const start: StartMessage = { shared };
      for (const worker of workers) worker.postMessage(start);
    };
    for (let rank = 0; rank < n; rank++) {
      const init: ReplicaWorkerInit = {
        rank,
        numReplicas: n,
        factoryModule: options.factoryModule,
        factoryArgs: options.factoryArgs,
        ...(options.mpi && { mpi: { rank: options.mpi.rank, size: options.mpi.size } }),
        control,
        up: up[rank]!,
        down: down[rank]!,
      };
      const transfer = [...(up[rank] ? [up[rank]!] : []), ...down[rank]!.map(([, port]) => port)];
      const worker = startModuleWorker(import.meta.url, "replica-worker", {
        workerData: init,
        transferList: transfer,
      });
      workers.push(worker);
      worker.on("message", (message: ReplicaMessage) => {
        if (message.type === "error") {
          reported[rank] = true;
          const error = errorFromReport(message.error);
          if (message.aborted) aborted ??= error;
          else fail(rank, error);
        } else if (message.type === "ready") {
          ready[rank] = message.paramSizes;
          if (ready.every((sizes) => sizes !== undefined)) onReady();
        } else {
          results[rank] = message;
          if (results.every((result) => result !== undefined)) {
            const cells = results.reduce((sum, result) => sum + result!.cells, 0);
            const { modelState, ...first } = results[0]!;
            const state = Object.fromEntries(
              Object.entries(modelState!).map(([name, t]) => [name, new Tensor(t.data, t.shape)]),
            );
            resolve({ ...first, cells, modelState: state });
          }
        }
      });
      worker.on("error", (error) => fail(rank, error));
      worker.on("exit", (code) => {
        exited[rank] = true;
        if (results[rank] === undefined && !reported[rank]) {
          fail(rank, new Error(`exited (code ${code}) before finishing`));
        } else if (aborted && failure === undefined && exited.every(Boolean)) {
          fail(rank, aborted);
        }
      });
    }
  });
}
