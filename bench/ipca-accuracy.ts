// Accuracy and fit throughput of IncrementalPCA against the exact PCA of the same matrix: the data
// through NormalizeTotal (row sums, target 10,000) + Log1p + ZScore (per-gene mean and std from a
// first pass, as the onepass -> ipca workflow does), streamed in batches into IncrementalPCA for
// each (oversample, niter) setting; bench/ipca_exact.py computes the exact PCA in float64 and the
// issue's measures:
//   error ratio  ||Zc - Zc V^T V||_F / the optimal rank-k error (exact SVD), Zc the centered data;
//   J            the largest j <= 10 whose exact eigenvalue exceeds the next by at least 15%;
//   max ev err   the largest relative error of explained_variance_k over the first J components;
//   angle        the largest principal angle between the top-J subspace and the exact one.
// The bar: ratio <= 1.02, ev error <= 1%, angle <= 2 degrees. cells/s is the fit alone (the
// model's forward over in-memory batches; reading and transforms excluded).
// Data: /usr/bin/python3 scripts/make-bench-data.py [5000] -> bench/data/bench_100k_20k[_5000].h5ad.
// Usage: node --import tsx bench/ipca-accuracy.ts FILE.h5ad[,FILE2.h5ad...] [k=50] [oversample=0,10,25]
//   [niter=2] [batch=1000] [seed=0]
// With the 100k file the batches do not fit in memory at once: each setting streams the file again.

import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Batch } from "../src/data/batch.js";
import { DistributedAnnDataCollection } from "../src/data/collection.js";
import { DataLoader } from "../src/data/loader.js";
import { IncrementalPCA } from "../src/models/incremental-pca.js";
import { RunningMoments } from "../src/models/streaming/moments.js";
import { composeTransforms } from "../src/transforms/compose.js";
import { Log1p } from "../src/transforms/log1p.js";
import { NormalizeTotal } from "../src/transforms/normalize-total.js";
import { ZScore } from "../src/transforms/z-score.js";

const [filesArg, kArg = "50", oversampleArg = "0,10,25", niterArg = "2", batchArg = "1000", seedArg = "0"] =
  process.argv.slice(2);
if (!filesArg) {
  console.error(
    "usage: bench/ipca-accuracy.ts FILE.h5ad[,FILE2...] [k] [oversample,...] [niter,...] [batch] [seed]",
  );
  process.exit(1);
}
const files = filesArg.split(",");
const k = Number(kArg);
const batchSize = Number(batchArg);
const seed = Number(seedArg);
const list = (text: string) => text.split(",").map(Number);

const collection = await DistributedAnnDataCollection.open({ filenames: files, maxCacheSize: files.length });
const loader = new DataLoader(collection, {
  batchKeys: { x_ng: { attr: "X" }, var_names_g: { attr: "var_names" } },
  batchSize,
});
const logNormalize = composeTransforms([new NormalizeTotal(), new Log1p()]);

async function* batches(transform: (batch: Batch) => Batch): AsyncGenerator<Batch> {
  for await (const batch of loader.epochBatches()) yield transform(batch);
}

// Pass 1: per-gene mean and std (population), as OnePassMeanVarStd computes them for the CSV.
let var_names_g: string[] = [];
let moments: RunningMoments | null = null;
for await (const batch of batches(logNormalize)) {
  var_names_g = batch.var_names_g;
  moments ??= new RunningMoments(var_names_g.length, "shifted_data");
  moments.update(batch.x_ng);
}
if (!moments) throw new Error(`${filesArg} holds no cells`);
const mean_g = Float32Array.from(moments.mean());
const std_g = Float32Array.from(moments.std());
const zscored = composeTransforms([
  new NormalizeTotal(),
  new Log1p(),
  new ZScore({ mean_g, std_g, var_names_g }),
]);

// The batches are kept in memory when they fit (about 2 GB), else read again for every setting.
const nObs = collection.nObs;
const genes = var_names_g.length;
const inMemory = nObs * genes * 4 <= 2 ** 31;
const cached: Batch[] = [];
if (inMemory) for await (const batch of batches(zscored)) cached.push(batch);

const work = mkdtempSync(join(tmpdir(), "ipca-accuracy-"));
writeFileSync(join(work, "mean_g.f32"), mean_g);
writeFileSync(join(work, "std_g.f32"), std_g);
interface Setting {
  readonly oversample: number;
  readonly niter: number;
  readonly cellsPerS: number;
  readonly file: string;
  readonly explained: string;
}
const settings: Setting[] = [];
for (const niter of list(niterArg)) {
  for (const oversample of list(oversampleArg)) {
    const model = new IncrementalPCA({
      var_names_g,
      n_components: k,
      svd_lowrank_niter: niter,
      oversample,
      seed,
    });
    let fitMs = 0;
    const step = (batch: Batch) => {
      const t0 = performance.now();
      model.forward(batch);
      fitMs += performance.now() - t0;
    };
    if (inMemory) for (const batch of cached) step(batch);
    else for await (const batch of batches(zscored)) step(batch);
    const file = join(work, `V_${oversample}_${niter}.f64`);
    const explained = join(work, `ev_${oversample}_${niter}.f64`);
    writeFileSync(file, model.V_kg.data);
    writeFileSync(explained, model.explained_variance_k.data);
    settings.push({ oversample, niter, cellsPerS: (model.x_size / fitMs) * 1000, file, explained });
  }
}
collection.close();

const helper = fileURLToPath(new URL("./ipca_exact.py", import.meta.url));
const request = { files, work, k, settings: settings.map(({ file, explained }) => ({ file, explained })) };
const result = JSON.parse(
  execFileSync("/usr/bin/python3", [helper], {
    input: JSON.stringify(request),
    encoding: "utf8",
    stdio: ["pipe", "pipe", "inherit"],
    maxBuffer: 64 * 1024 * 1024,
  }),
) as {
  n: number;
  g: number;
  J: number;
  eigenvalues: number[];
  settings: { error_ratio: number; max_ev_error: number; max_angle_deg: number }[];
};
rmSync(work, { recursive: true, force: true });

console.log(
  `${files.join(", ")}: ${result.n} cells x ${result.g} genes, k = ${k}, batches of ${batchSize}; J = ${result.J}`,
);
console.log(`exact eigenvalues 1..11: ${result.eigenvalues.map((v) => v.toPrecision(4)).join(" ")}`);
console.log("| oversample | niter | error ratio | max ev error (top J) | max angle (top J) | fit cells/s |");
console.log("|---:|---:|---:|---:|---:|---:|");
settings.forEach((s, i) => {
  const r = result.settings[i]!;
  console.log(
    `| ${s.oversample} | ${s.niter} | ${r.error_ratio.toFixed(5)} | ${(100 * r.max_ev_error).toFixed(3)}% | ${r.max_angle_deg.toFixed(3)} deg | ${Math.round(s.cellsPerS)} |`,
  );
});
