import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import type { Batch } from "../../src/data/batch.js";
import { type DenseMatrix, densify } from "../../src/data/matrix.js";
import { CheckpointError } from "../../src/errors.js";
import type { JsonValue } from "../../src/json.js";
import type { CellariumModel, ModelOutput } from "../../src/models/model.js";
import { mean, mul, sub, sum } from "../../src/tensor/index.js";
import { matmul } from "../../src/tensor/ops/matmul.js";
import { Generator, type GeneratorState } from "../../src/tensor/random.js";
import { isGradEnabled, Tensor } from "../../src/tensor/tensor.js";
import { CellariumModule } from "../../src/train/cellarium-module.js";
import { loadCheckpoint } from "../../src/train/checkpoint.js";
import { type BatchSource, Trainer } from "../../src/train/trainer.js";
import { tempDir } from "../helpers/temp.js";

const N_CELLS = 64;
const N_GENES = 3;
const genes = ["g0", "g1", "g2"];

// y = x w* + noise, 64 cells; batches of 8 in an order shuffled by the epoch number.
function makeData(): { x: Float32Array; y: Float32Array } {
  const g = new Generator(1);
  const x = new Float32Array(N_CELLS * N_GENES);
  g.fillNormal(x);
  const y = new Float32Array(N_CELLS);
  for (let i = 0; i < N_CELLS; i++)
    y[i] = 2 * x[i * 3]! - x[i * 3 + 1]! + 0.5 * x[i * 3 + 2]! + 0.1 * g.nextDouble();
  return { x, y };
}

class MemorySource implements BatchSource {
  readonly batchesConsumedSeen: number[] = [];
  constructor(
    readonly data = makeData(),
    readonly batchSize = 8,
  ) {}
  get batchesPerEpoch(): number {
    return Math.ceil(N_CELLS / this.batchSize);
  }
  async *epochBatches(position: { epoch: number; batchesConsumed: number }): AsyncIterable<Batch> {
    this.batchesConsumedSeen.push(position.batchesConsumed);
    const order = new Generator(100 + position.epoch).permutation(N_CELLS);
    for (let b = position.batchesConsumed; b < this.batchesPerEpoch; b++) {
      const rows = order.subarray(b * this.batchSize, (b + 1) * this.batchSize);
      const x = new Float32Array(rows.length * N_GENES);
      const y = new Float32Array(rows.length);
      rows.forEach((r, i) => {
        x.set(this.data.x.subarray(r * N_GENES, (r + 1) * N_GENES), i * N_GENES);
        y[i] = this.data.y[r]!;
      });
      const x_ng: DenseMatrix = { format: "dense", nRows: rows.length, nCols: N_GENES, data: x };
      yield { x_ng, var_names_g: genes, y_n: y };
    }
  }
}

/** Linear regression whose loss weights cells by random draws, so the RNG state matters for resume. */
class NoisyRegression implements CellariumModel {
  readonly className = "NoisyRegression";
  readonly var_names_g = genes;
  W = new Tensor(new Float32Array(N_GENES), [N_GENES, 1]).requireGrad();
  private generator = new Generator(7);
  initArgs(): Record<string, JsonValue> {
    return { var_names_g: genes };
  }
  resetParameters(): void {
    this.W.data.fill(0);
  }
  forward(batch: Batch): ModelOutput {
    const x = batch.x_ng as DenseMatrix;
    const xt = new Tensor(x.data, [x.nRows, x.nCols]);
    const weights = new Float32Array(x.nRows);
    this.generator.fillUniform(weights, 0.5, 1.5);
    const residual = sub(matmul(xt, this.W), new Tensor(batch.y_n as Float32Array, [x.nRows, 1]));
    return { loss: mean(mul(mul(residual, residual), new Tensor(weights, [x.nRows, 1]))) };
  }
  parameters(): Tensor[] {
    return [this.W];
  }
  stateDict(): Record<string, Tensor> {
    return { W: this.W };
  }
  loadStateDict(state: Record<string, Tensor>): void {
    this.W.data.set(state.W!.data);
  }
  train(): void {}
  randomState(): JsonValue {
    return this.generator.getState() as unknown as JsonValue;
  }
  setRandomState(state: JsonValue): void {
    this.generator = Generator.fromState(state as unknown as GeneratorState);
  }
}

