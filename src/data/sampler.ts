// Which cells go into which batch, for one epoch of one replica: the index logic of upstream's
// IterableDistributedAnnDataCollectionDataset.__iter__ (cellarium/ml/data/dadc_dataset.py) and
// of the order in which torch's DataLoader hands out its workers' batches. Pure functions of the
// options and a position, so that every replica and worker thread computes the same plan.
//
// The rules, each as upstream has it:
// 1. Cells [startIdx, endIdx) of the collection, n = endIdx - startIdx.
// 2. Shuffle (upstream: torch.Generator seeded with shuffle_seed + epoch): shards (the pieces of
//    [startIdx, endIdx) cut at the collection's limits) in a random order, then the cells of each
//    shard in a random order, shard after shard, so that consecutive cells come from one shard and
//    a reader's shard cache stays small. We draw from our Philox Generator seeded with
//    shuffleSeed + epoch (shard order first, then each shard's order in the order shards are
//    visited), so orders are reproducible here but differ from torch's randperm streams.
// 3. Even split across replicas: per_replica = floor(n / R) when dropLastIndices and R does not
//    divide n (the tail of the epoch order is dropped), else ceil(n / R), the epoch order being
//    padded by repeating it from its start (Lightning's DistributedSampler does the same).
// 4. same_order: replica r takes every R-th index from position r; its batches are consecutive
//    chunks of batchSize, and worker w makes chunks w, w + W, w + 2W, ... so the replica sees
//    the same sequence whatever the number of workers.
//    cache_efficient: replica r takes the r-th contiguous block of per_replica indices; worker w
//    takes the w-th contiguous block of ceil(batches_per_replica / W) * batchSize of those, so each
//    worker reads few shards.
// 5. dropIncompleteBatch drops a chunk shorter than batchSize (each worker's last one, at most).
// 6. The replica yields its workers' batches round-robin (worker 0's first, worker 1's first,
//    ..., worker 0's second, ...), skipping workers that have run out, as torch's DataLoader does.
// 7. Resume: a position {epoch, batchesConsumed} skips exactly the first batchesConsumed batches
//    of that sequence. Upstream instead rotates worker ids by the consumed count and skips by the
//    formula worker_batch_idx * W + worker_id; the two agree for W <= 2, and for more workers ours
//    keeps the uninterrupted run's order (which is what upstream's resume tests check).

import { ArgumentError } from "../errors.js";
import { Generator } from "../tensor/random.js";

export type IterationStrategy = "same_order" | "cache_efficient";

export interface SamplerOptions {
  /** Cumulative shard ends (upstream's dadc.limits): shard k holds cells [limits[k-1], limits[k]). */
  readonly limits: readonly number[];
  readonly batchSize: number;
  /** Default "cache_efficient", upstream's. */
  readonly iterationStrategy?: IterationStrategy;
  /** Default false. */
  readonly shuffle?: boolean;
  /** Default 0; the epoch's order is seeded with shuffleSeed + epoch. */
  readonly shuffleSeed?: number;
  /** Default false: pad to a multiple of numReplicas instead of dropping the tail. */
  readonly dropLastIndices?: boolean;
  /** Default false. */
  readonly dropIncompleteBatch?: boolean;
  /** Default 0. */
  readonly startIdx?: number;
  /** Default: the last limit (all cells). Exclusive. */
  readonly endIdx?: number;
  /** Default 1. */
  readonly numReplicas?: number;
  /** Default 0. */
  readonly replicaRank?: number;
  /** Default 1; upstream's num_workers = 0 (loading in the main process) counts as one worker. */
  readonly numWorkers?: number;
}

/** Where an interrupted run resumes: batches of this replica already consumed in `epoch`. */
export interface SamplerPosition {
  readonly epoch: number;
  readonly batchesConsumed: number;
}

export interface PlannedBatch {
  /** Position of the batch in the replica's sequence for the epoch, counting from 0. */
  readonly step: number;
  /** The worker that reads it (the owner of its block of cells under cache_efficient). */
  readonly workerId: number;
  /** Global cell indices; views into one buffer per epoch, never to be written. */
  readonly indices: Int32Array;
}

interface Resolved {
  readonly limits: readonly number[];
  readonly batchSize: number;
  readonly strategy: IterationStrategy;
  readonly shuffle: boolean;
  readonly shuffleSeed: number;
  readonly dropLastIndices: boolean;
  readonly dropIncompleteBatch: boolean;
  readonly start: number;
  readonly end: number;
  readonly replicas: number;
  readonly rank: number;
  readonly workers: number;
  readonly perReplica: number;
}

function checkInteger(name: string, value: number, min: number, max = Number.MAX_SAFE_INTEGER): void {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new ArgumentError(`sampler: ${name} must be an integer in [${min}, ${max}], got ${value}`);
  }
}

