// Training steps per second of logistic_regression and probabilistic_pca (both flavors) against the
// same models written in plain PyTorch (bench/pca_steps_torch.py, Debian's python3-torch), in one
// run, on random dense batches of 1,000 cells: g = 1,000 and 20,000 genes, k = 50 components (PPCA)
// and 10 categories (logistic regression). One step = forward, backward and an Adam update.
// PyTorch gets the thread count given (default: the machine's cores); for ours, set
// OPENBLAS_NUM_THREADS to the same number. Prints a markdown table.
//   node --import tsx bench/pca-steps.ts [--quick] [--threads N]

import { spawnSync } from "node:child_process";
import { availableParallelism } from "node:os";
import type { Batch } from "../src/data/batch.js";
import type { DenseMatrix } from "../src/data/matrix.js";
import { LogisticRegression } from "../src/models/logistic-regression.js";
import type { CellariumModel } from "../src/models/model.js";
import { type PpcaFlavor, ProbabilisticPCA } from "../src/models/probabilistic-pca.js";
import { createOptimizer } from "../src/optim/registry.js";
import { Generator } from "../src/tensor/random.js";
import { optimParams } from "../src/train/cellarium-module.js";

const args = process.argv.slice(2);
const quick = args.includes("--quick");
const threadsAt = args.indexOf("--threads");
const threads = threadsAt >= 0 ? Number(args[threadsAt + 1]) : availableParallelism();

interface Case {
  model: "logistic_regression" | "probabilistic_pca";
  flavor?: PpcaFlavor;
  n: number;
  g: number;
  /** Components (PPCA) or categories (logistic regression). */
  k: number;
  steps: number;
}

const n = quick ? 100 : 1000;
const genes = quick ? [200] : [1000, 20_000];
const cases: Case[] = genes.flatMap((g) => {
  const steps = quick ? 2 : g > 5000 ? 10 : 50;
  return [
    { model: "logistic_regression", n, g, k: 10, steps },
    { model: "probabilistic_pca", flavor: "marginalized", n, g, k: 50, steps },
    { model: "probabilistic_pca", flavor: "linear_vae", n, g, k: 50, steps },
  ] satisfies Case[];
});

function build(c: Case, names: string[]): { model: CellariumModel; batch: Batch } {
  const rng = new Generator(0);
  const data = new Float32Array(c.n * c.g);
  rng.fillNormal(data);
  const x_ng: DenseMatrix = { format: "dense", nRows: c.n, nCols: c.g, data };
  if (c.model === "logistic_regression") {
    const y_categories = Array.from({ length: c.k }, (_, i) => `type${i}`);
    const y_n = Int32Array.from({ length: c.n }, () => rng.randint(0, c.k));
    const model = new LogisticRegression({
      n_obs: 10 * c.n,
      var_names_g: names,
      y_categories,
      log_metrics: false,
    });
    return { model, batch: { x_ng, var_names_g: names, y_n, y_categories } };
  }
  const model = new ProbabilisticPCA({
    n_obs: 10 * c.n,
    var_names_g: names,
    n_components: c.k,
    ppca_flavor: c.flavor!,
    W_init_scale: 0.1,
  });
  return { model, batch: { x_ng, var_names_g: names } };
}

function ours(c: Case): number {
  const names = Array.from({ length: c.g }, (_, j) => `g${j}`);
  const { model, batch } = build(c, names);
  const optimizer = createOptimizer("torch.optim.Adam", [{ params: optimParams(model.parameters()) }], {
    lr: 1e-3,
  });
  const step = () => {
    model.forward(batch).loss!.backward();
    optimizer.step();
    optimizer.zeroGrad();
  };
  step();
  const start = performance.now();
  for (let s = 0; s < c.steps; s++) step();
  return c.steps / ((performance.now() - start) / 1000);
}

function torch(): number[] {
  const script = new URL("./pca_steps_torch.py", import.meta.url).pathname;
  const run = spawnSync("/usr/bin/python3", [script], {
    input: JSON.stringify({ threads, cases }),
    encoding: "utf8",
  });
  if (run.status !== 0) throw new Error(`python3 failed: ${run.stderr}`);
  return (JSON.parse(run.stdout) as { steps_per_s: number[] }).steps_per_s;
}

const mine = cases.map(ours);
const reference = torch();
console.log(
  `batch ${n} dense cells, ${threads} thread(s) for PyTorch, OPENBLAS_NUM_THREADS=${process.env.OPENBLAS_NUM_THREADS ?? "(unset)"}`,
);
console.log("| model | g | k | cellarium-ts steps/s | PyTorch steps/s | ratio |\n|---|---|---|---|---|---|");
cases.forEach((c, i) => {
  const name = c.flavor ? `${c.model} (${c.flavor})` : c.model;
  const ratio = mine[i]! / reference[i]!;
  console.log(
    `| ${name} | ${c.g} | ${c.k} | ${mine[i]!.toFixed(1)} | ${reference[i]!.toFixed(1)} | ${ratio.toFixed(2)} |`,
  );
});
