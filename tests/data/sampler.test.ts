import assert from "node:assert/strict";
import { test } from "node:test";
import {
  batchesPerReplica,
  type IterationStrategy,
  type PlannedBatch,
  replicaBatches,
  type SamplerOptions,
  workerBatches,
} from "../../src/data/sampler.js";
import { ArgumentError } from "../../src/errors.js";

const start = { epoch: 0, batchesConsumed: 0 };
const strategies: IterationStrategy[] = ["same_order", "cache_efficient"];
const asLists = (batches: PlannedBatch[]) => batches.map((b) => [...b.indices]);
const workersOf = (batches: PlannedBatch[]) => batches.map((b) => b.workerId);
/** The epoch's order of all cells, read through the production path (one replica, one worker). */
const epochIndices = (options: SamplerOptions, epoch: number) =>
  Int32Array.from(replicaBatches(options, { epoch, batchesConsumed: 0 }).flatMap((b) => [...b.indices]));

// The tables of upstream's IterableDistributedAnnDataCollectionDataset.__iter__ docstring
// (cellarium/ml/data/dadc_dataset.py, examples 1-6), one shard, no shuffle.
test("upstream's documented examples: batches and workers per strategy", () => {
  const plan = (n: number, options: Partial<SamplerOptions>, rank = 0) =>
    replicaBatches({ limits: [n], batchSize: 2, ...options, replicaRank: rank }, start);
  // Example 1: 12 cells, batch 2, 3 workers.
  let b = plan(12, { numWorkers: 3, iterationStrategy: "same_order" });
  assert.deepEqual(asLists(b), [
    [0, 1],
    [2, 3],
    [4, 5],
    [6, 7],
    [8, 9],
    [10, 11],
  ]);
  assert.deepEqual(workersOf(b), [0, 1, 2, 0, 1, 2]);
  b = plan(12, { numWorkers: 3, iterationStrategy: "cache_efficient" });
  assert.deepEqual(asLists(b), [
    [0, 1],
    [4, 5],
    [8, 9],
    [2, 3],
    [6, 7],
    [10, 11],
  ]);
  assert.deepEqual(workersOf(b), [0, 1, 2, 0, 1, 2]);
  // Example 2: 11 cells, batch 2, 2 workers.
  b = plan(11, { numWorkers: 2, iterationStrategy: "same_order" });
  assert.deepEqual(asLists(b), [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9], [10]]);
  assert.deepEqual(workersOf(b), [0, 1, 0, 1, 0, 1]);
  b = plan(11, { numWorkers: 2, iterationStrategy: "cache_efficient" });
  assert.deepEqual(asLists(b), [[0, 1], [6, 7], [2, 3], [8, 9], [4, 5], [10]]);
  // Example 3: 8 cells, batch 3, 2 workers.
  b = plan(8, { batchSize: 3, numWorkers: 2, iterationStrategy: "same_order" });
  assert.deepEqual(asLists(b), [
    [0, 1, 2],
    [3, 4, 5],
    [6, 7],
  ]);
  assert.deepEqual(workersOf(b), [0, 1, 0]);
  b = plan(8, { batchSize: 3, numWorkers: 2, iterationStrategy: "cache_efficient" });
  assert.deepEqual(asLists(b), [
    [0, 1, 2],
    [6, 7],
    [3, 4, 5],
  ]);
  assert.deepEqual(workersOf(b), [0, 1, 0]);
  // Example 4: as 3 with dropIncompleteBatch.
  for (const iterationStrategy of strategies) {
    b = plan(8, { batchSize: 3, numWorkers: 2, dropIncompleteBatch: true, iterationStrategy });
    assert.deepEqual(asLists(b), [
      [0, 1, 2],
      [3, 4, 5],
    ]);
    assert.deepEqual(workersOf(b), [0, 1]);
  }
  // Example 5: 11 cells, 2 replicas, dropLastIndices.
  const five = { numReplicas: 2, dropLastIndices: true };
  assert.deepEqual(asLists(plan(11, { ...five, iterationStrategy: "same_order" }, 0)), [[0, 2], [4, 6], [8]]);
  assert.deepEqual(asLists(plan(11, { ...five, iterationStrategy: "same_order" }, 1)), [[1, 3], [5, 7], [9]]);
  assert.deepEqual(asLists(plan(11, { ...five, iterationStrategy: "cache_efficient" }, 0)), [
    [0, 1],
    [2, 3],
    [4],
  ]);
  assert.deepEqual(asLists(plan(11, { ...five, iterationStrategy: "cache_efficient" }, 1)), [
    [5, 6],
    [7, 8],
    [9],
  ]);
  // Example 6: 11 cells, 2 replicas, padding.
  const six = { numReplicas: 2 };
  assert.deepEqual(asLists(plan(11, { ...six, iterationStrategy: "same_order" }, 0)), [
    [0, 2],
    [4, 6],
    [8, 10],
  ]);
  assert.deepEqual(asLists(plan(11, { ...six, iterationStrategy: "same_order" }, 1)), [
    [1, 3],
    [5, 7],
    [9, 0],
  ]);
  assert.deepEqual(asLists(plan(11, { ...six, iterationStrategy: "cache_efficient" }, 0)), [
    [0, 1],
    [2, 3],
    [4, 5],
  ]);
  assert.deepEqual(asLists(plan(11, { ...six, iterationStrategy: "cache_efficient" }, 1)), [
    [6, 7],
    [8, 9],
    [10, 0],
  ]);
});

