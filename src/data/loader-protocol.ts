// The messages between DataLoader's main thread (read-ahead-workers.ts) and its read-ahead workers
// (loader-worker.ts): the worker's init, the epochs and credits the main thread sends, the batches
// and errors the worker posts back, and the buffers that go back and forth for reuse.

import type { BatchValue } from "./batch.js";
import type { BatchKeysConfig } from "./batch-keys.js";
import type { CollectionInit } from "./collection.js";
import type { SamplerOptions, SamplerPosition } from "./sampler.js";

export interface WorkerInit {
  readonly collection: CollectionInit;
  readonly batchKeys: BatchKeysConfig;
  readonly sampler: SamplerOptions;
  readonly workerId: number;
  readonly prefetch: number;
}

export type WorkerMessage =
  | {
      readonly type: "batch";
      readonly run: number;
      readonly values: Record<string, BatchValue>;
      /** Keys of deferred dense blocks (matrix.ts), posted as their CSR forms: see postedValues. */
      readonly deferred: string[];
    }
  /** The error's class name (errors.ts) and its one-line message. */
  | { readonly type: "error"; readonly name: string; readonly message: string };

/**
 * From the main thread: what to read (to a worker started ahead of its loader, without workerData),
 * an epoch to read, a credit for one more batch of it, or buffers to reuse.
 */
export type MainMessage =
  | { readonly type: "init"; readonly init: WorkerInit }
  | { readonly type: "epoch"; readonly run: number; readonly position: SamplerPosition }
  | { readonly type: "credit"; readonly run: number }
  | { readonly type: "recycle"; readonly buffers: ArrayBuffer[] };