function resolve(options: SamplerOptions): Resolved {
  const { limits, batchSize } = options;
  if (limits.length === 0) throw new ArgumentError("sampler: limits must list at least one shard end");
  for (let k = 0; k < limits.length; k++) {
    checkInteger(`limits[${k}]`, limits[k]!, k === 0 ? 1 : limits[k - 1]! + 1);
  }
  const nObs = limits[limits.length - 1]!;
  checkInteger("batchSize", batchSize, 1);
  const start = options.startIdx ?? 0;
  const end = options.endIdx ?? nObs;
  checkInteger("startIdx", start, 0, nObs - 1);
  checkInteger("endIdx", end, start + 1, nObs);
  const replicas = options.numReplicas ?? 1;
  checkInteger("numReplicas", replicas, 1);
  const rank = options.replicaRank ?? 0;
  checkInteger("replicaRank", rank, 0, replicas - 1);
  const workers = options.numWorkers ?? 1;
  checkInteger("numWorkers", workers, 1);
  const shuffleSeed = options.shuffleSeed ?? 0;
  checkInteger("shuffleSeed", shuffleSeed, 0);
  const strategy = options.iterationStrategy ?? "cache_efficient";
  if (strategy !== "same_order" && strategy !== "cache_efficient") {
    throw new ArgumentError(
      `sampler: iterationStrategy must be same_order or cache_efficient, got ${strategy}`,
    );
  }
  const dropLastIndices = options.dropLastIndices ?? false;
  const n = end - start;
  const perReplica =
    dropLastIndices && n % replicas !== 0 ? Math.floor(n / replicas) : Math.ceil(n / replicas);
  return {
    limits,
    batchSize,
    strategy,
    shuffle: options.shuffle ?? false,
    shuffleSeed,
    dropLastIndices,
    dropIncompleteBatch: options.dropIncompleteBatch ?? false,
    start,
    end,
    replicas,
    rank,
    workers,
    perReplica,
  };
}

/** Batches each replica yields per epoch (upstream's len(dataset)). */
export function batchesPerReplica(options: SamplerOptions): number {
  return perEpoch(resolve(options));
}

function perEpoch({ perReplica, batchSize, dropIncompleteBatch }: Resolved): number {
  return dropIncompleteBatch ? Math.floor(perReplica / batchSize) : Math.ceil(perReplica / batchSize);
}

/**
 * The epoch's order of all replicas' indices (rules 1-3): length per_replica * numReplicas, the
 * (shuffled) cells of [startIdx, endIdx), cut or padded.
 */
function epochOrder(r: Resolved, epoch: number): Int32Array {
  checkInteger("epoch", epoch, 0);
  const n = r.end - r.start;
  const total = r.perReplica * r.replicas;
  const out = new Int32Array(total);
  const kept = Math.min(n, total);
  if (r.shuffle) {
    // Shard pieces of [start, end): cut at the limits strictly inside it.
    const cuts = [r.start, ...r.limits.filter((limit) => limit > r.start && limit < r.end), r.end];
    const generator = new Generator(r.shuffleSeed + epoch);
    const shardOrder = generator.permutation(cuts.length - 1);
    let q = 0;
    for (let s = 0; s < shardOrder.length && q < kept; s++) {
      const lower = cuts[shardOrder[s]!]!;
      const cells = generator.permutation(cuts[shardOrder[s]! + 1]! - lower);
      for (let i = 0; i < cells.length && q < kept; i++) out[q++] = lower + cells[i]!;
    }
  } else {
    for (let q = 0; q < kept; q++) out[q] = r.start + q;
  }
  // Padding repeats the order from its start, as many times as needed.
  for (let q = n; q < total; q++) out[q] = out[q - n]!;
  return out;
}

/** Chunks [from, to) of `indices` into batches, dropping a short last one when asked. */
function chunk(indices: Int32Array, from: number, to: number, r: Resolved): Int32Array[] {
  const out: Int32Array[] = [];
  for (let b = from; b < to; b += r.batchSize) {
    const e = Math.min(b + r.batchSize, to);
    if (r.dropIncompleteBatch && e - b < r.batchSize) break;
    out.push(indices.subarray(b, e));
  }
  return out;
}

/** Each worker's batches in its own order (rules 4-5). */
function workerLists(r: Resolved, order: Int32Array): Int32Array[][] {
  const lists: Int32Array[][] = Array.from({ length: r.workers }, () => []);
  if (r.strategy === "same_order") {
    let replica = order;
    if (r.replicas > 1) {
      replica = new Int32Array(r.perReplica);
      for (let i = 0; i < r.perReplica; i++) replica[i] = order[r.rank + i * r.replicas]!;
    }
    chunk(replica, 0, r.perReplica, r).forEach((batch, c) => {
      lists[c % r.workers]!.push(batch);
    });
    return lists;
  }
  const replica = order.subarray(r.rank * r.perReplica, (r.rank + 1) * r.perReplica);
  const perWorker = Math.ceil(perEpoch(r) / r.workers) * r.batchSize;
  for (let w = 0; w < r.workers; w++) {
    const from = Math.min(w * perWorker, r.perReplica);
    lists[w] = chunk(replica, from, Math.min(from + perWorker, r.perReplica), r);
  }
  return lists;
}

/**
 * The batches this replica yields in the position's epoch, in order (rule 6), without the
 * first `batchesConsumed` (rule 7).
 */
export function replicaBatches(options: SamplerOptions, position: SamplerPosition): PlannedBatch[] {
  const r = resolve(options);
  const lists = workerLists(r, epochOrder(r, position.epoch));
  const total = perEpoch(r);
  checkInteger("batchesConsumed", position.batchesConsumed, 0, total);
  const out: PlannedBatch[] = [];
  let step = 0;
  for (let round = 0; step < total; round++) {
    for (let w = 0; w < r.workers; w++) {
      const indices = lists[w]![round];
      if (indices === undefined) continue;
      if (step >= position.batchesConsumed) out.push({ step, workerId: w, indices });
      step++;
    }
  }
  return out;
}

/** The part of replicaBatches that worker `workerId` reads, in the order the replica yields it. */
export function workerBatches(
  options: SamplerOptions,
  position: SamplerPosition,
  workerId: number,
): PlannedBatch[] {
  checkInteger("workerId", workerId, 0, (options.numWorkers ?? 1) - 1);
  return replicaBatches(options, position).filter((batch) => batch.workerId === workerId);
}
