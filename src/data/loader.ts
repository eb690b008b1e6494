import { ArgumentError } from "../errors.js";
import type { Batch, BatchValue } from "./batch.js";
import { type BatchKeyPlan, type BatchKeysConfig, planBatchKeys } from "./batch-keys.js";
import { BufferPool } from "./buffer-pool.js";
import type { DistributedAnnDataCollection } from "./collection.js";
import type { WorkerInit } from "./loader-protocol.js";
import { ReadAheadWorkers } from "./read-ahead-workers.js";
import { matrixBuffers, readBatch } from "./read-batch.js";
import {
  batchesPerReplica,
  type IterationStrategy,
  replicaBatches,
  type SamplerOptions,
  type SamplerPosition,
} from "./sampler.js";

// Streams a collection's batches for one replica (upstream: IterableDistributedAnnDataCollectionDataset
// in a torch DataLoader, cellarium/ml/data/dadc_dataset.py and core/datamodule.py). The order is
// the sampler's plan (sampler.ts). numWorkers = 0 reads in the calling thread; numWorkers >= 1
// reads in that many worker threads, each reading its own planned batches ahead (`prefetch` per
// worker, torch's prefetch_factor), and the batches are yielded in the plan's order. The workers
// start with the first epoch and serve the next ones too (starting one costs ~0.15 s: a thread, its
// own h5wasm, the collection's schema), as torch's persistent_workers; close() ends them. An epoch
// the consumer leaves early (break / return()) is abandoned by its workers at the next epoch.
// Transforms are not applied here: the trainer composes them. A consumer that calls
// release(batch) when it is done with a batch lets later batches be read into the same memory
// (buffer-pool.ts).

/**
 * {@link DataLoader}'s options: upstream's data arguments camelCased (`batch_size` is `batchSize`,
 * `shuffle_seed` is `shuffleSeed`, `num_workers` is `numWorkers`, ...).
 */
export interface DataLoaderOptions {
  readonly batchKeys: BatchKeysConfig;
  readonly batchSize: number;
  /** Default false. */
  readonly shuffle?: boolean;
  /** Default 0; epoch e is shuffled with seed shuffleSeed + e. */
  readonly shuffleSeed?: number;
  /** Default false. */
  readonly dropLastIndices?: boolean;
  /** Default false. */
  readonly dropIncompleteBatch?: boolean;
  /** Default "cache_efficient", upstream's. */
  readonly iterationStrategy?: IterationStrategy;
  /** Default 1. */
  readonly numReplicas?: number;
  /** Default 0. */
  readonly replicaRank?: number;
  /** Read-ahead worker threads; default 0 (read in the calling thread). */
  readonly numWorkers?: number;
  /** Batches each worker reads ahead; default 2 (torch's prefetch_factor). */
  readonly prefetch?: number;
  readonly startIdx?: number;
  readonly endIdx?: number;
}

/** Spare matrix buffers of a loader reading in the calling thread: two batches' worth. */
const CALLER_POOL_CAPACITY = 4;

/** A batch handed out: its matrix buffers, and the worker that read it (none: the calling thread). */
interface Loan {
  readonly buffers: ArrayBuffer[];
  /** The batch's global cell indices, to name a cell in an error. */
  readonly indices: Int32Array;
  readonly workers?: ReadAheadWorkers;
  readonly workerId?: number;
}

/**
 * Mini-batches of a {@link DistributedAnnDataCollection} (upstream's
 * DistributedAnnDataCollectionDataset with torch's DataLoader): `batchKeys` say what each batch
 * holds (X, a layer, obs columns, var names, with upstream's convert_fn). With `shuffle`, shards
 * come in a random order and the cells of each shard in a random order, so that a reader's shard
 * cache stays small (upstream's rules, seeded by shuffleSeed + epoch); batches can be split
 * across replicas and read ahead by `numWorkers` worker threads. The Trainer consumes it;
 * iterate it yourself with `epochBatches()`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DataLoader, DistributedAnnDataCollection } from "cellarium-ts/node";
 *
 * const dadc = await DistributedAnnDataCollection.open({ filenames: "examples/data/demo_{0..1}.h5ad" });
 * const loader = new DataLoader(dadc, {
 *   batchKeys: { x_ng: { attr: "X" }, var_names_g: { attr: "var_names" }, obs_names_n: { attr: "obs_names" } },
 *   batchSize: 250, // a batch stays within a shard (maxCacheSize 1)
 *   shuffle: true,
 * });
 * let cells = 0;
 * for await (const batch of loader.epochBatches({ epoch: 0, batchesConsumed: 0 })) {
 *   cells += batch.x_ng.nRows;
 *   loader.release(batch); // its buffers may be reused for the next batch
 * }
 * assert.equal(cells, 2000);
 * assert.equal(loader.batchesPerEpoch, 8);
 * await loader.close();
 * dadc.close();
 * ```
 */
export class DataLoader {
  readonly numWorkers: number;
  readonly prefetch: number;
  /** Every batch is read into arrays of its own (BatchSource.ownsBatches). */
  readonly ownsBatches = true;
  /** Every matrix was checked as it was read (src/data/check-block.ts; BatchSource.checked). */
  readonly checked = true;
  private readonly sampler: SamplerOptions;
  private readonly plan: BatchKeyPlan;
  private readonly pool = new BufferPool(CALLER_POOL_CAPACITY);
  private readonly loans = new WeakMap<Batch, Loan>();
  /** Worker sets serving an epoch now, and the one kept for the next epoch. */
  private readonly running = new Set<ReadAheadWorkers>();
  private idle: ReadAheadWorkers | undefined;

