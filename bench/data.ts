// Streaming throughput of the data path: the benchmark file in 1,000-cell batches through
// NormalizeTotal + Log1p, uncompressed and gzip, read in the main thread (0 workers) or by 1 or 2
// read-ahead workers (and, on the uncompressed file, 1 worker with shuffled batches, gathered from
// the shard read whole), against h5py + numpy doing the same in order (bench/data_h5py.py). Each
// configuration runs in its own child process, whose peak resident memory (VmHWM, worker threads
// included) is read at its end, so configurations do not pollute each other; each runs REPEATS
// times, the configurations interleaved, and the table shows medians (this 2-core VM varies by
// ~15% from run to run). Prints a markdown table.
// Data: /usr/bin/python3 scripts/make-bench-data.py (bench/data/bench_100k_20k{,_gzip}.h5ad), or
// scripts/make-bench-data.py 5000 for the small files that --quick uses.
// Usage: node --import tsx bench/data.ts [--quick]

import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const BATCH_SIZE = 1000;
const REPEATS = 5;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

interface Result {
  readonly cells: number;
  /** Wall time of the whole run, worker start-up included. */
  readonly seconds: number;
  /** Cells after the first batch over the time after it (steady state, start-up excluded). */
  readonly cellsPerS: number;
  readonly vmhwmKb: number;
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
  // The child runs the compiled library (npm run build) in plain node, as users run it: under tsx
  // every thread would also pay ~600 MB for tsx's transform of h5wasm's bundle.
  const script = fileURLToPath(new URL("./data-child.mjs", import.meta.url));
  console.log(
    `${quick ? "5,000" : "100,000"} cells x 20,000 genes, batches of ${BATCH_SIZE}, NormalizeTotal + Log1p\n`,
  );
  console.log("| file | reader | cells/s (steady) | total s | peak RSS MiB |");
  console.log("|---|---|---:|---:|---:|");
  const python = fileURLToPath(new URL("./data_h5py.py", import.meta.url));
  for (const [label, file] of files) {
    const readers: [string, () => Result][] = [-1, 0, 1, 2].map((workers) => [
      workers < 0 ? "cellarium-ts, open only" : `cellarium-ts, ${workers} workers`,
      () => run(process.execPath, [script, file, String(workers)]),
    ]);
    if (label === "uncompressed") {
      readers.push([
        "cellarium-ts, 1 worker, shuffled",
        () => run(process.execPath, [script, file, "1", "shuffled"]),
      ]);
    }
    readers.push(["h5py + numpy", () => run("/usr/bin/python3", [python, file, String(BATCH_SIZE)])]);
    const results: Result[][] = readers.map(() => []);
    for (let r = 0; r < REPEATS; r++) {
      readers.forEach(([, measure], i) => {
        results[i]!.push(measure());
      });
    }
    readers.forEach(([reader], i) => {
      const runs = results[i]!;
      const cells = runs[0]!.cells;
      const mib = (Math.max(...runs.map((r) => r.vmhwmKb)) / 1024).toFixed(0);
      const rate = cells > 0 ? String(Math.round(median(runs.map((r) => r.cellsPerS)))) : "-";
      const total = cells > 0 ? median(runs.map((r) => r.seconds)).toFixed(2) : "-";
      console.log(`| ${label} | ${reader} | ${rate} | ${total} | ${mib} |`);
    });
  }
  console.log(
    `\nMedians of ${REPEATS} runs; steady = after the first 10 batches, for every reader.` +
      " 'open only' is the memory of a" +
      " process that only opened the file: each worker thread adds about as much again (its own h5wasm).",
  );
}

main();