/** Every configuration of a small grid, with its replicas' plans. */
function* grid(): Generator<{ options: SamplerOptions; plans: PlannedBatch[][] }> {
  for (const limits of [
    [3, 6, 9, 12],
    [4, 8, 11],
    [5, 7, 20, 23],
  ]) {
    for (const [startIdx, endIdx] of [
      [0, undefined],
      [2, 10],
    ]) {
      for (const iterationStrategy of strategies) {
        for (const shuffle of [false, true]) {
          for (const numReplicas of [1, 2, 3]) {
            for (const numWorkers of [1, 2, 3]) {
              for (const batchSize of [1, 2, 3, 5]) {
                for (const dropLastIndices of [false, true]) {
                  for (const dropIncompleteBatch of [false, true]) {
                    const options: SamplerOptions = {
                      limits,
                      startIdx,
                      endIdx,
                      iterationStrategy,
                      shuffle,
                      shuffleSeed: 4,
                      numReplicas,
                      numWorkers,
                      batchSize,
                      dropLastIndices,
                      dropIncompleteBatch,
                    };
                    const plans = Array.from({ length: numReplicas }, (_, replicaRank) =>
                      replicaBatches({ ...options, replicaRank }, { epoch: 1, batchesConsumed: 0 }),
                    );
                    yield { options, plans };
                  }
                }
              }
            }
          }
        }
      }
    }
  }
}

test("across replicas and workers an epoch covers every cell once, padding or dropping as upstream counts", () => {
  for (const { options, plans } of grid()) {
    const lo = options.startIdx!;
    const n = (options.endIdx ?? options.limits.at(-1)!) - lo;
    const replicas = options.numReplicas!;
    const batchSize = options.batchSize;
    // Upstream's expected cells per replica (tests/dataloader/test_dataset.py, multi-device test).
    let perReplica =
      options.dropLastIndices && n % replicas !== 0 ? Math.floor(n / replicas) : Math.ceil(n / replicas);
    if (options.dropIncompleteBatch) perReplica = Math.floor(perReplica / batchSize) * batchSize;
    const label = JSON.stringify(options);
    const counts = new Array<number>(n).fill(0);
    for (const plan of plans) {
      assert.equal(plan.length, batchesPerReplica(options), label);
      assert.deepEqual(
        plan.map((b) => b.step),
        plan.map((_, i) => i),
        label,
      );
      assert.equal(
        plan.reduce((sum, b) => sum + b.indices.length, 0),
        perReplica,
        label,
      );
      for (const batch of plan) {
        assert.ok(batch.indices.length <= batchSize && batch.indices.length > 0, label);
        if (options.dropIncompleteBatch) assert.equal(batch.indices.length, batchSize, label);
        for (const cell of batch.indices) counts[cell - lo]!++;
      }
    }
    const dropsNothing = !options.dropIncompleteBatch && (!options.dropLastIndices || n % replicas === 0);
    if (dropsNothing) {
      // Padding repeats ceil(n / R) * R - n cells; without it every cell appears exactly once.
      assert.ok(
        counts.every((c) => c >= 1),
        label,
      );
      if (n % replicas === 0)
        assert.ok(
          counts.every((c) => c === 1),
          label,
        );
    } else if (!options.dropIncompleteBatch) {
      // dropLastIndices: fewer than R cells are left out, none repeated.
      assert.ok(
        counts.every((c) => c <= 1),
        label,
      );
      assert.ok(counts.filter((c) => c === 0).length < replicas, label);
    }
  }
});

test("same_order without shuffle yields the cells in order, whatever the number of workers", () => {
  for (const numWorkers of [1, 2, 3, 4]) {
    const plan = replicaBatches(
      { limits: [4, 8, 11], batchSize: 3, numWorkers, iterationStrategy: "same_order" },
      start,
    );
    assert.deepEqual(
      plan.flatMap((b) => [...b.indices]),
      Array.from({ length: 11 }, (_, i) => i),
    );
  }
});

