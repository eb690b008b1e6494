// Time per batch of each transform on a random CSR block, printed as a table.
// Usage: node --import tsx bench/transforms.ts [cells=1000] [genes=20000] [density=0.07] [repeats=5]

import type { Batch } from "../src/data/batch.js";
import type { CsrMatrix } from "../src/data/matrix.js";
import { Generator } from "../src/tensor/random.js";
import { Densify } from "../src/transforms/densify.js";
import { DivideByScale } from "../src/transforms/divide-by-scale.js";
import { Filter } from "../src/transforms/filter.js";
import { Log1p } from "../src/transforms/log1p.js";
import { NormalizeTotal } from "../src/transforms/normalize-total.js";
import { ZScore } from "../src/transforms/z-score.js";

const [cells = 1000, genes = 20000, density = 0.07, repeats = 5] = process.argv.slice(2).map(Number);
const rng = new Generator(0);

// Each row holds about density * genes entries at sorted random columns, counts 1..20.
const indptr = new Int32Array(cells + 1);
const indices: number[] = [];
for (let i = 0; i < cells; i++) {
  for (let g = 0; g < genes; g++) if (rng.nextDouble() < density) indices.push(g);
  indptr[i + 1] = indices.length;
}
const data = new Float32Array(indices.length);
for (let p = 0; p < data.length; p++) data[p] = rng.randint(1, 21);
const x_ng: CsrMatrix = {
  format: "csr",
  nRows: cells,
  nCols: genes,
  indptr,
  indices: Int32Array.from(indices),
  data,
};
const var_names_g = Array.from({ length: genes }, (_, g) => `gene${g}`);
const batch: Batch = { x_ng, var_names_g };

const perGene = (value: number) => new Float32Array(genes).fill(value);
const shuffledHalf = [...rng.permutation(genes).subarray(0, genes / 2)].map((g) => var_names_g[g]!);
const cases = [
  new NormalizeTotal(),
  new Log1p(),
  new DivideByScale({ scale_g: perGene(2), var_names_g }),
  new Filter({ filter_list: shuffledHalf }),
  new Filter({ filter_list: shuffledHalf, ordering: false }),
  new ZScore({ mean_g: perGene(1), std_g: perGene(2), var_names_g }),
  new Densify(),
];

console.log(`${cells} cells x ${genes} genes, ${data.length} non-zeros, best of ${repeats}`);
console.log("transform".padEnd(28), "ms/batch".padStart(10));
for (const transform of cases) {
  let best = Number.POSITIVE_INFINITY;
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now();
    transform.forward(batch);
    best = Math.min(best, performance.now() - t0);
  }
  const label = transform instanceof Filter ? `Filter(ordering=${transform.ordering})` : transform.name;
  console.log(label.padEnd(28), best.toFixed(2).padStart(10));
}
