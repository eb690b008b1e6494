import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import type { Batch } from "../../src/data/batch.js";
import { planBatchKeys } from "../../src/data/batch-keys.js";
import { DistributedAnnDataCollection } from "../../src/data/collection.js";
import { DataLoader, type DataLoaderOptions } from "../../src/data/loader.js";
import { openInReadAheadWorker, prestartReadAheadWorkers } from "../../src/data/prestarted-workers.js";
import { replicaBatches, type SamplerPosition } from "../../src/data/sampler.js";
import { errorFromReport, FileFormatError, reportError } from "../../src/errors.js";
import { AnnDataFile } from "../../src/formats/h5ad/reader.js";
import { denseRows, expectedRows, tempDir, writeShards } from "../helpers/shards.js";

// Worker tests start real worker threads (about a second each under tsx on a busy machine).
const WORKER_TIMEOUT = { timeout: 120_000 };

const dir = tempDir("loader-");
const paths = await writeShards(
  dir,
  [10, 12, 7].map((nObs) => ({ nObs })),
);
const keys = {
  x_ng: { attr: "X" },
  var_names_g: { attr: "var_names" },
  cell_id_n: { attr: "obs", key: "cell_id" },
} as const;

async function collect(loader: DataLoader, position?: SamplerPosition): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const batch of loader.epochBatches(position)) out.push(batch);
  return out;
}

/** One epoch of a loader used once: its workers end with it. */
async function collectOnce(loader: DataLoader): Promise<Batch[]> {
  try {
    return await collect(loader);
  } finally {
    await loader.close();
  }
}

const ids = (batch: Batch) => Array.from(batch.cell_id_n as Float32Array);

test("every cell once per epoch, in the sampler's plan, with rows equal to their closed form", async () => {
  const collection = await DistributedAnnDataCollection.open({ filenames: paths, maxCacheSize: 2 });
  for (const shuffle of [false, true]) {
    for (const iterationStrategy of ["same_order", "cache_efficient"] as const) {
      const options = { batchKeys: keys, batchSize: 4, shuffle, shuffleSeed: 3, iterationStrategy };
      const loader = new DataLoader(collection, options);
      const batches = await collect(loader, { epoch: 2, batchesConsumed: 0 });
      const plan = replicaBatches(
        { limits: collection.limits, ...options },
        { epoch: 2, batchesConsumed: 0 },
      );
      assert.equal(batches.length, loader.batchesPerEpoch);
      assert.deepEqual(
        batches.map(ids),
        plan.map((b) => [...b.indices]),
      );
      assert.deepEqual(
        batches.flatMap(ids).sort((a, b) => a - b),
        Array.from({ length: 29 }, (_, i) => i),
      );
      for (const batch of batches) {
        assert.deepEqual(denseRows(batch.x_ng), expectedRows(ids(batch)));
        assert.equal(batch.var_names_g.length, 12);
      }
    }
  }
  collection.close();
});

test("a replica's share with padding and an incomplete batch dropped", async () => {
  const collection = await DistributedAnnDataCollection.open({ filenames: paths, maxCacheSize: 2 });
  const options = {
    batchKeys: keys,
    batchSize: 4,
    iterationStrategy: "same_order",
    numReplicas: 2,
    replicaRank: 1,
    dropIncompleteBatch: true,
  } as const;
  const batches = await collect(new DataLoader(collection, options));
  const plan = replicaBatches({ limits: collection.limits, ...options }, { epoch: 0, batchesConsumed: 0 });
  assert.deepEqual(
    batches.map(ids),
    plan.map((b) => [...b.indices]),
  );
  for (const batch of batches) assert.deepEqual(denseRows(batch.x_ng), expectedRows(ids(batch)));
  collection.close();
});