test("shuffling permutes shards, then cells within each shard, seeded by shuffleSeed + epoch", () => {
  const limits = [5, 12, 20, 26, 40];
  const options: SamplerOptions = { limits, batchSize: 4, shuffle: true, shuffleSeed: 10 };
  const e0 = epochIndices(options, 0);
  // A permutation of all cells...
  assert.deepEqual(
    [...e0].sort((a, b) => a - b),
    Array.from({ length: 40 }, (_, i) => i),
  );
  // ...in which each shard's cells form one contiguous run.
  const shardOf = (cell: number) => limits.findIndex((limit) => cell < limit);
  const runs = [...e0].filter((cell, i) => i === 0 || shardOf(cell) !== shardOf(e0[i - 1]!)).map(shardOf);
  assert.equal(runs.length, limits.length);
  assert.equal(new Set(runs).size, limits.length);
  assert.deepEqual(epochIndices(options, 0), e0, "same seed and epoch, same order");
  assert.notDeepEqual(epochIndices(options, 1), e0, "another epoch, another order");
  assert.deepEqual(epochIndices({ ...options, shuffleSeed: 9 }, 1), e0, "the seed is shuffleSeed + epoch");
  assert.deepEqual(
    [...epochIndices({ ...options, shuffle: false }, 3)],
    Array.from({ length: 40 }, (_, i) => i),
  );
});

test("cache_efficient keeps each worker within a few shards", () => {
  // 20 shards of 50 cells, 4 workers x 2 replicas: each worker owns 125 consecutive cells of the
  // shuffled order, so it touches at most ceil(125 / 50) + 1 = 4 shards; under same_order a
  // worker's batches are spread over its replica's whole epoch.
  const limits = Array.from({ length: 20 }, (_, k) => 50 * (k + 1));
  const shardsTouched = (batches: PlannedBatch[]) =>
    new Set(batches.flatMap((b) => [...b.indices].map((cell) => Math.floor(cell / 50)))).size;
  for (const iterationStrategy of strategies) {
    let most = 0;
    for (let replicaRank = 0; replicaRank < 2; replicaRank++) {
      for (let workerId = 0; workerId < 4; workerId++) {
        const options: SamplerOptions = {
          limits,
          batchSize: 25,
          shuffle: true,
          numReplicas: 2,
          replicaRank,
          numWorkers: 4,
          iterationStrategy,
        };
        const touched = shardsTouched(workerBatches(options, { epoch: 2, batchesConsumed: 0 }, workerId));
        most = Math.max(most, touched);
      }
    }
    if (iterationStrategy === "cache_efficient") assert.ok(most <= 4, `a worker touched ${most} shards`);
    else assert.ok(most > 4, `same_order: at most ${most} shards per worker`);
  }
});

test("resuming from a position skips exactly the consumed batches", () => {
  for (const iterationStrategy of strategies) {
    for (const numWorkers of [1, 2, 3, 4]) {
      const options: SamplerOptions = {
        limits: [7, 15, 30],
        batchSize: 2,
        shuffle: true,
        numWorkers,
        numReplicas: 2,
        replicaRank: 1,
        iterationStrategy,
      };
      const full = replicaBatches(options, { epoch: 3, batchesConsumed: 0 });
      for (let k = 0; k <= full.length; k++) {
        assert.deepEqual(replicaBatches(options, { epoch: 3, batchesConsumed: k }), full.slice(k));
        const forWorker = (w: number) => full.slice(k).filter((b) => b.workerId === w);
        for (let w = 0; w < numWorkers; w++) {
          assert.deepEqual(workerBatches(options, { epoch: 3, batchesConsumed: k }, w), forWorker(w));
        }
      }
      assert.throws(
        () => replicaBatches(options, { epoch: 3, batchesConsumed: full.length + 1 }),
        ArgumentError,
      );
    }
  }
});

test("invalid sampler options are ArgumentErrors naming the option", () => {
  const bad: [Partial<SamplerOptions>, RegExp][] = [
    [{ batchSize: 0 }, /batchSize/],
    [{ limits: [] }, /limits/],
    [{ limits: [5, 5] }, /limits\[1\]/],
    [{ replicaRank: 2, numReplicas: 2 }, /replicaRank/],
    [{ numWorkers: 0 }, /numWorkers/],
    [{ startIdx: 4, endIdx: 4 }, /endIdx/],
    [{ endIdx: 11 }, /endIdx/],
    [{ iterationStrategy: "random" as IterationStrategy }, /iterationStrategy/],
  ];
  for (const [options, message] of bad) {
    assert.throws(
      () => replicaBatches({ limits: [10], batchSize: 2, ...options }, start),
      (e: unknown) => e instanceof ArgumentError && message.test(e.message),
    );
  }
  assert.throws(
    () => replicaBatches({ limits: [10], batchSize: 2 }, { epoch: -1, batchesConsumed: 0 }),
    /epoch/,
  );
  assert.throws(() => workerBatches({ limits: [10], batchSize: 2, numWorkers: 2 }, start, 2), /workerId/);
});
