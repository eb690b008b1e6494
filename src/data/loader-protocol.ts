// The messages between DataLoader's main thread (read-ahead-workers.ts) and its read-ahead workers
// (loader-worker.ts): the worker's init, the epochs and credits the main thread sends, the batches
// and errors the worker posts back, and the buffers that go back and forth for reuse.

import type { ErrorReport } from "../errors.js";
import type { DataFrameColumn } from "../formats/h5ad/dataframe.js";
import type { BatchValue } from "./batch.js";
import type { BatchKeysConfig } from "./batch-keys.js";
import type { CollectionInit, CollectionOptions, Rows } from "./collection.js";
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
  /** The answer to "open": the collection to reopen, its first cell, and var's columns if asked. */
  | {
      readonly type: "opened";
      readonly init: CollectionInit;
      readonly firstCell: Rows;
      readonly varColumns: Map<string, DataFrameColumn> | null;
    }
  /** What ended the worker (errors.ts reportError). */
  | { readonly type: "error"; readonly error: ErrorReport };

/** What a worker started ahead of its loader opens for the main thread (openInReadAheadWorker). */
export interface OpenRequest {
  readonly collection: CollectionOptions;
  readonly batchKeys: BatchKeysConfig;
  readonly varColumns: boolean;
}

/**
 * From the main thread: a collection to open (to a worker started ahead of its loader, which then
 * keeps it for its init), what to read (to a worker started ahead of its loader, without
 * workerData), an epoch to read, a credit for one more batch of it, or buffers to reuse.
 */
export type MainMessage =
  | { readonly type: "open"; readonly request: OpenRequest }
  | { readonly type: "init"; readonly init: WorkerInit }
  | { readonly type: "epoch"; readonly run: number; readonly position: SamplerPosition }
  | { readonly type: "credit"; readonly run: number }
  | { readonly type: "recycle"; readonly buffers: ArrayBuffer[] };
