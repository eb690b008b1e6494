// Throughput of the streaming statistics (running moments, per-gene t-digests) on a stream of
// random CSR batches, printed as a table.
// Usage: node --import tsx bench/streaming.ts [cells=1000] [genes=20000] [density=0.07] [batches=20]

import type { CsrMatrix } from "../src/data/matrix.js";
import { RunningMoments } from "../src/models/streaming/moments.js";
import { TDigestSet } from "../src/models/streaming/tdigest-set.js";
import { Generator } from "../src/tensor/random.js";

const [cells = 1000, genes = 20000, density = 0.07, batches = 20] = process.argv.slice(2).map(Number);
const rng = new Generator(0);

/** A block whose rows hold about density * genes entries at sorted random columns. */
function randomBlock(values: () => number): CsrMatrix {
  const indptr = new Int32Array(cells + 1);
  const indices: number[] = [];
  for (let i = 0; i < cells; i++) {
    for (let g = 0; g < genes; g++) if (rng.nextDouble() < density) indices.push(g);
    indptr[i + 1] = indices.length;
  }
  const data = new Float32Array(indices.length);
  for (let p = 0; p < data.length; p++) data[p] = values();
  return { format: "csr", nRows: cells, nCols: genes, indptr, indices: Int32Array.from(indices), data };
}

// The stream cycles through a few distinct blocks so that generating data does not dominate.
// Counts 1..20 (ties, as raw UMI counts) and log1p of a continuous value (as normalized data).
const countBlocks = [0, 1, 2].map(() => randomBlock(() => rng.randint(1, 21)));
const logBlocks = [0, 1, 2].map(() => randomBlock(() => Math.log1p(100 * rng.nextDouble())));

function time(label: string, blocks: CsrMatrix[], step: (x: CsrMatrix) => void, finish: () => void): void {
  const t0 = performance.now();
  for (let b = 0; b < batches; b++) step(blocks[b % blocks.length]!);
  finish();
  const seconds = (performance.now() - t0) / 1000;
  const perBatch = ((seconds * 1000) / batches).toFixed(2);
  const rate = Math.round((batches * cells) / seconds).toLocaleString("en-US");
  console.log(label.padEnd(36), perBatch.padStart(10), rate.padStart(14));
}

const nnz = countBlocks[0]!.data.length;
console.log(`${batches} batches of ${cells} cells x ${genes} genes, ~${nnz} non-zeros each`);
console.log("step".padEnd(36), "ms/batch".padStart(10), "cells/s".padStart(14));
for (const algorithm of ["naive", "shifted_data"] as const) {
  const moments = new RunningMoments(genes, algorithm);
  time(
    `moments ${algorithm}`,
    logBlocks,
    (x) => moments.update(x),
    () => moments.variance(),
  );
}
for (const [label, blocks] of [
  ["tdigest, counts 1..20", countBlocks],
  ["tdigest, continuous values", logBlocks],
] as const) {
  const digests = new TDigestSet(genes);
  time(
    label,
    blocks,
    (x) => digests.update(x),
    () => digests.median(),
  );
}
