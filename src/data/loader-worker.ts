import { parentPort, workerData } from "node:worker_threads";
import { initH5wasm } from "../formats/h5ad/h5wasm.js";
import type { BatchValue } from "./batch.js";
import { planBatchKeys } from "./batch-keys.js";
import { BufferPool } from "./buffer-pool.js";
import { DistributedAnnDataCollection } from "./collection.js";
import type { MainMessage, WorkerInit, WorkerMessage } from "./loader-protocol.js";
import { postedValues, readBatch } from "./read-batch.js";
import { type SamplerPosition, workerBatches } from "./sampler.js";

// A read-ahead worker of DataLoader (loader.ts; the main thread's side is read-ahead-workers.ts, the
// messages loader-protocol.ts). It reopens the loader's collection (h5wasm's module belongs to one
// thread) and serves the loader's epochs: for each "epoch" message it reads its share of that epoch's
// batches, in the order the main thread will ask for them, and posts each one with its buffers
// transferred (no copy), tagged with the epoch's run number. A newer "epoch" message supersedes an
// unfinished one (the consumer stopped early). It stays at most `prefetch` batches ahead: the main
// thread returns one credit per batch it hands out. Once the consumer is done with a batch
// (DataLoader.release), its matrix buffers come back, transferred, and later batches are read into
// them. The worker runs until the loader terminates it.

interface Job {
  readonly run: number;
  readonly position: SamplerPosition;
  credits: number;
}

const port = parentPort!;
// h5wasm's compilation starts now, while a worker started ahead (prestartReadAheadWorkers) waits
// for its loader.
const h5wasmReady = initH5wasm();
let init = workerData as WorkerInit | null;
let pool: BufferPool | undefined;
let job: Job | undefined;
let wake: (() => void) | undefined;
port.on("message", (message: MainMessage) => {
  if (message.type === "init") init = message.init;
  else if (message.type === "recycle") {
    pool?.give(message.buffers);
    return;
  } else if (message.type === "epoch")
    job = { run: message.run, position: message.position, credits: init!.prefetch };
  else if (message.type === "credit" && job?.run === message.run) job.credits++;
  wake?.();
  wake = undefined;
});
const nextMessage = () => new Promise<void>((resolve) => (wake = resolve));

async function serve(): Promise<void> {
  while (init === null) await nextMessage();
  const config = init;
  // Two matrix buffers (values, indices) for each batch in flight: read ahead, queued, in use.
  pool = new BufferPool(2 * (config.prefetch + 2));
  await h5wasmReady;
  const collection = DistributedAnnDataCollection.reopen(config.collection);
  try {
    const plan = planBatchKeys(config.batchKeys, collection.schema);
    for (;;) {
      while (job === undefined) await nextMessage();
      const current = job;
      for (const { indices } of workerBatches(config.sampler, current.position, config.workerId)) {
        while (current.credits === 0 && job === current) await nextMessage();
        if (job !== current) break;
        current.credits--;
        const { values, deferred } = postedValues(await readBatch(collection, plan, indices, pool!));
        const message: WorkerMessage = { type: "batch", run: current.run, values, deferred };
        port.postMessage(message, transferables(values));
      }
      if (job === current) job = undefined;
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

serve().catch((error: unknown) => {
  const { name, message } = error instanceof Error ? error : new Error(String(error));
  const report: WorkerMessage = { type: "error", name, message };
  port.postMessage(report);
  port.close();
});
