import { parentPort, workerData } from "node:worker_threads";
import { reportError } from "../errors.js";
import type { BatchValue } from "./batch.js";
import { planBatchKeys } from "./batch-keys.js";
import { BufferPool } from "./buffer-pool.js";
import { type CollectionInit, DistributedAnnDataCollection } from "./collection.js";
import type { MainMessage, OpenRequest, WorkerInit, WorkerMessage } from "./loader-protocol.js";
import { postedValues, readBatch } from "./read-batch.js";
import { type SamplerPosition, workerBatches } from "./sampler.js";

// A read-ahead worker of DataLoader (loader.ts; the main thread's side is read-ahead-workers.ts, the
// messages loader-protocol.ts). It reopens the loader's collection (open files belong to one thread)
// and serves the loader's epochs: for each "epoch" message it reads its share of that epoch's
// batches, in the order the main thread will ask for them, and posts each one with its buffers
// transferred (no copy), tagged with the epoch's run number. A newer "epoch" message supersedes an
// unfinished one (the consumer stopped early). It stays at most `prefetch` batches ahead: the main
// thread returns one credit per batch it hands out. Once the consumer is done with a batch
// (DataLoader.release), its matrix buffers come back, transferred, and later batches are read into
// them. The worker runs until the loader terminates it. A worker started ahead may first be asked
// to open the collection for the main thread ("open"): it sends back what the main thread needs to
// reopen it without reading a file (so that thread need not load h5wasm at all), and keeps the open
// collection for its own init. h5wasm is loaded only for a file the direct reader does not take
// (formats/hdf5/tree.ts).

interface Job {
  readonly run: number;
  readonly position: SamplerPosition;
  credits: number;
}

const port = parentPort!;
let init = workerData as WorkerInit | null;
let openRequest: OpenRequest | undefined;
/** The collection opened for the main thread, kept for the init that follows. */
let opened: DistributedAnnDataCollection | undefined;
let pool: BufferPool | undefined;
let job: Job | undefined;
let wake: (() => void) | undefined;
port.on("message", (message: MainMessage) => {
  if (message.type === "open") openRequest = message.request;
  else if (message.type === "init") init = message.init;
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

/** Opens the collection the main thread asked for and answers with its init and first cell. */
async function openForMainThread(request: OpenRequest): Promise<void> {
  opened?.close();
  opened = await DistributedAnnDataCollection.open(request.collection);
  const plan = planBatchKeys(request.batchKeys, opened.schema);
  const firstCell = await opened.readRows(Int32Array.of(0), plan.request);
  const varColumns = request.varColumns ? await opened.varColumns() : null;
  const message: WorkerMessage = { type: "opened", init: opened.init(), firstCell, varColumns };
  port.postMessage(message);
}

function sameCollection(a: CollectionInit, b: CollectionInit): boolean {
  const equal = (x: readonly unknown[], y: readonly unknown[]) =>
    x.length === y.length && x.every((value, k) => value === y[k]);
  return equal(a.filenames, b.filenames) && equal(a.limits, b.limits);
}

async function serve(): Promise<void> {
  while (init === null) {
    const request = openRequest;
    openRequest = undefined;
    if (request === undefined) await nextMessage();
    else await openForMainThread(request);
  }
  const config = init;
  // Two matrix buffers (values, indices) for each batch in flight: read ahead, queued, in use.
  pool = new BufferPool(2 * (config.prefetch + 2));
  const reuse = opened !== undefined && sameCollection(opened.init(), config.collection);
  if (!reuse) opened?.close();
  const collection = reuse ? opened! : DistributedAnnDataCollection.reopen(config.collection);
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
  const report: WorkerMessage = { type: "error", error: reportError(error) };
  port.postMessage(report);
  port.close();
});