/** A streaming model: per-gene sums and a count, the shape of OnePassMeanVarStd's state. */
class Sums implements CellariumModel {
  readonly className = "Sums";
  readonly var_names_g = genes;
  sum_g = new Tensor(new Float64Array(N_GENES), [N_GENES]);
  count = 0;
  epochEnds = 0;
  initArgs(): Record<string, JsonValue> {
    return { var_names_g: genes };
  }
  resetParameters(): void {}
  forward(batch: Batch): ModelOutput {
    const x = densify(batch.x_ng);
    for (let i = 0; i < x.data.length; i++) this.sum_g.data[i % N_GENES]! += x.data[i]!;
    this.count += x.nRows;
    return {};
  }
  parameters(): Tensor[] {
    return [];
  }
  stateDict(): Record<string, Tensor> {
    return { sum_g: this.sum_g, count: new Tensor(new Float64Array([this.count]), [1]) };
  }
  loadStateDict(state: Record<string, Tensor>): void {
    this.sum_g.data.set(state.sum_g!.data);
    this.count = state.count!.data[0]!;
  }
  train(): void {}
  onTrainEpochEnd(): void {
    this.epochEnds++;
  }
}

function regressionModule(model = new NoisyRegression()): CellariumModule {
  return new CellariumModule({
    model,
    optimizer: { name: "torch.optim.Adam", kwargs: { lr: 0.1 } },
    scheduler: {
      name: "transformers.get_linear_schedule_with_warmup",
      kwargs: { num_warmup_steps: 3, num_training_steps: 60 },
    },
  });
}

const quiet = { enableProgressBar: false } as const;

test("a gradient model learns, and a run resumed from a mid-epoch checkpoint ends bit-identical", async () => {
  const root = tempDir("trainer-");
  const options = {
    ...quiet,
    maxEpochs: 8,
    accumulateGradBatches: 2,
    gradientClipVal: 5,
    defaultRootDir: root,
  };

  const full = regressionModule();
  const fullResult = await new Trainer(options).fit(full, new MemorySource());
  // 8 batches per epoch, an optimizer step every 2: 4 steps per epoch.
  assert.equal(fullResult.position.globalStep, 32);
  const W = [...full.model.stateDict().W!.data];
  assert.ok(Math.abs(W[0]! - 2) < 0.5 && Math.abs(W[1]! + 1) < 0.5, `W = ${W}`);

  // Interrupted after 5 steps (mid-epoch 1), then resumed from the checkpoint of step 5.
  const first = await new Trainer({ ...options, maxSteps: 5, checkpointing: { everyNTrainSteps: 5 } }).fit(
    regressionModule(),
    new MemorySource(),
  );
  assert.deepEqual(first.position, { epoch: 1, batchesConsumed: 2, globalStep: 5 });
  const ckpt = first.checkpoints.at(-1)!;
  assert.match(ckpt, /epoch=1-step=5\.safetensors$/);
  const resumedModule = regressionModule();
  const source = new MemorySource();
  const resumed = await new Trainer(options).fit(resumedModule, source, { ckptPath: ckpt });
  assert.equal(source.batchesConsumedSeen[0], 2, "the resumed epoch skips the consumed batches");
  assert.equal(resumed.position.globalStep, 32);
  assert.deepEqual([...resumedModule.model.stateDict().W!.data], W);
});

