import assert from "node:assert/strict";
import { test } from "node:test";
import type { CsrMatrix } from "../../src/data/matrix.js";
import { SchemaMismatchError } from "../../src/errors.js";
import type { TrainerContext } from "../../src/models/model.js";
import { OnePassMeanVarStd } from "../../src/models/onepass-mean-var-std.js";
import { TDigest } from "../../src/models/tdigest.js";
import { Generator } from "../../src/tensor/random.js";
import type { Tensor } from "../../src/tensor/tensor.js";

const G = 5;
const genes = ["a", "b", "c", "d", "e"];

// Random count batches as CSR; gene e is never non-zero.
function batches(seed: number, count: number, rows: number): CsrMatrix[] {
  const g = new Generator(seed);
  return Array.from({ length: count }, () => {
    const indptr = new Int32Array(rows + 1);
    const indices: number[] = [];
    const data: number[] = [];
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < G - 1; j++) {
        if (g.nextDouble() < 0.4) {
          indices.push(j);
          data.push(1 + g.randint(0, 10 * (j + 1)));
        }
      }
      indptr[i + 1] = indices.length;
    }
    return {
      format: "csr",
      nRows: rows,
      nCols: G,
      indptr,
      indices: Int32Array.from(indices),
      data: Float32Array.from(data),
    };
  });
}

function dense(blocks: CsrMatrix[]): number[][] {
  const columns: number[][] = Array.from({ length: G }, () => []);
  for (const b of blocks) {
    for (let i = 0; i < b.nRows; i++) {
      const row = new Array(G).fill(0);
      for (let p = b.indptr[i]!; p < b.indptr[i + 1]!; p++) row[b.indices[p]!] = b.data[p]!;
      row.forEach((v, j) => {
        columns[j]!.push(v);
      });
    }
  }
  return columns;
}

const context = (written: Map<string, string>, replicaRank = 0): TrainerContext => ({
  epoch: 0,
  globalStep: 0,
  numReplicas: 1,
  replicaRank,
  wholeRun: replicaRank === 0,
  writeTextFile: async (path, text) => {
    written.set(path, text);
  },
  writeGenes: async () => {},
});

test("OnePassMeanVarStd gives the exact population mean/var/std and writes upstream's CSV at the end", async () => {
  const data = batches(1, 6, 37);
  for (const algorithm of ["naive", "shifted_data"] as const) {
    const model = new OnePassMeanVarStd({ var_names_g: genes, algorithm, output_path: "/out/stats.csv" });
    for (const x_ng of data) model.forward({ x_ng, var_names_g: genes });
    const columns = dense(data);
    const mean_g = model.attribute("mean_g") as Tensor;
    const var_g = model.attribute("var_g") as Tensor;
    columns.forEach((column, j) => {
      const m = column.reduce((s, v) => s + v, 0) / column.length;
      const v = column.reduce((s, x) => s + (x - m) ** 2, 0) / column.length;
      assert.ok(Math.abs(mean_g.data[j]! - m) < 1e-12 * (1 + m), `${algorithm} mean ${j}`);
      assert.ok(Math.abs(var_g.data[j]! - v) < 1e-10 * (1 + v), `${algorithm} var ${j}`);
      assert.ok(Math.abs((model.std_g.data[j] as number) - Math.sqrt(v)) < 1e-9);
    });
    assert.equal(model.attribute("x_size"), 6 * 37);
    const written = new Map<string, string>();
    await model.onTrainEnd(context(written));
    const lines = written.get("/out/stats.csv")!.trim().split("\n");
    assert.equal(lines[0], "var_names_g,mean_g,var_g,std_g");
    assert.equal(lines.length, 1 + G);
    assert.equal(Number(lines[1]!.split(",")[1]), mean_g.data[0]);
    // Only rank 0 writes.
    const none = new Map<string, string>();
    await model.onTrainEnd(context(none, 1));
    assert.equal(none.size, 0);
  }
});

