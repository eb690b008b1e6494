import assert from "node:assert/strict";
import { test } from "node:test";
import { createTransform } from "../../src/cli/registry.js";
import type { Matrix } from "../../src/data/matrix.js";
import { ConfigError, DataValueError } from "../../src/errors.js";
import { BinomialResample } from "../../src/transforms/binomial-resample.js";
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

// Counts from 1 to 49, and every fifth cell's times 40 (up to ~2,000: the BTRS path of the sampler).
const counts = randomCounts(21, 60, 40, 0.4).map((row, i) => (i % 5 === 0 ? row.map((v) => 40 * v) : row));
const genes = counts[0]!.map((_, j) => `g${j}`);
const K = 200;
const [A, B] = [0.2, 0.8];
// p ~ U(A, B): mean, variance and second moment.
const m = (A + B) / 2;
const varP = (B - A) ** 2 / 12;
const m2 = varP + m * m;

/**
 * Per draw: sum y / sum x, and sum (y - m x)^2 over its expectation for p_apply = 1,
 * sum [x (m - E p^2) + x^2 Var p] (Var Binomial(x, p) given p, plus Var of x p).
 */
function statistics(y: Matrix): { ratio: number; spread: number } {
  const out = rowsOf(y);
  let sumX = 0;
  let sumY = 0;
  let squares = 0;
  let expected = 0;
  counts.forEach((row, i) => {
    row.forEach((x, j) => {
      const v = out[i]![j]!;
      sumX += x;
      sumY += v;
      squares += (v - m * x) ** 2;
      expected += x * (m - m2) + x * x * varP;
    });
  });
  return { ratio: sumY / sumX, spread: squares / expected };
}

const TORCH_STATISTICS = `
from torch.distributions import Binomial
x = torch.tensor(inp["x"], dtype=torch.float32)
A, B, p_apply = inp["a"], inp["b"], inp["p_apply"]
m = (A + B) / 2; var_p = (B - A) ** 2 / 12; m2 = var_p + m * m
torch.manual_seed(0)
ratio, spread = [], []
for _ in range(inp["k"]):
    # upstream's forward, line by line
    p_binom_ng = torch.empty_like(x).uniform_(A, B)
    x_aug = Binomial(total_count=x, probs=p_binom_ng).sample()
    apply_n1 = torch.bernoulli(torch.Tensor([p_apply]).expand(x.shape[0], 1).type_as(x)).bool()
    y = torch.where(apply_n1, x_aug, x).double()
    xd = x.double()
    ratio.append((y.sum() / xd.sum()).item())
    spread.append((((y - m * xd) ** 2).sum() / (xd * (m - m2) + xd * xd * var_p).sum()).item())
def summary(v):
    t = torch.tensor(v, dtype=torch.float64)
    return {"mean": t.mean().item(), "se": (t.std() / math.sqrt(len(v))).item()}
out = {"ratio": summary(ratio), "spread": summary(spread)}
`;

test("BinomialResample thins counts by Binomial(x, U(min, max)): mean and variance as upstream's torch formula", () => {
  for (const p_apply of [1, 0.4]) {
    const transform = new BinomialResample({ p_binom_min: A, p_binom_max: B, p_apply });
    const outs = atPositions(transform, { x_ng: csr(counts), var_names_g: genes }, K, 4);
    const ours = outs.map(statistics);
    const torch = torchReference(TORCH_STATISTICS, { x: counts, a: A, b: B, p_apply, k: K }) as Record<
      "ratio" | "spread",
      { mean: number; se: number }
    >;
    const ratio = meanAndSe(ours.map((s) => s.ratio));
    assertAgree(`p_apply ${p_apply}: sum y / sum x, ours vs torch's`, ratio, torch.ratio);
    assertAgree(`p_apply ${p_apply}: sum y / sum x vs 1 - p_apply + p_apply m`, ratio, {
      mean: 1 - p_apply + p_apply * m,
      se: 0,
    });
    if (p_apply === 1) {
      const spread = meanAndSe(ours.map((s) => s.spread));
      assertAgree("variance ratio, ours vs torch's", spread, torch.spread);
      assertAgree("variance ratio vs 1", spread, { mean: 1, se: 0 });
    }
    for (const y of outs) {
      rowsOf(y).forEach((row, i) => {
        assert.ok(
          row.every((v, j) => Number.isInteger(v) && v >= 0 && v <= counts[i]![j]!),
          `row ${i}`,
        );
      });
    }
  }
});

test("BinomialResample keeps CSR (structure shared), one result for every input form, a stream per seed and batch", () => {
  const transform = new BinomialResample({ p_binom_min: 0.1, p_binom_max: 0.9, p_apply: 0.8 });
  const { x, y } = assertFormsAgree(transform, counts, 6);
  assert.equal(y.format, "csr");
  assert.equal(y.format === "csr" && y.indptr, x.indptr);
});

test("BinomialResample refuses what torch's Binomial refuses: a fractional or negative count anywhere in the batch", () => {
  // p_apply 0: no cell is resampled, yet upstream's Binomial validates the whole batch.
  const transform = new BinomialResample({ p_binom_min: 0.5, p_binom_max: 0.5, p_apply: 0 });
  for (const [bad, shown] of [
    [1.5, "the value 1.5"],
    [-2, "the negative value -2"],
  ] as const) {
    const x = csr([
      [1, 0, 3],
      [0, bad, 2],
    ]);
    assert.throws(
      () => transform.forward({ x_ng: x, var_names_g: ["a", "b", "c"] }),
      (e: unknown) =>
        e instanceof DataValueError &&
        e.row === 1 &&
        e.message.startsWith(
          `BinomialResample: x_ng has ${shown} at row 1 of the batch, gene b; BinomialResample needs whole counts (integers >= 0)`,
        ),
    );
  }
  assert.throws(
    () =>
      createTransform(
        "cellarium.ml.transforms.BinomialResample",
        { p_binom_min: 0.9, p_binom_max: 0.1, p_apply: 1 },
        "model.transforms.1",
      ),
    (e: unknown) =>
      e instanceof ConfigError &&
      /^model\.transforms\.1\.init_args: BinomialResample: p_binom_min \(0\.9\) must not exceed p_binom_max \(0\.1\)/.test(
        e.message,
      ),
  );
  assert.throws(
    () =>
      createTransform(
        "cellarium.ml.transforms.BinomialResample",
        { p_binom_min: 0.1, p_binom_max: 0.9, p_apply: -1 },
        "model.transforms.1",
      ),
    /model\.transforms\.1\.init_args\.p_apply: expected a probability in \[0, 1\], got -1/,
  );
  const state = new BinomialResample({ p_binom_min: 0.1, p_binom_max: 0.9, p_apply: 0.5 }).state();
  assert.deepEqual(BinomialResample.fromState(state).state(), state);
  assert.deepEqual(state.args, { p_binom_min: 0.1, p_binom_max: 0.9, p_apply: 0.5 });
});