test("streaming models step once per batch, hooks run, and the epoch-end checkpoint holds the state", async () => {
  const root = tempDir("trainer-");
  const model = new Sums();
  const module = new CellariumModule({ model });
  const source = new MemorySource();
  const result = await new Trainer({ ...quiet, maxEpochs: 2, defaultRootDir: root, logEveryNSteps: 4 }).fit(
    module,
    source,
  );
  assert.equal(result.position.globalStep, 16);
  assert.equal(model.epochEnds, 2);
  assert.equal(model.count, 2 * N_CELLS);
  const expected = new Float64Array(N_GENES);
  source.data.x.forEach((v, i) => {
    expected[i % N_GENES]! += 2 * v;
  });
  for (let g = 0; g < N_GENES; g++) assert.ok(Math.abs(model.sum_g.data[g]! - expected[g]!) < 1e-9);
  // Default checkpointing: one per epoch end, newest kept.
  assert.equal(result.checkpoints.length, 1);
  assert.match(
    result.checkpoints[0]!,
    /lightning_logs\/version_0\/checkpoints\/epoch=1-step=16\.safetensors$/,
  );
  const checkpoint = await loadCheckpoint(result.checkpoints[0]!);
  assert.deepEqual(checkpoint.position, { epoch: 2, batchesConsumed: 0, globalStep: 16 });
  assert.equal(checkpoint.model.className, "Sums");
  assert.deepEqual([...checkpoint.modelState.sum_g!.data], [...model.sum_g.data]);
  // metrics.csv: a header and a row every 4 steps.
  const csv = (await readFile(join(result.runDir, "metrics.csv"), "utf8")).trim().split("\n");
  assert.equal(csv[0], "epoch,step,cells,elapsed_s,cells_per_s,train_loss,lr,val_loss");
  assert.equal(csv.length, 1 + 4);
  assert.deepEqual(csv[4]!.split(",").slice(0, 3), ["1", "16", "128"]);
});

test("a model's histograms are logged at the log steps to histograms.jsonl", async () => {
  const root = tempDir("trainer-");
  // The histogram of the running sums, snapshotted at each log step by the trainer.
  class LoggedSums extends Sums {
    histograms(): Record<string, Tensor> {
      return { sum_g: this.sum_g };
    }
  }
  const model = new LoggedSums();
  const result = await new Trainer({ ...quiet, maxEpochs: 1, defaultRootDir: root, logEveryNSteps: 3 }).fit(
    new CellariumModule({ model }),
    new MemorySource(),
  );
  const records = (await readFile(join(result.runDir, "histograms.jsonl"), "utf8"))
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line));
  assert.deepEqual(
    records.map((r) => [r.step, r.name]),
    [
      [3, "sum_g"],
      [6, "sum_g"],
    ],
  );
  const last = records[1];
  assert.equal(last.num, N_GENES);
  assert.equal(
    last.bucket.reduce((a: number, b: number) => a + b, 0),
    N_GENES,
  );
  // After 6 of 8 batches the sums differ from the final ones, so the record is a snapshot.
  assert.ok(last.max < Math.max(...model.sum_g.data) || last.min > Math.min(...model.sum_g.data));
});

test("save_top_k -1 keeps every checkpoint; a second run gets the next version directory", async () => {
  const root = tempDir("trainer-");
  const trainer = new Trainer({
    ...quiet,
    maxEpochs: 1,
    defaultRootDir: root,
    checkpointing: { everyNTrainSteps: 2, saveTopK: -1 },
  });
  const result = await trainer.fit(new CellariumModule({ model: new Sums() }), new MemorySource());
  assert.equal(result.checkpoints.length, 4);
  assert.deepEqual((await readdir(join(result.runDir, "checkpoints"))).sort(), [
    "epoch=0-step=2.safetensors",
    "epoch=0-step=4.safetensors",
    "epoch=0-step=6.safetensors",
    "epoch=0-step=8.safetensors",
  ]);
  const second = await trainer.fit(new CellariumModule({ model: new Sums() }), new MemorySource());
  assert.match(second.runDir, /version_1$/);
});

test("limit_train_batches as a count and as a fraction", async () => {
  const root = tempDir("trainer-");
  const count = await new Trainer({ ...quiet, maxEpochs: 1, limitTrainBatches: 3, defaultRootDir: root }).fit(
    new CellariumModule({ model: new Sums() }),
    new MemorySource(),
  );
  assert.equal(count.position.globalStep, 3);
  const fraction = await new Trainer({
    ...quiet,
    maxEpochs: 1,
    limitTrainBatches: 0.25,
    defaultRootDir: root,
  }).fit(new CellariumModule({ model: new Sums() }), new MemorySource());
  assert.equal(fraction.position.globalStep, 2);
});

