import assert from "node:assert/strict";
import { test } from "node:test";
import { deferredDense, densify, storedForm } from "../../src/data/matrix.js";
import { CheckpointError } from "../../src/errors.js";
import { composeTransforms, type PipelineStep } from "../../src/transforms/compose.js";
import { Densify } from "../../src/transforms/densify.js";
import { DivideByScale } from "../../src/transforms/divide-by-scale.js";
import { Filter } from "../../src/transforms/filter.js";
import { Log1p } from "../../src/transforms/log1p.js";
import { NormalizeTotal } from "../../src/transforms/normalize-total.js";
import { ZScore } from "../../src/transforms/z-score.js";
import { backend, backends, skipUnless } from "../helpers/matrices.js";
import { csr, dense, randomCounts, snapshot } from "./helpers.js";

test("Densify writes CSR entries into a zero row-major block", () => {
  const rows = [
    [0, 2, 0],
    [0, 0, 0],
    [5, 0, 1],
  ];
  const out = new Densify().forward({ x_ng: csr(rows), var_names_g: ["a", "b", "c"] }).x_ng!;
  assert.deepEqual(out, dense(rows));
});

test("Densify passes a dense block through and adds duplicate CSR entries", () => {
  const x = dense([[1, 2]]);
  assert.equal(densify(x), x);
  const duplicated = {
    format: "csr" as const,
    nRows: 1,
    nCols: 2,
    indptr: Int32Array.from([0, 2]),
    indices: Int32Array.from([1, 1]),
    data: Float32Array.from([1, 2]),
  };
  assert.deepEqual([...densify(duplicated).data], [0, 3]);
  assert.throws(() => Densify.fromState({ name: "Log1p", args: {}, tensors: {} }), CheckpointError);
});

test("densify refuses a column index outside the row instead of writing into another cell's row", () => {
  const bad = {
    format: "csr" as const,
    nRows: 2,
    nCols: 3,
    indptr: Int32Array.from([0, 1, 2]),
    indices: Int32Array.from([3, 0]),
    data: Float32Array.from([7, 1]),
  };
  assert.throws(() => densify(bad), {
    name: "ArgumentError",
    message: "densify: x_ng's column index 3 at row 0 is outside [0, 3)",
  });
  assert.throws(() => densify({ ...bad, indices: Int32Array.from([0, -1]) }), /column index -1 at row 1/);
});

// The transform chains of cellarium-ml's configs, with X densified by convert_fn densify or the
// Densify transform at the head, against the same chain on an explicit dense matrix (the dense
// code paths, which is what the densify configs ran before X stayed CSR behind a deferred dense
// block), in both kernel backends and with the pipeline owning the batch (in-place steps) or not.
// Every one of these steps computes each value from the same operands in the same order on
// either layout, so the results must be bit-identical.
const GENES = Array.from({ length: 11 }, (_, j) => `g${j}`);
const mean_g = Array.from({ length: 11 }, (_, j) => 0.3 * j - 1);
const std_g = Array.from({ length: 11 }, (_, j) => 0.5 + 0.25 * j);
const scale_g = Array.from({ length: 11 }, (_, j) => (j === 4 ? Number.NaN : 1 + j));
const subset = ["g9", "g2", "missing", "g5", "g0", "g10", "g3"];
const chains: [string, () => PipelineStep[]][] = [
  ["NormalizeTotal, Log1p", () => [new NormalizeTotal(), new Log1p()]],
  [
    "NormalizeTotal, Log1p, ZScore",
    () => [new NormalizeTotal(), new Log1p(), new ZScore({ mean_g, std_g, var_names_g: GENES })],
  ],
  [
    "Filter (reordered, missing zero-filled), NormalizeTotal, Log1p, ZScore",
    () => [
      new Filter({ filter_list: subset, allow_missing: true }),
      new NormalizeTotal({ target_count: 1000 }),
      new Log1p(),
      new ZScore({ mean_g: [...mean_g, 2], std_g: [...std_g, 3], var_names_g: [...GENES, "missing"] }),
    ],
  ],
  ["DivideByScale (NaN scale)", () => [new DivideByScale({ scale_g, var_names_g: GENES, warn: () => {} })]],
  [
    "Filter (input order), NormalizeTotal, Log1p, DivideByScale",
    () => [
      new Filter({ filter_list: ["g8", "g1", "g6", "g7"], ordering: false }),
      new NormalizeTotal(),
      new Log1p(),
      new DivideByScale({ scale_g, var_names_g: GENES, warn: () => {} }),
    ],
  ],
];

for (const which of backends) {
  for (const [name, chain] of chains) {
    test(
      `${which}: ${name} on a densified batch equals the dense path bit for bit`,
      skipUnless(which),
      () => {
        backend(which);
        const rows = randomCounts(11, 9, GENES.length, 0.3);
        rows[4]!.fill(0);
        const reference = composeTransforms(chain())({ x_ng: dense(rows), var_names_g: GENES });
        for (const ownsValues of [false, true]) {
          for (const style of ["convert_fn densify", "Densify transform"]) {
            const x = csr(rows);
            const before = snapshot(x);
            const steps = style === "Densify transform" ? [new Densify(), ...chain()] : chain();
            const x_ng = style === "Densify transform" ? x : deferredDense(x);
            const out = composeTransforms(steps)({ x_ng, var_names_g: GENES }, { ownsValues });
            assert.equal(out.x_ng.format, "dense");
            assert.deepEqual(out.var_names_g, reference.var_names_g);
            assert.deepEqual(out.x_ng.data, reference.x_ng.data, `${style}, ownsValues ${ownsValues}`);
            // The CSR values stay CSR through the steps that keep zeros zero.
            if (!name.includes("ZScore")) assert.equal(storedForm(out.x_ng).format, "csr");
            if (!ownsValues) assert.deepEqual(x, before);
          }
        }
      },
    );
  }
}

test("NormalizeTotal, Log1p, ZScore on a densified batch equal the float32 formulas on an explicit dense matrix", () => {
  const rows = randomCounts(12, 5, GENES.length, 0.4);
  const steps = [
    new Densify(),
    new NormalizeTotal(),
    new Log1p(),
    new ZScore({ mean_g, std_g, var_names_g: GENES }),
  ];
  const out = composeTransforms(steps)({ x_ng: csr(rows), var_names_g: GENES }).x_ng;
  const f = Math.fround;
  const expected = rows.flatMap((row) => {
    const total = f(row.reduce((s, v) => s + v, 0));
    return row.map((v, j) => {
      const normalized = f(f(10_000 * v) / f(total + f(1e-6)));
      const logged = f(Math.log1p(normalized));
      return f(f(logged - f(mean_g[j]!)) / f(f(std_g[j]!) + f(1e-6)));
    });
  });
  assert.deepEqual([...out.data], expected);
});
