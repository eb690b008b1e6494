// One configuration of bench/data.ts, in its own process: streams FILE in 1,000-cell batches
// through NormalizeTotal + Log1p with N read-ahead workers, in order or shuffled (the shard is then
// read whole, as upstream always does, and each batch gathered from it; N = -1 only opens the file, for the
// per-thread baseline memory) and prints one JSON line: cells, seconds, steady cells/s (after the
// first 10 batches, as bench/streaming-fit.ts measures the fit loop), peak RSS. As inside the
// Trainer, the pipeline owns the loader's batches and each batch is released after its step.
// Usage: node bench/data-child.mjs FILE N [shuffled]   (needs npm run build)
import { readFileSync } from "node:fs";
import {
  composeTransforms,
  DataLoader,
  DistributedAnnDataCollection,
  Log1p,
  NormalizeTotal,
} from "../dist/node.js";

const [file, workersText, order] = process.argv.slice(2);
const numWorkers = Number(workersText);
const peakRssKb = () =>
  Number(
    readFileSync("/proc/self/status", "utf8")
      .split("\n")
      .find((l) => l.startsWith("VmHWM:"))
      ?.split(/\s+/)[1],
  );

const start = performance.now();
const collection = await DistributedAnnDataCollection.open({ filenames: [file] });
if (numWorkers < 0) {
  console.log(JSON.stringify({ cells: 0, seconds: 0, cellsPerS: 0, vmhwmKb: peakRssKb() }));
} else {
  const loader = new DataLoader(collection, {
    batchKeys: { x_ng: { attr: "X" }, var_names_g: { attr: "var_names" } },
    batchSize: 1000,
    numWorkers,
    shuffle: order === "shuffled",
  });
  const pipeline = composeTransforms([new NormalizeTotal(), new Log1p()]);
  // 10 batches, or half the epoch on the small --quick file.
  const warmup = Math.max(1, Math.min(10, Math.floor(loader.batchesPerEpoch / 2)));
  let cells = 0;
  let batches = 0;
  let firstAt = 0;
  let firstCells = 0;
  for await (const batch of loader.epochBatches()) {
    cells += pipeline(batch, { ownsValues: loader.ownsBatches }).x_ng.nRows;
    loader.release(batch);
    if (++batches === warmup) {
      firstAt = performance.now();
      firstCells = cells;
    }
  }
  const end = performance.now();
  console.log(
    JSON.stringify({
      cells,
      seconds: (end - start) / 1000,
      cellsPerS: ((cells - firstCells) / (end - firstAt)) * 1000,
      vmhwmKb: peakRssKb(),
    }),
  );
  await loader.close();
}
collection.close();