test("resuming a checkpoint of another model is a CheckpointError naming both", async () => {
  const root = tempDir("trainer-");
  const result = await new Trainer({ ...quiet, maxEpochs: 1, defaultRootDir: root }).fit(
    new CellariumModule({ model: new Sums() }),
    new MemorySource(),
  );
  await assert.rejects(
    new Trainer({ ...quiet, maxEpochs: 1, defaultRootDir: root }).fit(
      regressionModule(),
      new MemorySource(),
      {
        ckptPath: result.checkpoints[0]!,
      },
    ),
    (e: Error) =>
      e instanceof CheckpointError && /checkpoint of Sums, cannot resume NoisyRegression/.test(e.message),
  );
});

test("validate averages the loss over cells; predict hands every batch to the writer", async () => {
  const model = new NoisyRegression();
  (model as unknown as { validate: CellariumModel["validate"] }).validate = (batch) => model.forward(batch);
  (model as unknown as { predict: CellariumModel["predict"] }).predict = (batch) => ({
    y_n: sum(matmul(new Tensor((batch.x_ng as DenseMatrix).data, [batch.x_ng.nRows, N_GENES]), model.W), [1]),
  });
  const module = new CellariumModule({ model });
  const trainer = new Trainer(quiet);
  const { loss, cells } = await trainer.validate(module, new MemorySource());
  assert.equal(cells, N_CELLS);
  assert.ok(loss > 0);
  let rows = 0;
  await trainer.predict(module, new MemorySource(), (batch, output) => {
    rows += batch.x_ng.nRows;
    assert.equal((output.y_n as Tensor).size, batch.x_ng.nRows);
  });
  assert.equal(rows, N_CELLS);
});

/** Overwrites each released batch with NaN, as a source reusing its memory would, and counts releases. */
class OverwritingSource extends MemorySource {
  released = 0;
  release(batch: Batch): void {
    (batch.x_ng.data as Float32Array).fill(Number.NaN);
    (batch.y_n as Float32Array).fill(Number.NaN);
    this.released++;
  }
}

test("each batch is released once, after fit, validate and predict are done with it", async () => {
  const options = { ...quiet, maxEpochs: 2, accumulateGradBatches: 2, defaultRootDir: tempDir("trainer-") };
  const reference = regressionModule();
  await new Trainer(options).fit(reference, new MemorySource());
  const module = regressionModule();
  const source = new OverwritingSource();
  await new Trainer({ ...options, defaultRootDir: tempDir("trainer-") }).fit(module, source);
  // Released before its backward pass, a batch would turn the gradients into NaN.
  assert.deepEqual([...module.model.stateDict().W!.data], [...reference.model.stateDict().W!.data]);
  assert.equal(source.released, 2 * source.batchesPerEpoch);

  const model = module.model as NoisyRegression;
  (model as unknown as { validate: CellariumModel["validate"] }).validate = (batch) => model.forward(batch);
  (model as unknown as { predict: CellariumModel["predict"] }).predict = (batch) => ({
    y_n: sum(matmul(new Tensor((batch.x_ng as DenseMatrix).data, [batch.x_ng.nRows, N_GENES]), model.W), [1]),
  });
  const trainer = new Trainer(quiet);
  const validated = new OverwritingSource();
  const { loss } = await trainer.validate(module, validated);
  assert.ok(Number.isFinite(loss));
  assert.equal(validated.released, validated.batchesPerEpoch);
  const predicted = new OverwritingSource();
  const outputs: Tensor[] = [];
  await trainer.predict(module, predicted, (_batch, output) => {
    outputs.push(output.y_n as Tensor);
  });
  assert.equal(predicted.released, predicted.batchesPerEpoch);
  // The outputs a writer may keep are the model's own arrays, untouched by the release.
  assert.ok(outputs.every((y) => [...y.data].every(Number.isFinite)));
});