test("OnePassMeanVarStd state round-trips mid-stream and merges replicas exactly", () => {
  const data = batches(2, 8, 20);
  const whole = new OnePassMeanVarStd({ var_names_g: genes, algorithm: "shifted_data", output_path: null });
  for (const x_ng of data) whole.forward({ x_ng, var_names_g: genes });

  const first = new OnePassMeanVarStd({ var_names_g: genes, algorithm: "shifted_data", output_path: null });
  for (const x_ng of data.slice(0, 3)) first.forward({ x_ng, var_names_g: genes });
  const resumed = new OnePassMeanVarStd({ var_names_g: genes, algorithm: "shifted_data", output_path: null });
  resumed.loadStateDict(first.stateDict());
  for (const x_ng of data.slice(3)) resumed.forward({ x_ng, var_names_g: genes });
  assert.deepEqual([...resumed.mean_g.data], [...whole.mean_g.data]);
  assert.deepEqual([...resumed.var_g.data], [...whole.var_g.data]);

  const other = new OnePassMeanVarStd({ var_names_g: genes, algorithm: "shifted_data", output_path: null });
  for (const x_ng of data.slice(3)) other.forward({ x_ng, var_names_g: genes });
  first.merge(other);
  whole.var_g.data.forEach((v, j) => {
    assert.ok(Math.abs((first.var_g.data[j] as number) - v) < 1e-12 * (1 + v));
  });
});

test("OnePassMeanVarStd checks genes and output_path", () => {
  const model = new OnePassMeanVarStd({ var_names_g: genes, output_path: null });
  assert.throws(
    () => model.forward({ x_ng: batches(3, 1, 2)[0]!, var_names_g: ["a", "b", "x", "d", "e"] }),
    (e: Error) =>
      e instanceof SchemaMismatchError && /var_names_g\[2\] is "x" but the model expects "c"/.test(e.message),
  );
  assert.throws(
    () => new OnePassMeanVarStd({ var_names_g: genes, output_path: "stats.tsv" }),
    /must end with \.csv/,
  );
  assert.throws(
    () => model.attribute("median_g"),
    /OnePassMeanVarStd has no attribute "median_g"; available: mean_g, var_g/,
  );
});

test("TDigest medians of non-zero values, quantile attributes, NaN warning, state and merge", () => {
  const data = batches(4, 10, 50);
  const warnings: string[] = [];
  const model = new TDigest({ var_names_g: genes, warn: (m) => warnings.push(m) });
  for (const x_ng of data) model.forward({ x_ng, var_names_g: genes });
  const median = model.attribute("median_g") as Tensor;
  dense(data).forEach((column, j) => {
    const nonzero = column.filter((v) => v !== 0).sort((a, b) => a - b);
    if (nonzero.length === 0) {
      assert.ok(Number.isNaN(median.data[j]!));
      return;
    }
    // A value whose rank interval among the non-zeros contains the middle.
    const m = median.data[j]!;
    const below = nonzero.filter((v) => v < m).length / nonzero.length;
    const atOrBelow = nonzero.filter((v) => v <= m).length / nonzero.length;
    assert.ok(
      below <= 0.5 + 0.005 && atOrBelow >= 0.5 - 0.005,
      `gene ${j}: median ${m}, ranks [${below}, ${atOrBelow}]`,
    );
  });
  assert.deepEqual(warnings, ["TDigest: 1 of 5 genes were never non-zero; their quantiles are NaN"]);
  const q90 = model.attribute("q90_g") as Tensor;
  assert.ok(q90.data[3]! >= median.data[3]!);

  const restored = new TDigest({ var_names_g: genes, warn: () => {} });
  restored.loadStateDict(model.stateDict());
  assert.deepEqual([...(restored.attribute("q90_g") as Tensor).data], [...q90.data]);

  const a = new TDigest({ var_names_g: genes, warn: () => {} });
  const b = new TDigest({ var_names_g: genes, warn: () => {} });
  for (const x_ng of data.slice(0, 5)) a.forward({ x_ng, var_names_g: genes });
  for (const x_ng of data.slice(5)) b.forward({ x_ng, var_names_g: genes });
  a.merge(b);
  assert.deepEqual([...a.count_g.data], [...model.count_g.data]);
});
