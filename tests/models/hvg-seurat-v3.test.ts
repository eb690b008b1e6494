// HVGSeuratV3 as a library model: its sums against direct numpy-free arithmetic on a small batch,
// the rules upstream adds to scanpy's (batches below batch_n_cell_minimum take no part and clip
// nothing; n_batch_minimum), the merge of replicas in each pass, and its refusals. The equality with
// scanpy's algorithm is tested end to end in tests/cli/hvg-seurat-v3.test.ts.

import assert from "node:assert/strict";
import { test } from "node:test";
import type { Batch } from "../../src/data/batch.js";
import { selectGenes } from "../../src/models/hvg/seurat-v3.js";
import { HVGSeuratV3 } from "../../src/models/hvg-seurat-v3.js";
import type { TrainerContext } from "../../src/models/model.js";
import { csr, dense as denseBlock } from "../transforms/helpers.js";

const genes = Array.from({ length: 40 }, (_, j) => `g${j}`);

/** Deterministic counts: cell i, gene j. */
function counts(cells: number, offset: number): number[][] {
  return Array.from({ length: cells }, (_, i) =>
    genes.map((_, j) => ((i * 7 + j * 13 + offset) % 11 === 0 ? ((i + j) % 9) + 1 : 0)),
  );
}

const context = (epoch: number, wholeRun = true): TrainerContext => ({
  epoch,
  globalStep: 0,
  numReplicas: 1,
  replicaRank: 0,
  wholeRun,
  writeTextFile: async () => {},
  writeGenes: async () => {},
});

function batchOf(rows: number[][], codes?: number[]): Batch {
  return { x_ng: csr(rows), var_names_g: genes, ...(codes && { batch_index_n: Int32Array.from(codes) }) };
}

type Options = Partial<ConstructorParameters<typeof HVGSeuratV3>[0]>;

/**
 * Up to two passes over `parts` (each a list of batches) in one model, or one model per part
 * merged, as the trainer makes them: no second when the model's fit is complete after the first.
 */
function fitEpochs(parts: Batch[][], options: Options = {}): { model: HVGSeuratV3; epochs: number } {
  const make = () => new HVGSeuratV3({ var_names_g: genes, n_top_genes: 8, output_path: null, ...options });
  const models = parts.map(() => make());
  let epochs = 0;
  for (const epoch of [0, 1]) {
    if (models[0]!.fitComplete()) break;
    epochs++;
    models.forEach((m, k) => {
      m.onTrainEpochStart(context(epoch));
      for (const b of parts[k]!) m.forward(b);
    });
    const root = models[0]!;
    for (const m of models.slice(1)) root.merge(m);
    root.onTrainEpochEnd(context(epoch));
    // The trainer then gives every replica rank 0's first pass and resets the others' sums.
    for (const m of models.slice(1)) {
      m.resetParameters();
      m.loadSharedState(root.sharedState());
    }
  }
  return { model: models[0]!, epochs };
}

function fit(parts: Batch[][], options: Options = {}): HVGSeuratV3 {
  return fitEpochs(parts, options).model;
}

/**
 * The two models' states agree to float64 summation order; the heaps of largest values hold the
 * same values per batch and gene (their order in a heap depends on the order they came in).
 */
function assertSameState(a: HVGSeuratV3, b: HVGSeuratV3): void {
  const other = b.stateDict();
  for (const [name, t] of Object.entries(a.stateDict())) {
    let mine = Array.from(t.data);
    let theirs = Array.from(other[name]!.data);
    if (name === "largest_values_bgk") {
      const kept = t.shape.at(-1)!;
      const sortSlots = (values: number[]) =>
        values.flatMap((_, i) => (i % kept === 0 ? values.slice(i, i + kept).sort((x, y) => x - y) : []));
      mine = sortSlots(mine);
      theirs = sortSlots(theirs);
    }
    assert.equal(mine.length, theirs.length, name);
    mine.forEach((v, i) => {
      const close = v === theirs[i] || Math.abs(v - theirs[i]!) <= 1e-12 * Math.max(Math.abs(v), 1);
      assert.ok(close, `${name}[${i}]: ${v} vs ${theirs[i]}`);
    });
  }
}

