import assert from "node:assert/strict";
import { test } from "node:test";
import type { Batch, BatchPosition } from "../../src/data/batch.js";
import { OnePassMeanVarStd } from "../../src/models/onepass-mean-var-std.js";
import { Generator } from "../../src/tensor/random.js";
import { CellariumModule } from "../../src/train/cellarium-module.js";
import { loadCheckpoint } from "../../src/train/checkpoint.js";
import { type BatchSource, Trainer } from "../../src/train/trainer.js";
import { batchGenerator } from "../../src/transforms/batch-random.js";
import { BinomialResample } from "../../src/transforms/binomial-resample.js";
import { composeTransforms } from "../../src/transforms/compose.js";
import { Dropout } from "../../src/transforms/dropout.js";
import { Duplicate } from "../../src/transforms/duplicate.js";
import { GaussianNoise } from "../../src/transforms/gaussian-noise.js";
import { tempDir } from "../helpers/temp.js";
import { csr, randomCounts, rowsOf } from "./helpers.js";

const words = (g: Generator) => Array.from({ length: 8 }, () => g.nextUint32());

test("batchGenerator: one stream per (seed, stage, epoch, batch, replica, step), none shared with a model's Generator(seed)", () => {
  const at: BatchPosition = { seed: 5, stage: "fit", epoch: 2, batch: 7, replica: 1 };
  const base = words(batchGenerator(at, 3));
  assert.deepEqual(words(batchGenerator({ ...at }, 3)), base);
  const others = [
    words(batchGenerator({ ...at, seed: 6 }, 3)),
    words(batchGenerator({ ...at, stage: "validate" }, 3)),
    words(batchGenerator({ ...at, stage: "predict" }, 3)),
    words(batchGenerator({ ...at, epoch: 3 }, 3)),
    words(batchGenerator({ ...at, batch: 8 }, 3)),
    words(batchGenerator({ ...at, replica: 0 }, 3)),
    words(batchGenerator(at, 4)),
    words(new Generator(5)),
  ];
  const firsts = new Set([base[0], ...others.map((w) => w[0])]);
  assert.equal(firsts.size, others.length + 1);
  assert.throws(() => batchGenerator({ ...at, replica: 2 ** 18 }, 0), /out of range/);
  assert.throws(() => batchGenerator(at, 4096), /out of range/);
});

test("two random steps of one pipeline draw different numbers; without a position each draws from its own generator", () => {
  const counts = randomCounts(3, 20, 30, 0.5);
  const batch: Batch = { x_ng: csr(counts), var_names_g: counts[0]!.map((_, j) => `g${j}`) };
  const half = () => new Dropout({ p_dropout_min: 0.5, p_dropout_max: 0.5, p_apply: 1 });
  const position: BatchPosition = { seed: 1, stage: "fit", epoch: 0, batch: 0, replica: 0 };
  // Each step alone at its pipeline place: step 0 and step 1 zero different entries.
  const first = composeTransforms([half()])(batch, { position }).x_ng;
  const second = composeTransforms([new Duplicate({ enabled: false }), half()])(batch, { position }).x_ng;
  assert.notDeepEqual(rowsOf(first), rowsOf(second));
  // Without a position: deterministic per transform instance (its own Generator(0)).
  assert.deepEqual(
    rowsOf(composeTransforms([half()])(batch).x_ng),
    rowsOf(composeTransforms([half()])(batch).x_ng),
  );
});

// 96 cells x 30 genes of counts in batches of 8, in a fixed order.
const cells = randomCounts(17, 96, 30, 0.4);
const genes = cells[0]!.map((_, j) => `g${j}`);

class Counts implements BatchSource {
  readonly batchesPerEpoch = 12;
  async *epochBatches(position: { epoch: number; batchesConsumed: number }): AsyncIterable<Batch> {
    for (let b = position.batchesConsumed; b < this.batchesPerEpoch; b++)
      yield { x_ng: csr(cells.slice(8 * b, 8 * b + 8)), var_names_g: genes };
  }
}

function augmentedModule(): CellariumModule {
  return new CellariumModule({
    transforms: [
      new BinomialResample({ p_binom_min: 0.3, p_binom_max: 0.9, p_apply: 0.8 }),
      new Dropout({ p_dropout_min: 0.1, p_dropout_max: 0.3, p_apply: 0.5 }),
      new Duplicate(),
      new GaussianNoise({ sigma_min: 0.1, sigma_max: 0.5, p_apply: 0.7 }),
    ],
    model: new OnePassMeanVarStd({ var_names_g: genes, output_path: null }),
  });
}

const sums = (module: CellariumModule) =>
  Object.fromEntries(Object.entries(module.model.stateDict()).map(([k, t]) => [k, [...t.data]]));

test("augmented fits: the same seed gives the same result, another seed another, a resumed run the uninterrupted one's", async () => {
  const options = {
    enableProgressBar: false,
    maxEpochs: 2,
    defaultRootDir: tempDir("batch-random-"),
    seed: 11,
  };
  const full = augmentedModule();
  await new Trainer(options).fit(full, new Counts());
  const again = augmentedModule();
  await new Trainer(options).fit(again, new Counts());
  assert.deepEqual(sums(again), sums(full));
  const otherSeed = augmentedModule();
  await new Trainer({ ...options, seed: 12 }).fit(otherSeed, new Counts());
  assert.notDeepEqual(sums(otherSeed), sums(full));

  // Stopped mid-epoch 1, then resumed by a run with another seed_everything: the checkpoint's seed
  // keys the remaining batches' streams.
  const first = await new Trainer({ ...options, maxSteps: 17, checkpointing: { everyNTrainSteps: 17 } }).fit(
    augmentedModule(),
    new Counts(),
  );
  const ckpt = first.checkpoints.at(-1)!;
  assert.deepEqual((await loadCheckpoint(ckpt)).random, { transforms: { seed: 11 } });
  const resumed = augmentedModule();
  await new Trainer({ ...options, seed: 999 }).fit(resumed, new Counts(), { ckptPath: ckpt });
  assert.deepEqual(sums(resumed), sums(full));
});

test("replicas draw their own streams: the same batches on rank 0 and rank 1 augment differently, each reproducibly", async () => {
  const run = async (replicaRank: number) => {
    const module = augmentedModule();
    const options = {
      enableProgressBar: false,
      maxEpochs: 1,
      checkpointing: false as const,
      logger: false,
      defaultRootDir: tempDir("batch-random-"),
      seed: 11,
    };
    await new Trainer({ ...options, numReplicas: 2, replicaRank }).fit(module, new Counts());
    return sums(module);
  };
  const rank0 = await run(0);
  assert.deepEqual(await run(0), rank0);
  assert.notDeepEqual(await run(1), rank0);
});
