import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { basename, join } from "node:path";
import { test } from "node:test";
import { DistributedAnnDataCollection } from "../../src/data/collection.js";
import { ArgumentError } from "../../src/errors.js";
import { CELL_TYPES, denseRows, expectedRows, tempDir, writeShards } from "../helpers/shards.js";

// Three shards of 10, 12 and 7 cells (global cells 0-9, 10-21, 22-28).
const dir = tempDir("collection-");
const sizes = [10, 12, 7];
const paths = await writeShards(
  dir,
  sizes.map((nObs) => ({ nObs })),
);
const nObs = 29;

/** A permutation of [0, n) from a fixed LCG (any scrambled order will do). */
function scrambled(n: number, seed: number): Int32Array {
  const out = Int32Array.from({ length: n }, (_, i) => i);
  let state = seed;
  for (let i = n - 1; i > 0; i--) {
    state = (state * 1103515245 + 12345) % 2147483648;
    const j = state % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

test("shard sizes come from the files, or from limits / shardSize / lastShardSize", async () => {
  const scanned = await DistributedAnnDataCollection.open({ filenames: paths });
  assert.deepEqual(scanned.limits, [10, 22, 29]);
  assert.equal(scanned.nObs, nObs);
  assert.equal(scanned.nVars, 12);
  assert.deepEqual(
    scanned.schema.varNames,
    Array.from({ length: 12 }, (_, j) => `g${j}`),
  );
  scanned.close();
  const even = await DistributedAnnDataCollection.open({ filenames: paths.slice(0, 1), shardSize: 10 });
  assert.deepEqual(even.limits, [10]);
  even.close();
  const last = await DistributedAnnDataCollection.open({
    filenames: [paths[0]!, paths[0]!, paths[0]!],
    shardSize: 10,
    lastShardSize: 4,
  });
  assert.deepEqual(last.limits, [10, 20, 24]);
  last.close();
  const given = await DistributedAnnDataCollection.open({ filenames: paths, limits: [10, 22, 29] });
  assert.deepEqual(given.limits, [10, 22, 29]);
  given.close();
});

test("brace-expanded file names", async () => {
  const collection = await DistributedAnnDataCollection.open({ filenames: join(dir, "shard_{0..2}.h5ad") });
  assert.deepEqual(collection.filenames, paths);
  assert.deepEqual(collection.limits, [10, 22, 29]);
  collection.close();
});

test("every cell read in order, in scrambled order and across shard boundaries equals its closed form", async () => {
  const collection = await DistributedAnnDataCollection.open({ filenames: paths, maxCacheSize: 3 });
  const all = Int32Array.from({ length: nObs }, (_, i) => i);
  const inOrder = await collection.readRows(all);
  assert.equal(inOrder.matrices.get("X")!.format, "csr");
  assert.deepEqual(denseRows(inOrder.matrices.get("X")!), expectedRows(all));
  const order = scrambled(nObs, 7);
  const rows = await collection.readRows(order, {
    obsColumns: ["cell_type", "cell_id", "tag"],
    obsNames: true,
  });
  assert.equal(rows.nRows, nObs);
  assert.deepEqual(denseRows(rows.matrices.get("X")!), expectedRows(order));
  assert.deepEqual(
    rows.obsNames,
    Array.from(order, (g) => `cell${g}`),
  );
  const cellType = rows.obsColumns.get("cell_type")!;
  assert.equal(cellType.kind, "categorical");
  if (cellType.kind === "categorical") {
    assert.deepEqual(cellType.categories, CELL_TYPES);
    assert.deepEqual(
      [...cellType.codes],
      Array.from(order, (g) => g % 3),
    );
  }
  const cellId = rows.obsColumns.get("cell_id")!;
  assert.deepEqual(cellId.kind === "numeric" && [...cellId.values], [...order]);
  const tag = rows.obsColumns.get("tag")!;
  assert.deepEqual(
    tag.kind === "string" && tag.values,
    Array.from(order, (g) => `t${g}`),
  );
  // Every other cell of a shard (a replica's share), and a range crossing shards 0 and 1.
  const strided = Int32Array.from([10, 12, 14, 16, 18, 20]);
  assert.deepEqual(denseRows((await collection.readRows(strided)).matrices.get("X")!), expectedRows(strided));
  const crossing = Int32Array.from({ length: 6 }, (_, i) => 7 + i);
  assert.deepEqual(
    denseRows((await collection.readRows(crossing)).matrices.get("X")!),
    expectedRows(crossing),
  );
  // Repeated cells (upstream pads a replica's share by repeating the epoch order).
  const repeated = Int32Array.from([3, 3, 0, 3]);
  assert.deepEqual(
    denseRows((await collection.readRows(repeated)).matrices.get("X")!),
    expectedRows(repeated),
  );
  collection.close();
});

test("a shuffled read loads the shard into memory; later reads gather from it and return fresh arrays", async () => {
  const collection = await DistributedAnnDataCollection.open({ filenames: paths, maxCacheSize: 3 });
  const order = Int32Array.from([19, 10, 21, 11, 15]);
  const first = (await collection.readRows(order)).matrices.get("X")!;
  const again = (await collection.readRows(order)).matrices.get("X")!;
  assert.deepEqual(denseRows(again), expectedRows(order));
  assert.equal(first.format === "csr" && again.format === "csr", true);
  if (first.format === "csr" && again.format === "csr") assert.notEqual(first.data.buffer, again.data.buffer);
  const range = Int32Array.from([12, 13, 14]);
  assert.deepEqual(denseRows((await collection.readRows(range)).matrices.get("X")!), expectedRows(range));
  collection.close();
});

test("dense X stays dense", async () => {
  const denseDir = tempDir("collection-dense-");
  const densePaths = await writeShards(denseDir, [
    { nObs: 5, dense: true },
    { nObs: 6, dense: true },
  ]);
  const collection = await DistributedAnnDataCollection.open({ filenames: densePaths, maxCacheSize: 2 });
  const order = Int32Array.from([9, 0, 4, 5, 10, 1]);
  const x = (await collection.readRows(order)).matrices.get("X")!;
  assert.equal(x.format, "dense");
  assert.deepEqual(denseRows(x), expectedRows(order));
  collection.close();
});

test("a shard loaded whole for scattered rows is gathered across its row blocks", async () => {
  // 16,384 genes: a whole shard is read (and kept) in blocks of 256 rows, so 600 cells make 3.
  const [wide] = await writeShards(dir, [{ nObs: 600, nVars: 16384 }], "wide");
  const collection = await DistributedAnnDataCollection.open({ filenames: [wide!] });
  const order = scrambled(600, 11).subarray(0, 48);
  const rows = await collection.readRows(order);
  assert.deepEqual(denseRows(rows.matrices.get("X")!), expectedRows(order, 16384));
  // In order again (rows 250..262 straddle the first two blocks), from the loaded blocks.
  const straddling = Int32Array.from({ length: 12 }, (_, i) => 250 + i);
  assert.deepEqual(
    denseRows((await collection.readRows(straddling)).matrices.get("X")!),
    expectedRows(straddling, 16384),
  );
  collection.close();
});

test("reopen(init()) opens nothing until a read, then reads what the original reads", async () => {
  const original = await DistributedAnnDataCollection.open({ filenames: paths, maxCacheSize: 3 });
  const init = structuredClone(original.init());
  const copy = DistributedAnnDataCollection.reopen(init);
  assert.equal(copy.openCount, 0);
  assert.deepEqual(copy.schema, original.schema);
  assert.deepEqual(copy.limits, original.limits);
  const order = scrambled(nObs, 3);
  const request = { obsColumns: ["cell_type", "cell_id", "tag"], obsNames: true };
  const [a, b] = [await original.readRows(order, request), await copy.readRows(order, request)];
  assert.deepEqual(denseRows(b.matrices.get("X")!), denseRows(a.matrices.get("X")!));
  assert.deepEqual(b.obsColumns, a.obsColumns);
  assert.deepEqual(b.obsNames, a.obsNames);
  assert.equal(copy.openCount, 3);
  original.close();
  copy.close();
});

test("LRU of open shards: opens counted, least recently used evicted", async () => {
  const one = await DistributedAnnDataCollection.open({ filenames: paths });
  assert.equal(one.openCount, 1, "shard 0 opens with the collection");
  await one.readRows(Int32Array.from([0, 1]));
  assert.equal(one.openCount, 1);
  await one.readRows(Int32Array.from([10, 11]));
  assert.deepEqual(one.openShards, [1]);
  await one.readRows(Int32Array.from([2]));
  assert.equal(one.openCount, 3);
  one.close();

  const two = await DistributedAnnDataCollection.open({ filenames: paths, maxCacheSize: 2 });
  await two.readRows(Int32Array.from([10]));
  await two.readRows(Int32Array.from([0]));
  await two.readRows(Int32Array.from([10]));
  assert.equal(two.openCount, 2);
  await two.readRows(Int32Array.from([22]));
  assert.deepEqual(two.openShards, [1, 2], "shard 0, used least recently, was evicted");
  assert.equal(two.openCount, 3);
  two.close();
});

test("a read needing more shards than maxCacheSize is an error unless not strictly enforced", async () => {
  const strict = await DistributedAnnDataCollection.open({ filenames: paths, maxCacheSize: 2 });
  await assert.rejects(strict.readRows(Int32Array.from([0, 10, 22])), {
    name: "ArgumentError",
    message: /one read needs 3 shards but maxCacheSize is 2/,
  });
  strict.close();
  const loose = await DistributedAnnDataCollection.open({
    filenames: paths,
    cacheSizeStrictlyEnforced: false,
  });
  const cells = Int32Array.from([25, 0, 10, 22, 1]);
  assert.deepEqual(denseRows((await loose.readRows(cells)).matrices.get("X")!), expectedRows(cells));
  assert.equal(loose.openShards.length, 1);
  loose.close();
});

test("schema mismatches name the shard and the first difference", async () => {
  const cases: [string, Parameters<typeof writeShards>[1][number], RegExp][] = [
    [
      "var_names",
      { nObs: 4, varNames: Array.from({ length: 12 }, (_, j) => (j === 5 ? "other" : `g${j}`)) },
      /bad_1\.h5ad: var_names differ from shard 0's at index 5: expected 'g5', got 'other' \(shard 0 is .*bad_0\.h5ad\)/,
    ],
    ["var count", { nObs: 4, nVars: 11 }, /bad_1\.h5ad: has 11 var_names, shard 0 has 12/],
    [
      "categories",
      { nObs: 4, categories: [...CELL_TYPES, "monocyte"] },
      /bad_1\.h5ad: obs column 'cell_type' categories differ from shard 0's: missing \[\], extra \[monocyte\]/,
    ],
    [
      "obs columns",
      {
        nObs: 4,
        columns: { cell_type: { kind: "categorical", codes: [0, 1, 2, 0], categories: CELL_TYPES } },
      },
      /bad_1\.h5ad: obs columns differ from shard 0's: missing \[cell_id, tag\], extra \[\]/,
    ],
    [
      "column kind",
      {
        nObs: 4,
        columns: {
          cell_type: { kind: "categorical", codes: [0, 1, 2, 0], categories: CELL_TYPES },
          cell_id: { kind: "string", values: ["a", "b", "c", "d"] },
          tag: { kind: "string", values: ["a", "b", "c", "d"] },
        },
      },
      /bad_1\.h5ad: obs column 'cell_id' is string, shard 0's is numeric \(float64\)/,
    ],
    ["X storage", { nObs: 4, dense: true }, /bad_1\.h5ad: X is stored dense, shard 0's is csr/],
  ];
  for (const [label, spec, message] of cases) {
    const caseDir = tempDir("collection-bad-");
    const files = await writeShards(caseDir, [{ nObs: 5 }, spec], "bad");
    const collection = await DistributedAnnDataCollection.open({ filenames: files, limits: [5, 9] });
    await assert.rejects(
      collection.readRows(Int32Array.from([5])),
      { name: "SchemaMismatchError", message },
      label,
    );
    collection.close();
  }
});

test("obsColumnsToValidate limits the check; unordered categories in another order are recoded", async () => {
  const caseDir = tempDir("collection-subset-");
  const reordered = [CELL_TYPES[2]!, CELL_TYPES[0]!, CELL_TYPES[1]!];
  const files = await writeShards(caseDir, [{ nObs: 6 }, { nObs: 6, categories: reordered }]);
  const collection = await DistributedAnnDataCollection.open({ filenames: files, maxCacheSize: 2 });
  const cells = Int32Array.from([0, 7, 8, 1, 6, 11]);
  const column = (await collection.readRows(cells, { obsColumns: ["cell_type"] })).obsColumns.get(
    "cell_type",
  )!;
  assert.equal(column.kind, "categorical");
  if (column.kind === "categorical") {
    assert.deepEqual(column.categories, CELL_TYPES);
    assert.deepEqual(
      [...column.codes],
      Array.from(cells, (g) => g % 3),
    );
  }
  collection.close();

  const other = await writeShards(
    caseDir,
    [{ nObs: 6 }, { nObs: 6, categories: [...CELL_TYPES, "x"] }],
    "subset",
  );
  const subset = await DistributedAnnDataCollection.open({
    filenames: other,
    obsColumnsToValidate: ["cell_id"],
  });
  assert.deepEqual(
    denseRows((await subset.readRows(Int32Array.from([7]))).matrices.get("X")!),
    expectedRows([7]),
  );
  subset.close();
  await assert.rejects(
    DistributedAnnDataCollection.open({ filenames: other, obsColumnsToValidate: ["nope"] }),
    {
      name: "ArgumentError",
      message: /obsColumnsToValidate: .*subset_0\.h5ad \(shard 0\) has no obs column 'nope'/,
    },
  );
});

test("limits that disagree with a shard's cells are an error naming the file, the limit and the count", async () => {
  const collection = await DistributedAnnDataCollection.open({ filenames: paths, limits: [10, 25, 32] });
  await assert.rejects(collection.readRows(Int32Array.from([12])), {
    name: "SchemaMismatchError",
    message: new RegExp(
      `${basename(paths[1]!)}: has 12 cells, but limits give shard 1 15 cells \\(limits\\[1\\] = 25\\)`,
    ),
  });
  collection.close();
  await assert.rejects(DistributedAnnDataCollection.open({ filenames: paths, shardSize: 12 }), {
    name: "SchemaMismatchError",
    message: /shard_0\.h5ad: has 10 cells, but limits give shard 0 12 cells/,
  });
});

test("empty shards and bad options are one-line errors", async () => {
  const caseDir = tempDir("collection-empty-");
  const files = await writeShards(caseDir, [{ nObs: 3 }, { nObs: 0 }]);
  await assert.rejects(DistributedAnnDataCollection.open({ filenames: files }), {
    name: "SchemaMismatchError",
    message: /shard_1\.h5ad: the shard has no cells/,
  });
  await assert.rejects(DistributedAnnDataCollection.open({ filenames: paths, limits: [10, 10, 17] }), {
    message: /shard_1\.h5ad: the shard has no cells/,
  });
  await assert.rejects(DistributedAnnDataCollection.open({ filenames: paths, lastShardSize: 3 }), {
    name: "ArgumentError",
    message: /lastShardSize needs shardSize/,
  });
  await assert.rejects(DistributedAnnDataCollection.open({ filenames: paths, limits: [10, 22] }), {
    name: "ArgumentError",
    message: /limits has 2 entries but there are 3 filenames/,
  });
  await assert.rejects(
    DistributedAnnDataCollection.open({ filenames: paths, maxCacheSize: 0 }),
    ArgumentError,
  );
  const collection = await DistributedAnnDataCollection.open({ filenames: paths });
  await assert.rejects(collection.readRows(Int32Array.from([29])), {
    message: /cell index 29 is outside \[0, 29\)/,
  });
  await assert.rejects(collection.readRows(Int32Array.from([0]), { matrices: ["layers/counts"] }), {
    message: /no matrix 'layers\/counts' \(valid: X\)/,
  });
  await assert.rejects(collection.readRows(Int32Array.from([0]), { obsColumns: ["nope"] }), {
    message: /no obs column 'nope' \(columns: cell_type, cell_id, tag\)/,
  });
  collection.close();
});

test("http shards are downloaded to the cache and read like local ones", async () => {
  const server = createServer(async (req, res) => {
    const name = (req.url ?? "").slice(1);
    const path = paths.find((p) => basename(p) === name);
    if (path === undefined) {
      res.writeHead(404).end();
      return;
    }
    const body = await readFile(path);
    res.writeHead(200, { "content-length": body.length }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const collection = await DistributedAnnDataCollection.open({
      filenames: `${base}/shard_{0..2}.h5ad`,
      cacheDir: tempDir("collection-cache-"),
      maxCacheSize: 3,
    });
    assert.deepEqual(
      collection.filenames,
      [0, 1, 2].map((k) => `${base}/shard_${k}.h5ad`),
    );
    assert.deepEqual(collection.limits, [10, 22, 29]);
    const cells = scrambled(nObs, 3);
    assert.deepEqual(denseRows((await collection.readRows(cells)).matrices.get("X")!), expectedRows(cells));
    collection.close();
  } finally {
    server.close();
  }
});
