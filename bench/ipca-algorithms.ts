// Fit throughput of IncrementalPCA's two states on synthetic batches (the model's forward only,
// no reading or transforms), and the time to read the components afterwards (for "scatter" the
// eigendecomposition of the g x g scatter matrix, paid at each checkpoint and at the end of fit):
// the cost of the exact state up to SCATTER_MAX_GENES genes. Values log1p(5 u), u uniform, at the
// given density (1: dense batches; below 1: CSR), k = 50, 1 OpenBLAS thread as the command line
// runs IncrementalPCA.
// Usage: OPENBLAS_NUM_THREADS=1 node --import tsx bench/ipca-algorithms.ts [genes,cells,batch,density;...]

import { type DenseMatrix, type Matrix, sparsify } from "../src/data/matrix.js";
import { IncrementalPCA } from "../src/models/incremental-pca.js";
import { Generator } from "../src/tensor/random.js";

const cases = (process.argv[2] ?? "1000,2000,100,1;1000,3000,1000,0.1;2048,5000,1000,1;2048,5000,1000,0.1")
  .split(";")
  .map((text) => text.split(",").map(Number) as [number, number, number, number]);
console.log("| genes | batch | density | algorithm | fit cells/s | components s |");
console.log("| ----: | ----: | ------: | --------- | ----------: | -----------: |");
for (const [genes, cells, size, density] of cases) {
  const names = Array.from({ length: genes }, (_, c) => `g${c}`);
  const rng = new Generator(1);
  const batches: Matrix[] = [];
  for (let start = 0; start < cells; start += size) {
    const data = new Float32Array(size * genes);
    for (let p = 0; p < data.length; p++) {
      data[p] = rng.nextDouble() < density ? Math.log1p(5 * rng.nextDouble()) : 0;
    }
    const dense: DenseMatrix = { format: "dense", nRows: size, nCols: genes, data };
    batches.push(density < 1 ? sparsify(dense) : dense);
  }
  for (const algorithm of ["lowrank", "scatter"] as const) {
    const model = new IncrementalPCA({ var_names_g: names, n_components: 50, algorithm });
    const t0 = performance.now();
    for (const x_ng of batches) model.forward({ x_ng, var_names_g: names });
    const t1 = performance.now();
    void model.S_k;
    const t2 = performance.now();
    const rate = ((batches.length * size) / (t1 - t0)) * 1000;
    console.log(
      `| ${genes} | ${size} | ${density} | ${algorithm} | ${Math.round(rate).toLocaleString("en")} | ${((t2 - t1) / 1000).toFixed(2)} |`,
    );
  }
}
