// Where IncrementalPCA's rank-k summary ("lowrank") loses accuracy with trainer.devices N, on the
// demo data through the example's transforms (NormalizeTotal with total_mrna_umis, Log1p, ZScore
// from the onepass example's CSV): replicas simulated in-process as the command line splits the
// cells (DataLoader numReplicas / replicaRank), merged in the tree order. Rows per N:
//   streamed    each replica streams its batches, then the merges (the command line's result);
//   exact parts each replica's part decomposed exactly and truncated to rank r, then the same
//               exact merges: the loss of the merge's truncation alone, with no per-batch step;
// against the exact PCA of all cells (float64 Gram-matrix eigendecomposition). Also says whether
// any batch step drew random directions (none did: batches of 100 cells take the exact SVD).
// Usage: node --import tsx bench/ipca-truncation.ts [k=50] [batch=100]  (after the onepass example)

import { readFileSync } from "node:fs";
import type { Batch } from "../src/data/batch.js";
import { DistributedAnnDataCollection } from "../src/data/collection.js";
import { DataLoader } from "../src/data/loader.js";
import { IncrementalPCA } from "../src/models/incremental-pca.js";
import { mergePartialSvds, type PartialSvd } from "../src/models/streaming/partial-svd.js";
import { gramSvd } from "../src/tensor/linalg/gram-svd.js";
import { eigh } from "../src/tensor/linalg/index.js";
import { mergeHierarchically } from "../src/train/hierarchical-merge.js";
import { composeTransforms } from "../src/transforms/compose.js";
import { Log1p } from "../src/transforms/log1p.js";
import { NormalizeTotal } from "../src/transforms/normalize-total.js";
import { ZScore } from "../src/transforms/z-score.js";

const k = Number(process.argv[2] ?? 50);
const batchSize = Number(process.argv[3] ?? 100);
const J = 5;
const csv = readFileSync("runs/onepass/onepass.csv", "utf8").trim().split("\n").slice(1);
const column = (j: number) => csv.map((line) => line.split(",")[j]!);
const var_names_g = column(0);
const g = var_names_g.length;
const transform = composeTransforms([
  new NormalizeTotal(),
  new Log1p(),
  new ZScore({
    mean_g: Float32Array.from(column(1), Number),
    std_g: Float32Array.from(column(3), Number),
    var_names_g,
  }),
]);
const collection = await DistributedAnnDataCollection.open({
  filenames: ["examples/data/demo_0.h5ad", "examples/data/demo_1.h5ad"],
  shardSize: 1000,
  maxCacheSize: 2,
});

async function part(numReplicas: number, replicaRank: number): Promise<Batch[]> {
  const loader = new DataLoader(collection, {
    batchKeys: {
      x_ng: { attr: "X" },
      var_names_g: { attr: "var_names" },
      total_mrna_umis_n: { attr: "obs", key: "total_mrna_umis" },
    },
    batchSize,
    numReplicas,
    replicaRank,
  });
  const out: Batch[] = [];
  for await (const batch of loader.epochBatches()) out.push(transform(batch));
  return out;
}

/** The exact PCA of the batches' cells: the top q directions of the centered matrix. */
function exact(batches: Batch[], q: number): PartialSvd {
  const n = batches.reduce((sum, b) => sum + b.x_ng.nRows, 0);
  const x = new Float64Array(n * g);
  let at = 0;
  for (const b of batches) {
    if (b.x_ng.format !== "dense") throw new Error("ZScore writes dense batches");
    x.set(b.x_ng.data, at);
    at += b.x_ng.data.length;
  }
  const mean = new Float64Array(g);
  for (let i = 0; i < n; i++) for (let c = 0; c < g; c++) mean[c]! += x[i * g + c]! / n;
  for (let i = 0; i < n; i++) for (let c = 0; c < g; c++) x[i * g + c]! -= mean[c]!;
  const { s, vt } = gramSvd({ rows: n, cols: g, data: x }, Math.min(q, n - 1));
  return { S_k: s, V_kg: vt.data, x_mean_g: mean, x_size: n };
}

/** Largest relative error of S_k (all k and top J) and largest principal angle of the top J. */
function errors(p: PartialSvd, reference: PartialSvd): string {
  const rel = Array.from({ length: k }, (_, j) => Math.abs(p.S_k[j]! / reference.S_k[j]! - 1));
  const inner = new Float64Array(J * J);
  for (let a = 0; a < J; a++) {
    for (let b = 0; b < J; b++) {
      for (let c = 0; c < g; c++) inner[a * J + b]! += p.V_kg[a * g + c]! * reference.V_kg[b * g + c]!;
    }
  }
  const gram = new Float64Array(J * J);
  for (let a = 0; a < J; a++) {
    for (let b = 0; b < J; b++)
      for (let r = 0; r < J; r++) gram[a * J + b]! += inner[r * J + a]! * inner[r * J + b]!;
  }
  const cosine = Math.sqrt(Math.max(0, eigh({ rows: J, cols: J, data: gram }).w[0]!));
  const degrees = (Math.acos(Math.min(1, cosine)) * 180) / Math.PI;
  const percent = (v: number) => `${(100 * v).toFixed(2)}%`;
  return `${percent(Math.max(...rel))} | ${percent(Math.max(...rel.slice(0, J)))} | ${degrees.toFixed(2)}°`;
}

const reference = exact(await part(1, 0), k);
console.log(`demo data, k = ${k}, batches of ${batchSize}; exact PCA in float64; top J = ${J}`);
console.log(
  `| devices | summary | max S_k error (all ${k}) | max S_k error (top ${J}) | max angle (top ${J}) |`,
);
console.log("| ------: | ------- | ---: | ---: | ---: |");
let randomized = false;
for (const n of [1, 2, 4]) {
  const parts = await Promise.all(Array.from({ length: n }, (_, r) => part(n, r)));
  const models = parts.map((batches) => {
    const model = new IncrementalPCA({ var_names_g, n_components: k, algorithm: "lowrank" });
    const start = JSON.stringify(model.randomState());
    for (const batch of batches) model.forward(batch);
    randomized ||= JSON.stringify(model.randomState()) !== start;
    return model;
  });
  const merged = mergeHierarchically(models) as IncrementalPCA;
  const streamed: PartialSvd = {
    S_k: merged.S_k.data as Float64Array,
    V_kg: merged.V_kg.data as Float64Array,
    x_mean_g: merged.x_mean_g.data as Float64Array,
    x_size: merged.x_size,
  };
  console.log(`| ${n} | streamed (lowrank) | ${errors(streamed, reference)} |`);
  if (n === 1) continue;
  for (const rank of [k, 2 * k]) {
    const summaries = parts.map((batches) => exact(batches, rank));
    for (let stride = 1; stride < n; stride *= 2) {
      for (let r = 0; r + stride < n; r += 2 * stride) {
        summaries[r] = mergePartialSvds(summaries[r]!, summaries[r + stride]!, rank, true);
      }
    }
    console.log(`| ${n} | exact parts, rank ${rank} | ${errors(summaries[0]!, reference)} |`);
  }
}
console.log(`any batch step randomized: ${randomized}`);
collection.close();