test("the first pass's sums give upstream's mean and ddof-1 variance; clip values are mean + sqrt(n) reg_std", () => {
  const rows = counts(30, 0);
  const model = fit([[batchOf(rows)]]);
  const mean = model.attribute("means") as { data: Float64Array };
  const variance = model.attribute("variances") as { data: Float64Array };
  for (let j = 0; j < genes.length; j++) {
    const column = rows.map((r) => r[j]!);
    const m = column.reduce((a, b) => a + b, 0) / 30;
    const v = column.reduce((a, b) => a + (b - m) ** 2, 0) / 29;
    assert.ok(Math.abs(mean.data[j]! - m) <= 1e-14 * Math.max(m, 1));
    assert.ok(Math.abs(variance.data[j]! - v) <= 1e-12 * Math.max(v, 1));
  }
  const state = model.stateDict();
  const clip = state.clip_val_bg!.data;
  const std = state.reg_std_bg!.data;
  for (let j = 0; j < genes.length; j++)
    assert.ok(Math.abs(clip[j]! - (std[j]! * Math.sqrt(30) + mean.data[j]!)) <= 1e-12 * clip[j]!);
});

test("replicas merged in each pass give the sums of one model over all cells", () => {
  const a = counts(25, 1);
  const b = counts(20, 5);
  for (const kept_largest of [undefined, 0]) {
    const one = fit([[batchOf(a), batchOf(b)]], { kept_largest });
    const two = fit([[batchOf(a)], [batchOf(b)]], { kept_largest });
    assertSameState(one, two);
    assert.deepEqual(one.attribute("highly_variable_genes"), two.attribute("highly_variable_genes"));
  }
});

/**
 * Counts with an outlier above its gene's clip value (60 against a clip near 50, gene 3), and two
 * below theirs (70 and 80 in gene 7, whose clip is near 109).
 */
function withOutliers(): number[][] {
  const rows = counts(200, 3);
  rows[5]![3] = 60;
  rows[9]![7] = 70;
  rows[22]![7] = 80;
  return rows;
}

test("the first pass gives the clipped sums when every value above its clip is among the largest kept: one epoch, the sums of two", () => {
  const rows = withOutliers();
  const parts = [[batchOf(rows.slice(0, 100)), batchOf(rows.slice(100))]];
  const onePass = fitEpochs(parts);
  const twoPasses = fitEpochs(parts, { kept_largest: 0 });
  // Gene 3's two largest values are 60 and 9: two kept tell its clipped sums, one does not (the
  // value outside the heap might be above the clip too).
  const two = fitEpochs(parts, { kept_largest: 2 });
  const short = fitEpochs(parts, { kept_largest: 1 });
  // Two replicas merge their heaps into those of the whole run.
  const twoReplicas = fitEpochs([[batchOf(rows.slice(0, 100))], [batchOf(rows.slice(100))]], {
    kept_largest: 2,
  });
  assert.deepEqual(
    [onePass, twoPasses, two, short, twoReplicas].map((f) => f.epochs),
    [1, 2, 1, 2, 1],
  );
  assertSameState(two.model, twoReplicas.model);
  const state = onePass.model.stateDict();
  const clip = state.clip_val_bg!.data;
  for (let j = 0; j < genes.length; j++) {
    // The definition: sums of min(x, clip) and of its square over every cell.
    const clipped = rows.map((r) => Math.min(r[j]!, clip[j]!));
    const sum = clipped.reduce((x, y) => x + y, 0);
    const squares = clipped.reduce((x, y) => x + y * y, 0);
    assert.ok(Math.abs(state.counts_sum_bg!.data[j]! - sum) <= 1e-12 * sum, `counts_sum_bg[${j}]`);
    assert.ok(
      Math.abs(state.sq_counts_sum_bg!.data[j]! - squares) <= 1e-12 * squares,
      `sq_counts_sum_bg[${j}]`,
    );
  }
  // The outlier was clipped.
  assert.ok(state.counts_sum_bg!.data[3]! < state.x_sums_bg!.data[3]! - 5);
  assert.equal(state.counts_sum_bg!.data[7], state.x_sums_bg!.data[7]);
  for (const other of [twoPasses.model, two.model, short.model]) {
    const theirs = other.stateDict();
    for (const name of ["counts_sum_bg", "sq_counts_sum_bg"]) {
      state[name]!.data.forEach((v, i) => {
        assert.ok(Math.abs(v - theirs[name]!.data[i]!) <= 1e-12 * Math.max(v, 1), `${name}[${i}]`);
      });
    }
    assert.deepEqual(
      onePass.model.attribute("highly_variable_genes"),
      other.attribute("highly_variable_genes"),
    );
    assert.deepEqual(onePass.model.attribute("variances_norm"), other.attribute("variances_norm"));
  }
});

