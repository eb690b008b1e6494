import assert from "node:assert/strict";
import { test } from "node:test";
import { createTransform } from "../../src/cli/registry.js";
import { deferredDense } from "../../src/data/matrix.js";
import { DataValueError } from "../../src/errors.js";
import { composeTransforms } from "../../src/transforms/compose.js";
import { PFlogPF } from "../../src/transforms/pflogpf.js";
import { csr, dense, randomCounts, rowsOf, snapshot, torchReference } from "./helpers.js";

const rows = randomCounts(51, 10, 200, 0.3);
const genes = rows[0]!.map((_, j) => `g${j}`);

// Upstream's PFlogPF.forward: NormalizeTotal (row sums, since only x_ng is passed), log1p, CenterPerCell.
const UPSTREAM = `
x = torch.tensor(inp["x"], dtype=torch.float32)
t, eps = inp["target_count"], inp["eps"]
y = t * x / (x.sum(dim=-1)[:, None].float() + eps)
y = torch.log1p(y)
out = (y - y.mean(dim=-1, keepdim=True)).tolist()
`;

function assertClose(got: number[][], want: number[][]): void {
  got.forEach((row, i) => {
    row.forEach((v, j) => {
      const w = want[i]![j]!;
      assert.ok(Math.abs(v - w) <= 2e-6 * (1 + Math.abs(w)), `(${i}, ${j}): ${v} vs ${w}`);
    });
  });
}

test("PFlogPF is upstream's NormalizeTotal -> Log1p -> CenterPerCell (torch), default target_count 1, for every input form", () => {
  for (const [options, target_count, eps] of [
    [{}, 1, 1e-6],
    [{ target_count: 10_000, eps: 0 }, 10_000, 0],
  ] as const) {
    const want = torchReference(UPSTREAM, { x: rows, target_count, eps }) as number[][];
    const x = csr(rows);
    const before = snapshot(x);
    const forms = [() => csr(rows), () => dense(rows), () => deferredDense(csr(rows))];
    for (const x_ng of [x, dense(rows), deferredDense(csr(rows))]) {
      // total_mrna_umis_n in the batch is not used: upstream's forward takes x_ng alone.
      const batch = { x_ng, var_names_g: genes, total_mrna_umis_n: new Float32Array(rows.length).fill(7) };
      const out = new PFlogPF(options).forward(batch).x_ng!;
      assert.equal(out.format, "dense");
      assertClose(rowsOf(out), want);
    }
    // Working in place on values the pipeline owns (fresh ones) gives the same.
    for (const form of forms) {
      const owned = composeTransforms([new PFlogPF(options)])(
        { x_ng: form(), var_names_g: genes },
        { ownsValues: true },
      );
      assertClose(rowsOf(owned.x_ng), want);
    }
    assert.deepEqual(x, before);
  }
});

test("PFlogPF refuses negative counts and a target_count <= 0", () => {
  assert.throws(
    () => new PFlogPF().forward({ x_ng: csr([[1, -2, 3]]), var_names_g: ["a", "b", "c"] }),
    (e: unknown) =>
      e instanceof DataValueError && /NormalizeTotal: x_ng has the negative value -2/.test(e.message),
  );
  assert.throws(
    () => createTransform("cellarium.ml.transforms.PFlogPF", { target_count: 0 }, "model.transforms.0"),
    /model\.transforms\.0\.init_args: PFlogPF: target_count must be a finite number > 0, got 0/,
  );
  const built = createTransform("cellarium.ml.transforms.PFlogPF", { eps: "1e-3" }, "t");
  assert.deepEqual(built.state(), { name: "PFlogPF", args: { target_count: 1, eps: 1e-3 }, tensors: {} });
  assert.deepEqual(PFlogPF.fromState(built.state()).state(), built.state());
});