  constructor(
    readonly collection: DistributedAnnDataCollection,
    private readonly options: DataLoaderOptions,
  ) {
    this.numWorkers = options.numWorkers ?? 0;
    this.prefetch = options.prefetch ?? 2;
    for (const [name, value, min] of [
      ["numWorkers", this.numWorkers, 0],
      ["prefetch", this.prefetch, 1],
    ] as const) {
      if (!Number.isSafeInteger(value) || value < min) {
        throw new ArgumentError(`DataLoader: ${name} must be an integer >= ${min}, got ${value}`);
      }
    }
    this.sampler = {
      limits: collection.limits,
      batchSize: options.batchSize,
      ...pick(options, [
        "iterationStrategy",
        "shuffle",
        "shuffleSeed",
        "dropLastIndices",
        "dropIncompleteBatch",
        "startIdx",
        "endIdx",
        "numReplicas",
        "replicaRank",
      ]),
      // upstream's num_workers = 0 plans like one worker.
      numWorkers: Math.max(1, this.numWorkers),
    };
    this.plan = planBatchKeys(options.batchKeys, collection.schema);
    // Validates the sampler options now rather than at the first epoch.
    batchesPerReplica(this.sampler);
  }

  /** Batches this replica yields per epoch (upstream's len(dataset)). */
  get batchesPerEpoch(): number {
    return batchesPerReplica(this.sampler);
  }

  /** Worker threads currently running, between epochs too (until close()). */
  get liveWorkers(): number {
    let live = this.idle?.size ?? 0;
    for (const workers of this.running) live += workers.size;
    return live;
  }

  /** Ends the worker threads kept between epochs; a later epoch starts new ones. */
  async close(): Promise<void> {
    const idle = this.idle;
    this.idle = undefined;
    await idle?.close();
  }

  /**
   * The batches of `position.epoch` after the first `position.batchesConsumed`, in the plan's
   * order. Each batch holds exactly the batch_keys' names (typed as Batch: x_ng and var_names_g
   * are there when batch_keys name them, as every model's config does).
   */
  async *epochBatches(
    position: SamplerPosition = { epoch: 0, batchesConsumed: 0 },
  ): AsyncGenerator<Batch, void, undefined> {
    const planned = replicaBatches(this.sampler, position);
    if (this.numWorkers === 0) {
      for (const { indices } of planned) {
        yield this.lend(await readBatch(this.collection, this.plan, indices, this.pool), { indices });
      }
      return;
    }
    // Concurrent epochs of one loader (rare) each get their own workers.
    const workers = this.idle ?? new ReadAheadWorkers((workerId) => this.workerInit(workerId));
    this.idle = undefined;
    this.running.add(workers);
    try {
      workers.startEpoch([...new Set(planned.map((b) => b.workerId))], position);
      for (const { workerId, indices } of planned)
        yield this.lend(await workers.next(workerId), { indices, workers, workerId });
    } finally {
      this.running.delete(workers);
      if (workers.failed || this.idle !== undefined) await workers.close();
      else this.idle = workers;
    }
  }

  /**
   * Hands back a batch this loader yielded, once nothing will read its arrays again: its matrix
   * buffers (X's values and indices, ...) are reused for later batches. The batch's matrices are
   * detached (read as empty), so a late reader fails visibly instead of seeing another batch's
   * values. Batches not from this loader, or released before, are ignored.
   */
  release(batch: Batch): void {
    const loan = this.loans.get(batch);
    if (loan === undefined) return;
    this.loans.delete(batch);
    if (loan.workers?.recycle(loan.workerId!, loan.buffers)) return;
    // Detached all the same (a transfer to nobody); a batch read in this thread gives its memory
    // to this thread's pool, one from a stopped worker lets it go.
    const buffers = structuredClone(loan.buffers, { transfer: loan.buffers });
    if (loan.workers === undefined) this.pool.give(buffers);
  }

  /** The file and cell of row `row` of a batch this loader yielded and that is not yet released. */
  async placeOfRow(batch: Batch, row: number): Promise<{ file: string; cell: string } | undefined> {
    const index = this.loans.get(batch)?.indices[row];
    return index === undefined ? undefined : this.collection.placeOf(index);
  }

  /** The global cell indices of a batch this loader yielded and that is not yet released. */
  indicesOf(batch: Batch): Int32Array | undefined {
    return this.loans.get(batch)?.indices;
  }

  private workerInit(workerId: number): WorkerInit {
    return {
      collection: this.collection.init(),
      batchKeys: this.options.batchKeys,
      sampler: this.sampler,
      workerId,
      prefetch: this.prefetch,
    };
  }

  private lend(values: Record<string, BatchValue>, from: Omit<Loan, "buffers">): Batch {
    const batch = { ...this.plan.constants, ...values } as Batch;
    this.loans.set(batch, { buffers: matrixBuffers(values), ...from });
    return batch;
  }
}

function pick<T extends object, K extends keyof T>(source: T, keys: readonly K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const key of keys) if (source[key] !== undefined) out[key] = source[key];
  return out;
}