test("a first pass resumed from a state without the largest values (upstream's, older ones) makes the second pass", () => {
  const rows = withOutliers();
  const model = new HVGSeuratV3({ var_names_g: genes, n_top_genes: 8, output_path: null });
  model.onTrainEpochStart(context(0));
  model.forward(batchOf(rows.slice(0, 100)));
  const { largest_values_bgk: _heaps, largest_values_complete: _complete, ...older } = model.stateDict();
  const resumed = new HVGSeuratV3({ var_names_g: genes, n_top_genes: 8, output_path: null });
  resumed.loadStateDict(older);
  resumed.onTrainEpochStart(context(0));
  resumed.forward(batchOf(rows.slice(100)));
  resumed.onTrainEpochEnd(context(0));
  assert.equal(resumed.fitComplete(), false);
  assert.equal(resumed.stateDict().largest_values_complete!.data[0], 0);
  // With the heaps in the state, the same resume completes in one pass.
  const whole = new HVGSeuratV3({ var_names_g: genes, n_top_genes: 8, output_path: null });
  whole.loadStateDict(model.stateDict());
  whole.onTrainEpochStart(context(0));
  whole.forward(batchOf(rows.slice(100)));
  whole.onTrainEpochEnd(context(0));
  assert.equal(whole.fitComplete(), true);
  assert.throws(() => whole.forward(batchOf(rows.slice(0, 2))), /the fit is complete/);
});

test("a batch below batch_n_cell_minimum clips nothing and takes no part in the ranking", () => {
  const big = counts(30, 2);
  const model = fit([[batchOf(big, Array(30).fill(0)), batchOf(counts(1, 3), [1])]], {
    n_batch: 2,
    use_batch_key: true,
  });
  const clip = model.stateDict().clip_val_bg!.data;
  assert.ok(clip.subarray(genes.length).every((v) => v === Number.POSITIVE_INFINITY));
  const alone = fit([[batchOf(big)]]);
  // One batch takes part, so the ranks and selection are the single batch's.
  assert.deepEqual(model.attribute("highly_variable_rank"), alone.attribute("highly_variable_rank"));
  assert.deepEqual(model.attribute("highly_variable_genes"), alone.attribute("highly_variable_genes"));
});

test("selectGenes orders by median rank (seurat_v3) or by batches (seurat_v3_paper); n_batch_minimum filters", () => {
  // 4 genes, 3 batches, top 2 per batch: gene 0 is top in one batch with rank 0; gene 1 is top in
  // two batches with ranks 1 and 1; gene 2 is top in one batch with rank 1 (median 1); gene 3 in
  // two with ranks 0, 0.
  const norm = [
    Float64Array.of(9, 5, 1, 2), // ranks 0, 1, 3, 2
    Float64Array.of(1, 5, 2, 9), // ranks 3, 1, 2, 0
    Float64Array.of(1, 2, 5, 9), // ranks 3, 2, 1, 0
  ];
  const v3 = selectGenes(norm, 2, "seurat_v3", 1);
  assert.deepEqual(Array.from(v3.highly_variable_nbatches), [1, 2, 1, 2]);
  assert.deepEqual(Array.from(v3.highly_variable_rank), [0, 1, 1, 0]);
  // seurat_v3: rank 0 first (gene 3 with 2 batches before gene 0 with 1), then rank 1 (gene 1).
  assert.deepEqual(Array.from(v3.order), [3, 0, 1, 2]);
  assert.deepEqual(Array.from(v3.highly_variable), [1, 0, 0, 1]);
  const paper = selectGenes(norm, 2, "seurat_v3_paper", 1);
  assert.deepEqual(Array.from(paper.order), [3, 1, 0, 2]);
  assert.deepEqual(Array.from(paper.highly_variable), [0, 1, 0, 1]);
  // Top 3: genes 1 and 3 rank among them in all 3 batches, genes 0 and 2 in 1 and 2.
  const strict = selectGenes(norm, 3, "seurat_v3", 3);
  assert.deepEqual(Array.from(strict.highly_variable_nbatches), [1, 3, 2, 3]);
  assert.deepEqual(Array.from(strict.highly_variable), [0, 1, 0, 1]);
});

