import { parentPort, workerData } from "node:worker_threads";
import type { BatchValue } from "./batch.js";
import { type BatchKeysConfig, planBatchKeys } from "./batch-keys.js";
import { BufferPool } from "./buffer-pool.js";
import { type CollectionInit, DistributedAnnDataCollection } from "./collection.js";
import { type CheckCountsMode, readBatch } from "./read-batch.js";
import { type SamplerOptions, type SamplerPosition, workerBatches } from "./sampler.js";

// A read-ahead worker of DataLoader (loader.ts). It opens its own collection (h5wasm's module
// belongs to one thread), reads its share of the epoch's batches in the order the main thread
// will ask for them, and posts each one with its buffers transferred (no copy). It stays at most
// `prefetch` batches ahead: the main thread returns one credit per batch it hands out. Once the
// consumer is done with a batch (DataLoader.release), its matrix buffers come back, transferred,
// and later batches are read into them.

export interface WorkerInit {
  readonly collection: CollectionInit;
  readonly batchKeys: BatchKeysConfig;
  readonly sampler: SamplerOptions;
  readonly position: SamplerPosition;
  readonly workerId: number;
  readonly prefetch: number;
  readonly checkCounts: CheckCountsMode;
}

export type WorkerMessage =
  | { readonly type: "batch"; readonly values: Record<string, BatchValue> }
  /** The error's class name (errors.ts) and its one-line message. */
  | { readonly type: "error"; readonly name: string; readonly message: string };

/** From the main thread: a credit for one more batch, or buffers to read later batches into. */
export type MainMessage = "credit" | { readonly type: "recycle"; readonly buffers: ArrayBuffer[] };

const port = parentPort!;
const init = workerData as WorkerInit;
let credits = init.prefetch;
// Two matrix buffers (values, indices) for each batch in flight: read ahead, queued, in use.
const pool = new BufferPool(2 * (init.prefetch + 2));
let wake: (() => void) | undefined;
port.on("message", (message: MainMessage) => {
  if (message !== "credit") {
    pool.give(message.buffers);
    return;
  }
  credits++;
  wake?.();
  wake = undefined;
});

async function run(): Promise<void> {
  const collection = await DistributedAnnDataCollection.open(init.collection);
  try {
    const plan = planBatchKeys(init.batchKeys, collection.schema);
    for (const { indices } of workerBatches(init.sampler, init.position, init.workerId)) {
      while (credits === 0) await new Promise<void>((resolve) => (wake = resolve));
      credits--;
      const values = await readBatch(collection, plan, indices, init.checkCounts, pool);
      const message: WorkerMessage = { type: "batch", values };
      port.postMessage(message, transferables(values));
    }
  } finally {
    collection.close();
  }
}

/** The buffers of a batch's typed arrays, each once (readRows allocates them for this batch alone). */
function transferables(values: Record<string, BatchValue>): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>();
  const add = (array: ArrayBufferView) => buffers.add(array.buffer as ArrayBuffer);
  for (const value of Object.values(values)) {
    if (ArrayBuffer.isView(value)) add(value);
    else if (typeof value === "object" && !Array.isArray(value)) {
      add(value.data);
      if (value.format === "csr") {
        add(value.indptr);
        add(value.indices);
      }
    }
  }
  return [...buffers];
}

run().then(
  () => port.close(),
  (error: unknown) => {
    const { name, message } = error instanceof Error ? error : new Error(String(error));
    const report: WorkerMessage = { type: "error", name, message };
    port.postMessage(report);
    port.close();
  },
);
