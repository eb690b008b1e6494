// Streaming throughput of the data path: the benchmark file in 1,000-cell batches through
// NormalizeTotal + Log1p, uncompressed and gzip, read in the main thread (0 workers) or by 1 or 2
// read-ahead workers, against h5py + numpy doing the same (bench/data_h5py.py). Each configuration
// runs in its own child process, whose peak resident memory (VmHWM, worker threads included) is
// read at its end, so configurations do not pollute each other. Prints a markdown table.
// Data: /usr/bin/python3 scripts/make-bench-data.py (bench/data/bench_100k_20k{,_gzip}.h5ad), or
// scripts/make-bench-data.py 5000 for the small files that --quick uses.
// Usage: node --import tsx bench/data.ts [--quick]

import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Batch } from "../src/data/batch.js";
import { DistributedAnnDataCollection } from "../src/data/collection.js";
import { DataLoader } from "../src/data/loader.js";
import { composeTransforms } from "../src/transforms/compose.js";
import { Log1p } from "../src/transforms/log1p.js";
import { NormalizeTotal } from "../src/transforms/normalize-total.js";

const BATCH_SIZE = 1000;

interface Result {
  readonly cells: number;
  /** Wall time of the whole run, worker start-up included. */
  readonly seconds: number;
  /** Cells after the first batch over the time after it (steady state, start-up excluded). */
  readonly cellsPerS: number;
  readonly vmhwmKb: number;
}

/** NormalizeTotal (target 10,000) then Log1p, as the benchmark's pipeline. */
function normalizeLog1p(): (batch: Batch) => Batch {
  return composeTransforms([new NormalizeTotal(), new Log1p()]);
}

function peakRssKb(): number {
  const line = readFileSync("/proc/self/status", "utf8")
    .split("\n")
    .find((l) => l.startsWith("VmHWM:"));
  return Number(line?.split(/\s+/)[1] ?? Number.NaN);
}

/** One configuration; numWorkers -1 only opens the collection (the per-thread baseline memory). */
async function child(file: string, numWorkers: number): Promise<Result> {
  const start = performance.now();
  const collection = await DistributedAnnDataCollection.open({ filenames: [file] });
  if (numWorkers < 0) return { cells: 0, seconds: 0, cellsPerS: 0, vmhwmKb: peakRssKb() };
  const loader = new DataLoader(collection, {
    batchKeys: { x_ng: { attr: "X" }, var_names_g: { attr: "var_names" } },
    batchSize: BATCH_SIZE,
    numWorkers,
  });
  const pipeline = normalizeLog1p();
  let cells = 0;
  let firstAt = 0;
  let firstCells = 0;
  for await (const batch of loader.epochBatches()) {
    const out = pipeline(batch);
    cells += out.x_ng.nRows;
    if (firstAt === 0) {
      firstAt = performance.now();
      firstCells = cells;
    }
  }
  const end = performance.now();
  collection.close();
  return {
    cells,
    seconds: (end - start) / 1000,
    cellsPerS: ((cells - firstCells) / (end - firstAt)) * 1000,
    vmhwmKb: peakRssKb(),
  };
}

function run(command: string, args: string[]): Result {
  const out = execFileSync(command, args, { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
  const parsed = JSON.parse(out.trim().split("\n").at(-1)!);
  return {
    cells: parsed.cells,
    seconds: parsed.seconds,
    cellsPerS: parsed.cellsPerS ?? parsed.cells_per_s,
    vmhwmKb: parsed.vmhwmKb ?? parsed.vmhwm_kb,
  };
}

function main(): void {
  const quick = process.argv.includes("--quick");
  const dataDir = new URL("./data/", import.meta.url);
  const stem = quick ? "bench_100k_20k_5000" : "bench_100k_20k";
  const files = [
    ["uncompressed", fileURLToPath(new URL(`${stem}.h5ad`, dataDir))],
    ["gzip", fileURLToPath(new URL(`${stem}_gzip.h5ad`, dataDir))],
  ] as const;
  for (const [, file] of files) {
    if (!existsSync(file)) {
      console.error(
        `${file} is missing: run /usr/bin/python3 scripts/make-bench-data.py${quick ? " 5000" : ""}`,
      );
      process.exit(1);
    }
  }
  const script = fileURLToPath(import.meta.url);
  console.log(
    `${quick ? "5,000" : "100,000"} cells x 20,000 genes, batches of ${BATCH_SIZE}, NormalizeTotal + Log1p\n`,
  );
  console.log("| file | reader | cells/s (steady) | total s | peak RSS MiB |");
  console.log("|---|---|---:|---:|---:|");
  for (const [label, file] of files) {
    const rows: [string, Result][] = [];
    for (const workers of [-1, 0, 1, 2]) {
      const result = run(process.execPath, [...process.execArgv, script, "--child", file, String(workers)]);
      rows.push([workers < 0 ? "cellarium-ts, open only" : `cellarium-ts, ${workers} workers`, result]);
    }
    const python = fileURLToPath(new URL("./data_h5py.py", import.meta.url));
    rows.push(["h5py + numpy", run("/usr/bin/python3", [python, file, String(BATCH_SIZE)])]);
    for (const [reader, r] of rows) {
      const mib = (r.vmhwmKb / 1024).toFixed(0);
      const rate = r.cells > 0 ? String(Math.round(r.cellsPerS)) : "-";
      const total = r.cells > 0 ? r.seconds.toFixed(2) : "-";
      console.log(`| ${label} | ${reader} | ${rate} | ${total} | ${mib} |`);
    }
  }
  console.log(
    "\nh5py's cells/s covers the whole run (its start-up is negligible). 'open only' is the memory of a" +
      " process that only opened the file: each worker thread adds about as much again (its own h5wasm)." +
      " Under tsx that baseline includes ~600 MB that tsx spends loading h5wasm's bundle; compiled code does not.",
  );
}

const childAt = process.argv.indexOf("--child");
if (childAt >= 0) {
  const result = await child(process.argv[childAt + 1]!, Number(process.argv[childAt + 2]));
  console.log(JSON.stringify(result));
} else {
  main();
}
