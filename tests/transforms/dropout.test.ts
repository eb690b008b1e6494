import assert from "node:assert/strict";
import { test } from "node:test";
import { createTransform } from "../../src/cli/registry.js";
import type { Matrix } from "../../src/data/matrix.js";
import { ArgumentError, ConfigError } from "../../src/errors.js";
import { Dropout } from "../../src/transforms/dropout.js";
import {
  assertAgree,
  assertFormsAgree,
  atPositions,
  csr,
  meanAndSe,
  randomCounts,
  rowsOf,
  torchReference,
} from "./helpers.js";

const counts = randomCounts(11, 60, 40, 0.4);
const genes = counts[0]!.map((_, j) => `g${j}`);
const nonZeros = counts.flat().filter((v) => v !== 0).length;
const K = 200;

/** Fraction of x's non-zero counts that y zeroed. */
function droppedFraction(y: Matrix): number {
  const out = rowsOf(y);
  let dropped = 0;
  counts.forEach((row, i) => {
    row.forEach((v, j) => {
      if (v !== 0 && out[i]![j] === 0) dropped++;
    });
  });
  return dropped / nonZeros;
}

test("Dropout zeroes each count of a picked cell with probability (min + max) / 2, as upstream's torch formula", () => {
  const transform = new Dropout({ p_dropout_min: 0.1, p_dropout_max: 0.5, p_apply: 0.6 });
  const outs = atPositions(transform, { x_ng: csr(counts), var_names_g: genes }, K, 3);
  const ours = meanAndSe(outs.map(droppedFraction));
  // Upstream's forward, line by line, K times.
  const torch = torchReference(
    `
x = torch.tensor(inp["x"], dtype=torch.float32)
torch.manual_seed(0)
fr = []
for _ in range(inp["k"]):
    p_dropout_ng = torch.empty_like(x).uniform_(0.1, 0.5)
    x_aug = torch.where(torch.bernoulli(p_dropout_ng).bool(), 0, x)
    apply_n1 = torch.bernoulli(torch.Tensor([0.6]).expand(x.shape[0], 1).type_as(x)).bool()
    y = torch.where(apply_n1, x_aug, x)
    fr.append((((x != 0) & (y == 0)).sum() / (x != 0).sum()).item())
f = torch.tensor(fr, dtype=torch.float64)
out = {"mean": f.mean().item(), "se": (f.std() / math.sqrt(len(fr))).item()}
`,
    { x: counts, k: K },
  ) as { mean: number; se: number };
  assertAgree("dropped fraction, ours vs torch's", ours, torch);
  assertAgree("dropped fraction vs p_apply * (min + max) / 2", ours, { mean: 0.6 * 0.3, se: 0 });
  // What is not dropped is the count itself.
  for (const y of outs) {
    rowsOf(y).forEach((row, i) => {
      assert.ok(
        row.every((v, j) => v === 0 || v === counts[i]![j]),
        `row ${i}`,
      );
    });
  }
});

test("Dropout picks each cell with probability p_apply (certain dropout empties exactly the picked cells)", () => {
  const transform = new Dropout({ p_dropout_min: 1, p_dropout_max: 1, p_apply: 0.3 });
  const outs = atPositions(transform, { x_ng: csr(counts), var_names_g: genes }, K, 5);
  const cells = counts.filter((row) => row.some((v) => v !== 0)).length;
  const fractions = outs.map((y) => {
    const out = rowsOf(y);
    let emptied = 0;
    counts.forEach((row, i) => {
      if (row.some((v) => v !== 0) && out[i]!.every((v) => v === 0)) emptied++;
      // A cell is dropped whole or not at all.
      else assert.deepEqual(out[i], row);
    });
    return emptied / cells;
  });
  assertAgree("picked fraction", meanAndSe(fractions), { mean: 0.3, se: 0 });
});

test("Dropout keeps CSR (structure shared), one result for every input form, a stream per seed and batch", () => {
  const { x, y } = assertFormsAgree(
    new Dropout({ p_dropout_min: 0.2, p_dropout_max: 0.6, p_apply: 0.7 }),
    counts,
    9,
  );
  assert.equal(y.format, "csr");
  assert.equal(y.format === "csr" && y.indices, x.indices);
  // Called directly (no position): its own generator, one stream across calls.
  const own = new Dropout({ p_dropout_min: 0.5, p_dropout_max: 0.5, p_apply: 1 });
  const batch = { x_ng: csr(counts), var_names_g: genes };
  assert.notDeepEqual(rowsOf(own.forward(batch).x_ng!), rowsOf(own.forward(batch).x_ng!));
});

test("Dropout refuses probabilities outside [0, 1] and min > max, in the library and in a config", () => {
  assert.throws(
    () => new Dropout({ p_dropout_min: -0.1, p_dropout_max: 0.5, p_apply: 1 }),
    (e: unknown) =>
      e instanceof ArgumentError &&
      /p_dropout_min must be a probability in \[0, 1\], got -0.1/.test(e.message),
  );
  assert.throws(
    () => new Dropout({ p_dropout_min: 0.1, p_dropout_max: 0.5, p_apply: 2 }),
    /p_apply must be a probability in \[0, 1\], got 2/,
  );
  const args = { p_dropout_min: "0.1", p_dropout_max: "0.5", p_apply: "0.5" };
  assert.throws(
    () =>
      createTransform(
        "cellarium.ml.transforms.Dropout",
        { ...args, p_dropout_max: "1.5" },
        "model.transforms.0",
      ),
    (e: unknown) =>
      e instanceof ConfigError &&
      e.message === 'model.transforms.0.init_args.p_dropout_max: expected a probability in [0, 1], got "1.5"',
  );
  assert.throws(
    () =>
      createTransform(
        "cellarium.ml.transforms.Dropout",
        { ...args, p_dropout_min: 0.6 },
        "model.transforms.0",
      ),
    (e: unknown) =>
      e instanceof ConfigError &&
      e.key === "model.transforms.0.init_args.p_dropout_min" &&
      /^model\.transforms\.0\.init_args: Dropout: p_dropout_min \(0\.6\) must not exceed p_dropout_max \(0\.5\)/.test(
        e.message,
      ),
  );
  assert.throws(
    () => createTransform("cellarium.ml.transforms.Dropout", { p_dropout_min: 0.1, p_dropout_max: 0.5 }, "t"),
    /t\.init_args\.p_apply is required/,
  );
  const built = createTransform("cellarium.ml.transforms.Dropout", args, "t");
  assert.deepEqual(Dropout.fromState(built.state()).state(), {
    name: "Dropout",
    args: { p_dropout_min: 0.1, p_dropout_max: 0.5, p_apply: 0.5 },
    tensors: {},
  });
});
