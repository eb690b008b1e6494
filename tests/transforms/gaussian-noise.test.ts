import assert from "node:assert/strict";
import { test } from "node:test";
import { createTransform } from "../../src/cli/registry.js";
import type { Matrix } from "../../src/data/matrix.js";
import { ArgumentError, ConfigError } from "../../src/errors.js";
import { GaussianNoise } from "../../src/transforms/gaussian-noise.js";
import {
  assertAgree,
  assertFormsAgree,
  atPositions,
  csr,
  dense,
  meanAndSe,
  randomCounts,
  rowsOf,
  torchReference,
} from "./helpers.js";

// Log-transformed counts (upstream's intended input), float32-exact.
const values = randomCounts(31, 50, 40, 0.4).map((row) => row.map((v) => Math.fround(Math.log1p(v))));
const genes = values[0]!.map((_, j) => `g${j}`);
const K = 100;
const [A, B] = [0.1, 1.5];

/** Per draw: the mean, second and fourth moments of the noise y - x over all entries. */
function moments(y: Matrix): [number, number, number] {
  const out = rowsOf(y);
  let m1 = 0;
  let m2 = 0;
  let m4 = 0;
  const n = values.length * genes.length;
  values.forEach((row, i) => {
    row.forEach((x, j) => {
      const e = out[i]![j]! - x;
      m1 += e / n;
      m2 += (e * e) / n;
      m4 += e ** 4 / n;
    });
  });
  return [m1, m2, m4];
}

test("GaussianNoise adds N(0, sigma) with sigma ~ U(min, max) per entry: moments as upstream's torch formula", () => {
  const transform = new GaussianNoise({ sigma_min: A, sigma_max: B, p_apply: 1 });
  const outs = atPositions(transform, { x_ng: csr(values), var_names_g: genes }, K, 8);
  const ours = outs.map(moments);
  const torch = torchReference(
    `
x = torch.tensor(inp["x"], dtype=torch.float32)
torch.manual_seed(0)
ms = []
for _ in range(inp["k"]):
    # upstream's forward, line by line
    sigma_ng = torch.empty_like(x).uniform_(inp["a"], inp["b"])
    x_aug = x + torch.normal(mean=0, std=sigma_ng)
    apply_n1 = torch.bernoulli(torch.Tensor([1.0]).expand(x.shape[0], 1).type_as(x)).bool()
    e = (torch.where(apply_n1, x_aug, x) - x).double()
    ms.append([e.mean().item(), (e ** 2).mean().item(), (e ** 4).mean().item()])
t = torch.tensor(ms, dtype=torch.float64)
out = [{"mean": t[:, c].mean().item(), "se": (t[:, c].std() / math.sqrt(len(ms))).item()} for c in range(3)]
`,
    { x: values, a: A, b: B, k: K },
  ) as { mean: number; se: number }[];
  // E[noise^2] = E[sigma^2], E[noise^4] = 3 E[sigma^4], for sigma uniform on [A, B].
  const exact = [0, (B ** 3 - A ** 3) / (3 * (B - A)), (3 * (B ** 5 - A ** 5)) / (5 * (B - A))];
  ["mean", "second moment", "fourth moment"].forEach((name, c) => {
    const estimate = meanAndSe(ours.map((m) => m[c]!));
    assertAgree(`noise ${name}, ours vs torch's`, estimate, torch[c]!);
    assertAgree(`noise ${name} vs exact`, estimate, { mean: exact[c]!, se: 0 });
  });
});

test("GaussianNoise perturbs a cell with probability p_apply, every entry of it, and leaves the others bit for bit", () => {
  const transform = new GaussianNoise({ sigma_min: 0.5, sigma_max: 0.5, p_apply: 0.3 });
  const outs = atPositions(transform, { x_ng: dense(values), var_names_g: genes }, K, 2);
  const fractions = outs.map((y) => {
    const out = rowsOf(y);
    let changed = 0;
    values.forEach((row, i) => {
      if (out[i]!.every((v, j) => v === row[j])) return;
      changed++;
      // A picked cell: noise on every entry, zeros included (one may round back to x, rarely).
      assert.ok(out[i]!.filter((v, j) => v === row[j]).length <= 1);
    });
    return changed / values.length;
  });
  assertAgree("perturbed fraction", meanAndSe(fractions), { mean: 0.3, se: 0 });
});

test("GaussianNoise gives a dense block, one result for every input form, a stream per seed and batch", () => {
  const { y } = assertFormsAgree(new GaussianNoise({ sigma_min: 0, sigma_max: 2, p_apply: 0.5 }), values, 3);
  assert.equal(y.format, "dense");
});

test("GaussianNoise refuses a negative or infinite sigma and min > max", () => {
  assert.throws(() => new GaussianNoise({ sigma_min: -1, sigma_max: 1, p_apply: 1 }), ArgumentError);
  assert.throws(() => new GaussianNoise({ sigma_min: 0, sigma_max: Infinity, p_apply: 1 }), ArgumentError);
  assert.throws(
    () =>
      createTransform("GaussianNoise", { sigma_min: "-0.5", sigma_max: 1, p_apply: 1 }, "model.transforms.2"),
    (e: unknown) =>
      e instanceof ConfigError &&
      e.message === 'model.transforms.2.init_args.sigma_min: expected a finite number >= 0, got "-0.5"',
  );
  assert.throws(
    () => createTransform("GaussianNoise", { sigma_min: 2, sigma_max: 1, p_apply: 1 }, "model.transforms.2"),
    /model\.transforms\.2\.init_args: GaussianNoise: sigma_min \(2\) must not exceed sigma_max \(1\)/,
  );
  const state = new GaussianNoise({ sigma_min: 0.1, sigma_max: 1, p_apply: 0.5 }).state();
  assert.deepEqual(GaussianNoise.fromState(state).state(), state);
});