test("HVGSeuratV3 refuses a third epoch, batch codes outside n_batch and a batch key it was not told of", () => {
  const model = fit([[batchOf(counts(10, 0))]], { kept_largest: 0 });
  model.onTrainEpochStart(context(2));
  assert.throws(() => model.forward(batchOf(counts(2, 0))), /set trainer.max_epochs to 2/);
  assert.throws(
    () => new HVGSeuratV3({ var_names_g: genes, n_top_genes: 5, kept_largest: 1 << 20 }),
    /kept_largest must be an integer in \[0, 209715\]/,
  );
  const batched = new HVGSeuratV3({ var_names_g: genes, n_top_genes: 5, n_batch: 2, use_batch_key: true });
  assert.throws(() => batched.forward(batchOf(counts(2, 0), [0, 2])), /outside the 2 batch categories/);
  assert.throws(() => batched.forward(batchOf(counts(2, 0))), /carry no batch_index_n/);
  const plain = new HVGSeuratV3({ var_names_g: genes, n_top_genes: 5 });
  assert.throws(() => plain.forward(batchOf(counts(2, 0), [0, 0])), /use_batch_key is false/);
  assert.throws(() => new HVGSeuratV3({ var_names_g: genes, n_top_genes: 5, output_path: "x.tsv" }), /\.csv/);
  assert.throws(
    () => new HVGSeuratV3({ var_names_g: genes, n_top_genes: 5, n_batch_minimum: 2 }),
    /cannot exceed/,
  );
  const negative = batchOf([[...genes.map(() => 0).slice(1), -1]]);
  assert.throws(() => plain.forward(negative), /negative|counts/i);
});

test("a list of n_top_genes writes one CSV pair per value, the smaller selection inside the larger", async () => {
  const written = new Map<string, string>();
  const model = fit([[batchOf(counts(30, 4))]], { n_top_genes: [8, 5, 8], output_path: "out/hvg.csv" });
  assert.deepEqual(model.n_top_genes, [5, 8]);
  await model.onTrainEnd({
    ...context(1),
    writeTextFile: async (path, text) => void written.set(path, text),
    writeGenes: async () => {},
  });
  assert.deepEqual([...written.keys()].sort(), [
    "out/hvg__top5.csv",
    "out/hvg__top5__hvg_only.csv",
    "out/hvg__top8.csv",
    "out/hvg__top8__hvg_only.csv",
  ]);
  const selected = (n: number) =>
    written
      .get(`out/hvg__top${n}__hvg_only.csv`)!
      .trim()
      .split("\n")
      .slice(1)
      .map((line) => line.split(",")[0]);
  assert.equal(selected(5).length, 5);
  assert.equal(selected(8).length, 8);
  // One batch: the top 5 by normalized variance are the first 5 of the top 8.
  assert.deepEqual(selected(5), selected(8).slice(0, 5));
  assert.deepEqual(selected(8), model.attribute("highly_variable_genes_top8"));
  const all = written.get("out/hvg__top8.csv")!.trim().split("\n");
  assert.equal(all[0], "gene,means,variances,highly_variable_rank,variances_norm,highly_variable");
  assert.equal(all.length, 1 + genes.length);
});

test("the sums do not depend on the layout: dense or CSR blocks, categories in long runs or interleaved", () => {
  const rows = counts(60, 6);
  const codes = rows.map((_, i) => (i < 30 ? 0 : 1));
  const options = { n_batch: 2, use_batch_key: true };
  const sorted = fit([[batchOf(rows, codes)]], options);
  // The same cells interleaved (runs of one cell) and as dense blocks.
  const order = Array.from({ length: 60 }, (_, k) => (k % 2 === 0 ? k / 2 : 30 + (k - 1) / 2));
  const interleaved = fit(
    [
      [
        batchOf(
          order.map((i) => rows[i]!),
          order.map((i) => codes[i]!),
        ),
      ],
    ],
    options,
  );
  const dense = fit(
    [[{ x_ng: denseBlock(rows), var_names_g: genes, batch_index_n: Int32Array.from(codes) }]],
    options,
  );
  for (const other of [interleaved, dense]) assertSameState(sorted, other);
});
