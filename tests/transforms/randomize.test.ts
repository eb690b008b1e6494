import assert from "node:assert/strict";
import { test } from "node:test";
import { createTransform } from "../../src/cli/registry.js";
import type { Matrix } from "../../src/data/matrix.js";
import { SchemaMismatchError } from "../../src/errors.js";
import { Randomize } from "../../src/transforms/randomize.js";
import {
  assertAgree,
  atPositions,
  csr,
  dense,
  meanAndSe,
  randomCounts,
  rowsOf,
  torchReference,
} from "./helpers.js";

const original = randomCounts(71, 80, 10, 0.5);
// Every augmented row differs from its original (an added count in column 0).
const augmented = original.map((row) => row.map((v, j) => (j === 0 ? v + 1 : v)));
const genes = original[0]!.map((_, j) => `g${j}`);
const K = 100;

/** Fraction of rows taken from x_aug; every row must be one or the other. */
function augmentedFraction(y: Matrix): number {
  let taken = 0;
  rowsOf(y).forEach((row, i) => {
    if (row.every((v, j) => v === augmented[i]![j])) taken++;
    else assert.deepEqual(row, original[i]);
  });
  return taken / original.length;
}

test("Randomize takes each cell's x_aug row with probability p_apply, as upstream's torch.where over Bernoulli draws", () => {
  const p_apply = 0.35;
  const batch = { x_ng: csr(original), x_aug: csr(augmented), var_names_g: genes };
  const outs = atPositions(new Randomize({ p_apply }), batch, K, 12);
  assert.equal(outs[0]!.format, "csr");
  const torch = torchReference(
    `
x_ng = torch.tensor(inp["x"], dtype=torch.float32); x_aug = torch.tensor(inp["aug"], dtype=torch.float32)
torch.manual_seed(0)
fr = []
for _ in range(inp["k"]):
    # upstream's forward, line by line
    p_apply_n1 = torch.Tensor([inp["p"]]).expand(x_ng.shape[0], 1).type_as(x_ng)
    apply_mask_n1 = torch.bernoulli(p_apply_n1).bool()
    y = torch.where(apply_mask_n1, x_aug, x_ng)
    fr.append((y == x_aug).all(dim=1).double().mean().item())
t = torch.tensor(fr, dtype=torch.float64)
out = {"mean": t.mean().item(), "se": (t.std() / math.sqrt(len(fr))).item()}
`,
    { x: original, aug: augmented, p: p_apply, k: K },
  ) as { mean: number; se: number };
  const ours = meanAndSe(outs.map(augmentedFraction));
  assertAgree("augmented fraction, ours vs torch's", ours, torch);
  assertAgree("augmented fraction vs p_apply", ours, { mean: p_apply, se: 0 });
});

test("Randomize: p_apply 0 and 1 pick one side whole; a dense side gives a dense result", () => {
  const batch = { x_ng: csr(original), x_aug: dense(augmented), var_names_g: genes };
  const [none] = atPositions(new Randomize({ p_apply: 0 }), batch, 1);
  const [all] = atPositions(new Randomize({ p_apply: 1 }), batch, 1);
  assert.equal(none!.format, "dense");
  assert.deepEqual(rowsOf(none!), original);
  assert.deepEqual(rowsOf(all!), augmented);
});

test("Randomize needs a matrix x_aug of x_ng's shape; p_apply is a probability", () => {
  const randomize = new Randomize({ p_apply: 0.5 });
  assert.throws(
    () => randomize.forward({ x_ng: csr(original), var_names_g: genes }),
    (e: unknown) =>
      e instanceof SchemaMismatchError && /Randomize: the batch has no matrix x_aug/.test(e.message),
  );
  assert.throws(
    () => randomize.forward({ x_ng: csr(original), x_aug: csr(original.slice(1)), var_names_g: genes }),
    /Randomize: x_aug is 79 x 10 but x_ng is 80 x 10/,
  );
  assert.throws(
    () => createTransform("cellarium.ml.transforms.Randomize", { p_apply: "yes" }, "model.transforms.0"),
    /model\.transforms\.0\.init_args\.p_apply: expected a number, got "yes"/,
  );
  const state = createTransform("cellarium.ml.transforms.Randomize", { p_apply: "0.25" }, "t").state();
  assert.deepEqual(state, { name: "Randomize", args: { p_apply: 0.25 }, tensors: {} });
  assert.deepEqual(Randomize.fromState(state).state(), state);
});