/** Yields to the event loop before each batch, as a loader waiting on a read does. */
class AwaitingSource extends MemorySource {
  override async *epochBatches(position: { epoch: number; batchesConsumed: number }): AsyncIterable<Batch> {
    for await (const batch of super.epochBatches(position)) {
      await new Promise((resolve) => setTimeout(resolve, 1));
      yield batch;
    }
  }
}

test("validate and predict build no backward tape, across the awaits between batches", async () => {
  const model = new NoisyRegression();
  const taped: boolean[] = [];
  (model as unknown as { validate: CellariumModel["validate"] }).validate = (batch) => {
    const { loss } = model.forward(batch);
    taped.push(isGradEnabled() || loss!.gradFn !== null);
    return { loss };
  };
  (model as unknown as { predict: CellariumModel["predict"] }).predict = (batch) => {
    const x = batch.x_ng as DenseMatrix;
    const y_n = matmul(new Tensor(x.data, [x.nRows, N_GENES]), model.W);
    taped.push(isGradEnabled() || y_n.gradFn !== null);
    return { y_n };
  };
  const module = new CellariumModule({ model });
  const trainer = new Trainer(quiet);
  await trainer.validate(module, new AwaitingSource());
  await trainer.predict(module, new AwaitingSource(), async () => {
    await new Promise((resolve) => setTimeout(resolve, 1));
  });
  assert.equal(taped.length, 2 * (N_CELLS / 8));
  assert.deepEqual(
    taped,
    taped.map(() => false),
  );
  assert.equal(isGradEnabled(), true, "grad mode is back on after validate and predict");
});

/** MemorySource with one value or index of one batch damaged, as a library user's batch might be. */
class DamagedSource extends MemorySource {
  constructor(private readonly damage: (x: DenseMatrix) => Batch["x_ng"]) {
    super();
  }
  override async *epochBatches(position: { epoch: number; batchesConsumed: number }): AsyncIterable<Batch> {
    let b = 0;
    for await (const batch of super.epochBatches(position)) {
      yield b++ === 2 ? { ...batch, x_ng: this.damage(batch.x_ng as DenseMatrix) } : batch;
    }
  }
}

test("batches of a source that did not check them are checked before the transforms: NaN and bad CSR indices fail, unsorted rows are sorted", async () => {
  const module = () => new CellariumModule({ model: new Sums() });
  const fit = (source: BatchSource) =>
    new Trainer({ ...quiet, maxEpochs: 1, checkpointing: false, defaultRootDir: tempDir("trainer-") }).fit(
      module(),
      source,
    );
  await assert.rejects(
    fit(
      new DamagedSource((x) => {
        const data = x.data.slice();
        data[4] = Number.NaN;
        return { ...x, data };
      }),
    ),
    { name: "DataValueError", message: "batch: x_ng has NaN at row 1, column 1" },
  );
  const csr = (x: DenseMatrix, indices: number[]): Batch["x_ng"] => ({
    format: "csr",
    nRows: 1,
    nCols: N_GENES,
    indptr: Int32Array.from([0, indices.length]),
    indices: Int32Array.from(indices),
    data: x.data.slice(0, indices.length),
  });
  await assert.rejects(fit(new DamagedSource((x) => csr(x, [0, 3]))), {
    name: "DataValueError",
    message: /^batch: x_ng\/indices holds column 3 at row 0, column 3, outside \[0, 3\)$/,
  });
  // A repeated column is summed: the sums equal those of the same batch with the values added.
  const summed = new Sums();
  const damaged = (x: DenseMatrix) => csr(x, [2, 0, 2]);
  await new Trainer({
    ...quiet,
    maxEpochs: 1,
    checkpointing: false,
    defaultRootDir: tempDir("trainer-"),
  }).fit(new CellariumModule({ model: summed }), new DamagedSource(damaged));
  const reference = new Sums();
  const source = new MemorySource();
  let b = 0;
  for await (const batch of source.epochBatches({ epoch: 0, batchesConsumed: 0 })) {
    const x = batch.x_ng as DenseMatrix;
    if (b++ !== 2) reference.forward(batch);
    else {
      const [v0, v1, v2] = x.data;
      const dense = Float32Array.from([v1!, 0, v0! + v2!]);
      reference.forward({ ...batch, x_ng: { format: "dense", nRows: 1, nCols: N_GENES, data: dense } });
    }
  }
  assert.deepEqual([...summed.sum_g.data], [...reference.sum_g.data]);
});