test(
  "0, 1 and 2 read-ahead workers yield the plan's batches, equal to direct reads (demo data)",
  WORKER_TIMEOUT,
  async () => {
    const collection = await DistributedAnnDataCollection.open({
      filenames: "examples/data/demo_{0..1}.h5ad",
      maxCacheSize: 2,
    });
    // Direct reads of each shard, in global order.
    const names: string[] = [];
    const rows: number[][] = [];
    const codes: number[] = [];
    for (const path of collection.filenames) {
      const file = await AnnDataFile.open(path);
      names.push(...file.obsNames());
      rows.push(...denseRows(file.readX(0, file.nObs)));
      const column = file.obs.column("cell_type");
      if (column.kind === "categorical") codes.push(...column.codes);
      file.close();
    }
    const base: DataLoaderOptions = {
      batchKeys: {
        x_ng: { attr: "X" },
        y_n: { attr: "obs", key: "cell_type", convert_fn: "categories_to_codes" },
        obs_names_n: { attr: "obs_names" },
      },
      batchSize: 300,
      shuffle: true,
      shuffleSeed: 1,
    };
    const runs = await Promise.all(
      (["same_order", "cache_efficient"] as const).flatMap((iterationStrategy) =>
        [0, 1, 2].map(async (numWorkers) => {
          const options = { ...base, iterationStrategy, numWorkers };
          const plan = replicaBatches(
            { limits: collection.limits, ...options, numWorkers: Math.max(1, numWorkers) },
            { epoch: 0, batchesConsumed: 0 },
          );
          return {
            numWorkers,
            iterationStrategy,
            plan,
            batches: await collectOnce(new DataLoader(collection, options)),
          };
        }),
      ),
    );
    for (const { numWorkers, iterationStrategy, plan, batches } of runs) {
      const label = `${iterationStrategy}, ${numWorkers} workers`;
      assert.equal(batches.length, 7, label);
      batches.forEach((batch, b) => {
        const cells = [...plan[b]!.indices];
        assert.deepEqual(
          batch.obs_names_n,
          cells.map((g) => names[g]!),
          label,
        );
        assert.deepEqual(
          denseRows(batch.x_ng),
          cells.map((g) => rows[g]!),
          label,
        );
        assert.deepEqual(
          [...batch.y_n!],
          cells.map((g) => codes[g]!),
          label,
        );
      });
    }
    // same_order is the same sequence whatever the number of workers.
    assert.deepEqual(runs[1]!.batches, runs[0]!.batches);
    assert.deepEqual(runs[2]!.batches, runs[0]!.batches);
    assert.deepEqual(runs[4]!.batches, runs[3]!.batches, "cache_efficient: 0 workers plan like 1");
    collection.close();
  },
);

test("resuming mid-epoch skips exactly the consumed batches", WORKER_TIMEOUT, async () => {
  const collection = await DistributedAnnDataCollection.open({ filenames: paths, maxCacheSize: 2 });
  const options = { batchKeys: keys, batchSize: 3, shuffle: true, numWorkers: 2 };
  const loader = new DataLoader(collection, options);
  const [full, resumed] = await Promise.all([
    collect(loader, { epoch: 1, batchesConsumed: 0 }),
    collect(loader, { epoch: 1, batchesConsumed: 4 }),
  ]);
  const plan = replicaBatches({ limits: collection.limits, ...options }, { epoch: 1, batchesConsumed: 0 });
  assert.deepEqual(
    full.map(ids),
    plan.map((b) => [...b.indices]),
  );
  assert.deepEqual(resumed.map(ids), full.slice(4).map(ids));
  await loader.close();
  collection.close();
});

test("a worker's error rejects the iteration with the original one-line error", WORKER_TIMEOUT, async () => {
  const badDir = tempDir("loader-bad-");
  const files = await writeShards(
    badDir,
    [10, 12, 7].map((nObs) => ({ nObs })),
    "corrupt",
  );
  writeFileSync(files[1]!, "not an HDF5 file");
  // limits given, so opening the collection reads shard 0 only.
  const collection = await DistributedAnnDataCollection.open({ filenames: files, limits: [10, 22, 29] });
  const loader = new DataLoader(collection, { batchKeys: keys, batchSize: 5, numWorkers: 2 });
  await assert.rejects(collect(loader), (error: Error) => {
    assert.equal(error.name, "FileFormatError");
    assert.match(error.message, /corrupt_1\.h5ad: cannot open as HDF5/);
    assert.doesNotMatch(error.message, /\n/);
    return true;
  });
  assert.equal(loader.liveWorkers, 0);
  collection.close();
});

test(
  "a NaN or an infinity in X stops the loader with one line naming the shard, the cell and the gene",
  WORKER_TIMEOUT,
  async () => {
    const dir = tempDir("loader-nan-");
    for (const [value, name, dense] of [
      [Number.NaN, "NaN", false],
      [Number.NEGATIVE_INFINITY, "-inf", true],
    ] as const) {
      const files = await writeShards(dir, [
        { nObs: 6, dense },
        { nObs: 6, dense, poke: { row: 4, col: 2, value } },
      ]);
      const collection = await DistributedAnnDataCollection.open({ filenames: files, maxCacheSize: 2 });
      const message = new RegExp(`shard_1\\.h5ad: X has ${name} at cell cell10 \\(row 4\\), gene g2$`);
      for (const numWorkers of [0, 1]) {
        const loader = new DataLoader(collection, { batchKeys: keys, batchSize: 4, numWorkers });
        await assert.rejects(collect(loader), { name: "DataValueError", message });
      }
      collection.close();
    }
  },
);

test("workers serve every epoch, an abandoned one included, until close()", WORKER_TIMEOUT, async () => {
  const collection = await DistributedAnnDataCollection.open({ filenames: paths, maxCacheSize: 2 });
  const options = { batchKeys: keys, batchSize: 2, shuffle: true, numWorkers: 2, prefetch: 1 };
  const loader = new DataLoader(collection, options);
  const planned = (epoch: number) =>
    replicaBatches({ limits: collection.limits, ...options }, { epoch, batchesConsumed: 0 }).map((b) => [
      ...b.indices,
    ]);
  assert.deepEqual((await collect(loader, { epoch: 0, batchesConsumed: 0 })).map(ids), planned(0));
  assert.equal(loader.liveWorkers, 2, "kept between epochs");
  // Epoch 1 is left after one batch, while its workers are still reading ahead.
  for await (const batch of loader.epochBatches({ epoch: 1, batchesConsumed: 0 })) {
    assert.deepEqual(ids(batch), planned(1)[0]);
    break;
  }
  assert.equal(loader.liveWorkers, 2);
  const epoch2 = await collect(loader, { epoch: 2, batchesConsumed: 0 });
  assert.deepEqual(epoch2.map(ids), planned(2), "nothing of the abandoned epoch leaks into the next");
  for (const batch of epoch2) assert.deepEqual(denseRows(batch.x_ng), expectedRows(ids(batch)));
  await loader.close();
  assert.equal(loader.liveWorkers, 0);
  assert.deepEqual((await collect(loader, { epoch: 3, batchesConsumed: 5 })).map(ids), planned(3).slice(5));
  await loader.close();
  collection.close();
});

test(
  "a worker started ahead opens the collection for this thread, then serves the loader that takes it",
  WORKER_TIMEOUT,
  async () => {
    prestartReadAheadWorkers(0);
    const request = { collection: { filenames: paths, maxCacheSize: 2 }, batchKeys: keys, varColumns: true };
    assert.equal(await openInReadAheadWorker(request), undefined, "no worker started ahead: open here");
    const here = await DistributedAnnDataCollection.open(request.collection);
    prestartReadAheadWorkers(1);
    const opened = (await openInReadAheadWorker(request))!;
    assert.deepEqual(opened.init, here.init());
    const plan = planBatchKeys(keys, here.schema);
    assert.deepEqual(opened.firstCell, await here.readRows(Int32Array.of(0), plan.request));
    assert.deepEqual(opened.varColumns, await here.varColumns());
    here.close();
    const reopened = DistributedAnnDataCollection.reopen(opened.init);
    const batches = await collectOnce(
      new DataLoader(reopened, { batchKeys: keys, batchSize: 4, numWorkers: 1 }),
    );
    const cells = batches.flatMap(ids);
    assert.deepEqual(
      cells,
      Array.from({ length: 29 }, (_, i) => i),
    );
    for (const batch of batches) assert.deepEqual(denseRows(batch.x_ng), expectedRows(ids(batch)));
    assert.equal(reopened.openCount, 0, "this thread opened no file");

    prestartReadAheadWorkers(1);
    await assert.rejects(
      openInReadAheadWorker({ ...request, collection: { filenames: [join(dir, "missing.h5ad")] } }),
      { name: "FileFormatError", message: /missing\.h5ad: no such file/ },
    );
    prestartReadAheadWorkers(0);
  },
);