/** A streaming model that validates: its validation loss is the number of cells it has trained on. */
class CountingModel implements CellariumModel {
  readonly className = "CountingModel";
  readonly var_names_g = genes;
  count = 0;
  validatedBatches = 0;
  initArgs(): Record<string, JsonValue> {
    return { var_names_g: genes };
  }
  resetParameters(): void {}
  forward(batch: Batch): ModelOutput {
    this.count += batch.x_ng.nRows;
    return {};
  }
  validate(): ModelOutput {
    this.validatedBatches++;
    return { loss: new Tensor(new Float64Array([this.count]), []) };
  }
  parameters(): Tensor[] {
    return [];
  }
  stateDict(): Record<string, Tensor> {
    return { count: new Tensor(new Float64Array([this.count]), [1]) };
  }
  loadStateDict(state: Record<string, Tensor>): void {
    this.count = state.count!.data[0]!;
  }
  train(): void {}
}

test("validation during fit follows val_check_interval, check_val_every_n_epoch and limit_val_batches as Lightning", async () => {
  // 8 training batches of 8 cells per epoch; the validation loss says how many cells had been trained on.
  const cases = [
    { name: "default: each epoch's end", options: { maxEpochs: 2 }, steps: [8, 16], batches: 8 },
    {
      name: "a fraction of the epoch",
      options: { maxEpochs: 2, valCheckInterval: { fraction: 0.25 } },
      steps: [2, 4, 6, 8, 10, 12, 14, 16],
      batches: 8,
    },
    {
      name: "a count within each epoch",
      options: { maxEpochs: 2, valCheckInterval: { count: 3 } },
      steps: [3, 6, 11, 14],
      batches: 8,
    },
    {
      name: "a count across epochs",
      options: { maxEpochs: 2, valCheckInterval: { count: 5 }, checkValEveryNEpoch: null },
      steps: [5, 10, 15],
      batches: 8,
    },
    {
      name: "every second epoch",
      options: { maxEpochs: 4, checkValEveryNEpoch: 2 },
      steps: [16, 32],
      batches: 8,
    },
    {
      name: "limit_val_batches",
      options: { maxEpochs: 1, limitValBatches: { count: 3 } },
      steps: [8],
      batches: 3,
    },
    {
      name: "max_steps ends the fit at a check",
      options: { maxSteps: 6, valCheckInterval: { count: 3 } },
      steps: [3, 6],
      batches: 8,
    },
  ] as const;
  for (const { name, options, steps, batches } of cases) {
    const root = tempDir("trainer-val-");
    const model = new CountingModel();
    const result = await new Trainer({ ...quiet, ...options, defaultRootDir: root }).fit(
      new CellariumModule({ model }),
      new MemorySource(),
      { val: new MemorySource() },
    );
    const rows = (await readFile(join(result.runDir, "metrics.csv"), "utf8")).trim().split("\n");
    const header = rows[0]!.split(",");
    const validations = rows
      .slice(1)
      .map((line) => Object.fromEntries(line.split(",").map((v, i) => [header[i], v])))
      .filter((row) => row.val_loss !== "");
    assert.deepEqual(
      validations.map((row) => Number(row.step)),
      steps,
      name,
    );
    // Each validation saw the cells trained on up to its step (8 per step), over `batches` batches.
    assert.deepEqual(
      validations.map((row) => Number(row.val_loss)),
      steps.map((step) => 8 * step),
      name,
    );
    assert.equal(model.validatedBatches, batches * steps.length, name);
    assert.equal(result.valLoss, 8 * steps.at(-1)!, name);
  }
});