test("an error report keeps the class, the message and a system error's code, syscall and path", () => {
  const failure = spawnSync("/nonexistent-command");
  const system = errorFromReport(reportError(failure.error)) as NodeJS.ErrnoException;
  assert.equal(system.code, "ENOENT");
  assert.equal(system.syscall, "spawnSync /nonexistent-command");
  assert.equal(system.path, "/nonexistent-command");
  assert.equal(system.message, failure.error!.message);
  const format = errorFromReport(reportError(new FileFormatError("x.h5ad: truncated")));
  assert.ok(format instanceof FileFormatError);
  assert.equal(format.message, "x.h5ad: truncated");
  assert.equal((format as NodeJS.ErrnoException).code, undefined);
});

test("a process that stops early, its loader left open, exits (no hang)", WORKER_TIMEOUT, () => {
  const script = join(tempDir("loader-exit-"), "early.mts");
  const src = (name: string) => JSON.stringify(new URL(`../../src/data/${name}`, import.meta.url).href);
  writeFileSync(
    script,
    `import { DistributedAnnDataCollection } from ${src("collection.ts")};
import { DataLoader } from ${src("loader.ts")};
const collection = await DistributedAnnDataCollection.open({ filenames: ${JSON.stringify(paths)}, maxCacheSize: 2 });
const loader = new DataLoader(collection, { batchKeys: { x_ng: { attr: "X" } }, batchSize: 2, numWorkers: 2 });
const iterator = loader.epochBatches();
await iterator.next();
await iterator.return();
console.log("stopped", loader.liveWorkers);
`,
  );
  const result = spawnSync(process.execPath, ["--import", "tsx", script], {
    encoding: "utf8",
    timeout: 90_000,
  });
  assert.equal(result.error, undefined, "the process exits by itself");
  assert.equal(result.stderr, "");
  assert.equal(result.stdout.trim(), "stopped 2", "the workers stay for a next epoch, unref'd");
  assert.equal(result.status, 0);
});

test(
  "every batch reads right while released batches' memory is reused; a released batch's X reads as empty",
  WORKER_TIMEOUT,
  async () => {
    const dense = await writeShards(
      dir,
      [
        { nObs: 9, dense: true },
        { nObs: 6, dense: true },
      ],
      "dense",
    );
    for (const [files, nCells] of [
      [paths, 29],
      [dense, 15],
    ] as const) {
      const collection = await DistributedAnnDataCollection.open({ filenames: [...files], maxCacheSize: 2 });
      for (const numWorkers of [0, 2]) {
        // Shuffled batches are gathered across shards; in order, a batch is one range read.
        for (const shuffle of [false, true]) {
          const loader = new DataLoader(collection, { batchKeys: keys, batchSize: 4, shuffle, numWorkers });
          const seen: number[] = [];
          for await (const batch of loader.epochBatches()) {
            const cells = ids(batch);
            assert.deepEqual(denseRows(batch.x_ng), expectedRows(cells), `${numWorkers} workers`);
            const x = batch.x_ng;
            loader.release(batch);
            assert.equal(x.data.length, 0);
            if (x.format === "csr") assert.equal(x.indices.length, 0);
            assert.deepEqual(ids(batch), cells, "obs values are not pooled");
            loader.release(batch);
            seen.push(...cells);
          }
          await loader.close();
          assert.deepEqual(
            seen.sort((a, b) => a - b),
            Array.from({ length: nCells }, (_, i) => i),
          );
        }
      }
      collection.close();
    }
  },
);

test("bad loader options are errors at construction", async () => {
  const collection = await DistributedAnnDataCollection.open({ filenames: paths, maxCacheSize: 2 });
  assert.throws(() => new DataLoader(collection, { batchKeys: keys, batchSize: 2, numWorkers: -1 }), {
    name: "ArgumentError",
    message: /numWorkers must be an integer >= 0, got -1/,
  });
  assert.throws(() => new DataLoader(collection, { batchKeys: keys, batchSize: 0 }), {
    name: "ArgumentError",
    message: /batchSize/,
  });
  assert.throws(() => new DataLoader(collection, { batchKeys: { x: { attr: "Z" } }, batchSize: 2 }), {
    name: "ConfigError",
  });
  collection.close();
});
