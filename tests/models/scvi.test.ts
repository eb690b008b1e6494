// SingleCellVariationalInference as a library object: upstream's state-dict names and
// initialization, the KL warm-up, and what it refuses (numerics against torch are in
// scvi-parity.test.ts; training, resume and quality through the command line in tests/cli/scvi.test.ts).

import assert from "node:assert/strict";
import { test } from "node:test";
import type { Batch } from "../../src/data/batch.js";
import { sparsify } from "../../src/data/matrix.js";
import { ConfigError, DataValueError } from "../../src/errors.js";
import type { JsonValue } from "../../src/json.js";
import { annealedKlWeight, type SCVIOptions, SingleCellVariationalInference } from "../../src/models/scvi.js";
import { Generator } from "../../src/tensor/random.js";

const structured = (kind: string, out?: number): JsonValue => ({
  class_path: `cellarium.ml.models.scvi.${kind}`,
  init_args: { ...(out !== undefined && { out_features: out }), label_to_bias_hidden_layers: [] },
});

/** upstream's example train config (examples/other_configs/scvi_pbmc_train_config.yaml). */
function upstreamExample(genes: number, overrides: Partial<SCVIOptions> = {}): SCVIOptions {
  return {
    var_names_g: Array.from({ length: genes }, (_, i) => `gene${i}`),
    n_batch: 4,
    n_cats_per_cov: [3],
    batch_embedded: true,
    batch_representation_sampled: true,
    batch_kl_weight_max: 0.01,
    kl_warmup_epochs: 20,
    encoder: {
      hidden_layers: [structured("LinearWithCovariates", 32)],
      final_layer: { class_path: "torch.nn.Linear", init_args: {} },
    },
    decoder: {
      hidden_layers: [structured("LinearWithBatchAndCovariates", 32)],
      final_layer: structured("LinearWithBatchAndCovariates"),
      final_additive_bias: true,
    },
    warn: () => {},
    ...overrides,
  };
}

function countsBatch(n: number, g: number, seed = 1, mutate?: (x: Float32Array) => void): Batch {
  const rng = new Generator(seed);
  const data = new Float32Array(n * g).map(() =>
    rng.nextDouble() < 0.7 ? 0 : Math.floor(rng.nextDouble() * 9),
  );
  for (let i = 0; i < n; i++) data[i * g] = 1 + data[i * g]!;
  mutate?.(data);
  return {
    x_ng: sparsify({ format: "dense", nRows: n, nCols: g, data }),
    var_names_g: Array.from({ length: g }, (_, i) => `gene${i}`),
    batch_index_n: Int32Array.from({ length: n }, (_, i) => i % 4),
    categorical_covariate_index_nd: Int32Array.from({ length: n }, (_, i) => i % 3),
  };
}

test("the state dict has upstream's names for its example config", () => {
  const model = new SingleCellVariationalInference(upstreamExample(20));
  const encoderLayer = "z_encoder.fully_connected.module_list.0";
  const decoderLayer = "decoder.fully_connected.module_list.0";
  const bn = (prefix: string) =>
    ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"].map(
      (n) => `${prefix}.dressing.0.${n}`,
    );
  const expected = [
    "batch_representation_mean_bd",
    "batch_representation_std_unconstrained_bd",
    "px_r",
    `${encoderLayer}.layer.weight`,
    `${encoderLayer}.layer.bias`,
    `${encoderLayer}.layer.bias_decoder.module_list.0.weight`,
    ...bn(encoderLayer),
    "z_encoder.mean_encoder.weight",
    "z_encoder.mean_encoder.bias",
    "z_encoder.var_encoder.weight",
    "z_encoder.var_encoder.bias",
    `${decoderLayer}.layer.weight`,
    `${decoderLayer}.layer.bias`,
    `${decoderLayer}.layer.bias_decoder.module_list.0.weight`,
    ...bn(decoderLayer),
    "decoder.normalized_count_decoder.weight",
    "decoder.normalized_count_decoder.bias",
    "decoder.normalized_count_decoder.bias_decoder.module_list.0.weight",
    "decoder.final_additive_bias_layer.0.module_list.0.weight",
  ];
  const state = model.stateDict();
  assert.deepEqual(Object.keys(state).sort(), [...expected].sort());
  // shapes: the bias decoders read the covariates (3) or the batch embedding and covariates (4 + 3)
  assert.deepEqual(state[`${encoderLayer}.layer.bias_decoder.module_list.0.weight`]!.shape, [32, 3]);
  assert.deepEqual(state[`${decoderLayer}.layer.bias_decoder.module_list.0.weight`]!.shape, [32, 7]);
  assert.deepEqual(state["decoder.final_additive_bias_layer.0.module_list.0.weight"]!.shape, [20, 7]);
  assert.deepEqual(state["z_encoder.mean_encoder.weight"]!.shape, [10, 32]);
});

test("reset_parameters: xavier-normal weights, zero biases, batch-norm weights N(1, 0.02), px_r N(0, 1), the batch embedding at the identity", () => {
  const model = new SingleCellVariationalInference(upstreamExample(400));
  const state = model.stateDict();
  const stats = (values: ArrayLike<number>) => {
    let mean = 0;
    for (let i = 0; i < values.length; i++) mean += values[i]! / values.length;
    let variance = 0;
    for (let i = 0; i < values.length; i++) variance += (values[i]! - mean) ** 2 / values.length;
    return { mean, std: Math.sqrt(variance) };
  };
  // decoder.normalized_count_decoder.weight is [400, 32]: std sqrt(2 / 432)
  const w = stats(state["decoder.normalized_count_decoder.weight"]!.data);
  assert.ok(Math.abs(w.std / Math.sqrt(2 / 432) - 1) < 0.03, `std ${w.std}`);
  assert.ok(Math.abs(w.mean) < 0.005, `mean ${w.mean}`);
  for (const name of ["decoder.normalized_count_decoder.bias", "z_encoder.mean_encoder.bias"]) {
    assert.ok(
      state[name]!.data.every((v) => v === 0),
      name,
    );
  }
  const bnWeight = state["z_encoder.fully_connected.module_list.0.dressing.0.weight"]!.data;
  assert.ok(bnWeight.every((v) => Math.abs(v - 1) < 0.1) && bnWeight.some((v) => v !== 1));
  const pxR = stats(state.px_r!.data);
  assert.ok(Math.abs(pxR.std - 1) < 0.12 && Math.abs(pxR.mean) < 0.15, JSON.stringify(pxR));
  assert.deepEqual(
    Array.from(state.batch_representation_mean_bd!.data),
    [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1],
  );
  assert.ok(state.batch_representation_std_unconstrained_bd!.data.every((v) => v === 0));
  // the same seed, the same model; another seed, another
  const again = new SingleCellVariationalInference(upstreamExample(400)).stateDict();
  assert.deepEqual(
    again["decoder.normalized_count_decoder.weight"]!.data,
    state["decoder.normalized_count_decoder.weight"]!.data,
  );
  const other = new SingleCellVariationalInference(upstreamExample(400, { seed: 1 })).stateDict();
  assert.notDeepEqual(other.px_r!.data, state.px_r!.data);
});

test("annealedKlWeight is upstream's compute_annealed_kl_weight", () => {
  assert.equal(annealedKlWeight(5, 999, 20, null), 5 / 20);
  assert.equal(annealedKlWeight(20, 0, 20, null), 1);
  assert.equal(annealedKlWeight(3, 50, null, 200, 1, 0.2), 0.8 * (50 / 200) + 0.2);
  assert.equal(annealedKlWeight(3, 250, null, 200), 1);
  assert.equal(annealedKlWeight(0, 0, null, null, 0.7), 0.7);
});

test("a batch's loss is finite and its gradient reaches every parameter", () => {
  const model = new SingleCellVariationalInference(upstreamExample(30));
  const out = model.run(countsBatch(16, 30));
  assert.ok(Number.isFinite(out.loss.item()));
  out.loss.backward();
  for (const [name, p] of model.namedParameters()) {
    assert.ok(
      p.grad?.data.some((v) => v !== 0),
      `no gradient for ${name}`,
    );
  }
  // the loss is the mean of the reconstruction term plus the warm-up-weighted KL (weight 0 at epoch 0)
  let mean = 0;
  for (const v of out.reconstruction_loss_n.data) mean += v / 16;
  assert.ok(Math.abs(out.loss.item() - mean) < 1e-3 * Math.abs(mean));
});

test("scVI refuses what its likelihood cannot take, naming it", () => {
  const model = new SingleCellVariationalInference(upstreamExample(12));
  assert.throws(
    () => model.forward(countsBatch(8, 12, 1, (x) => (x[5] = -2))),
    (e: unknown) =>
      e instanceof DataValueError && /-2 at row 0 of the batch, gene gene5/.test((e as Error).message),
  );
  assert.throws(
    () => model.forward(countsBatch(8, 12, 1, (x) => x.fill(0, 12, 24))),
    (e: unknown) =>
      e instanceof DataValueError && /cell at row 1 of the batch has no counts/.test((e as Error).message),
  );
  const badBatch = countsBatch(8, 12);
  (badBatch.batch_index_n as Int32Array)[3] = 4;
  assert.throws(
    () => model.forward(badBatch),
    /batch_index_n has code 4 at row 3 of the batch; the model has 4 categories/,
  );
  const noCovariates = countsBatch(8, 12);
  delete noCovariates.categorical_covariate_index_nd;
  assert.throws(
    () => model.forward(noCovariates),
    /no categorical_covariate_index_nd \(add it to data.batch_keys\)/,
  );
  const warnings: string[] = [];
  const warned = new SingleCellVariationalInference(upstreamExample(12, { warn: (m) => warnings.push(m) }));
  warned.forward(countsBatch(8, 12, 1, (x) => (x[2] = 0.5)));
  warned.forward(countsBatch(8, 12, 1, (x) => (x[2] = 0.5)));
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /expects raw counts, but x_ng holds non-integer values \(e.g. 0.5\)/);
});

test("scVI refuses configurations it cannot build, naming the key", () => {
  const make = (overrides: Partial<SCVIOptions>) => () =>
    new SingleCellVariationalInference(upstreamExample(10, overrides));
  assert.throws(
    make({
      encoder: {
        hidden_layers: [structured("LinearWithBatch")],
        final_layer: { class_path: "torch.nn.Linear" },
      },
    }),
    /encoder.hidden_layers\[0\].init_args.out_features is required for hidden layers/,
  );
  assert.throws(
    make({ encoder: { hidden_layers: [], final_layer: { class_path: "torch.nn.Conv1d", init_args: {} } } }),
    (e: unknown) =>
      e instanceof ConfigError &&
      /encoder.final_layer.class_path: "torch.nn.Conv1d" is not a layer scVI builds/.test(
        (e as Error).message,
      ),
  );
  assert.throws(
    make({ n_cats_per_cov: [] }),
    /encoder.hidden_layers\[0\]: LinearWithCovariates has nothing to read its bias from/,
  );
  assert.throws(make({ kl_warmup_steps: 100 }), /only one of kl_warmup_epochs or kl_warmup_steps/);
  assert.throws(
    make({ batch_embedded: false, n_latent_batch: 3 }),
    /n_latent_batch \(3\) must equal n_batch \(4\)/,
  );
  assert.throws(
    make({
      decoder: {
        hidden_layers: [],
        final_layer: { class_path: "torch.nn.Linear" },
        final_additive_bias: "yes",
      },
    }),
    /decoder.final_additive_bias must be true or false, got "yes"/,
  );
});

test("upstream sets a decoder hidden layer's dropout to 0, with a warning", () => {
  const warnings: string[] = [];
  const decoder = {
    hidden_layers: [
      { ...(structured("LinearWithBatch", 8) as object), dressing_init_args: { dropout_rate: 0.2 } },
    ],
    final_layer: { class_path: "torch.nn.Linear", init_args: {} },
    final_additive_bias: false,
  };
  const model = new SingleCellVariationalInference(
    upstreamExample(10, { decoder, warn: (m) => warnings.push(m) }),
  );
  assert.match(warnings.join("\n"), /dropout is not supported in the decoder of scVI/);
  // no Dropout module in the decoder: its dressing holds the batch norm only (ReLU has no module)
  const names = model.decoder.namedModules().map(([name, m]) => `${name}:${m.constructor.name}`);
  assert.ok(!names.some((n) => n.endsWith(":Dropout")), names.join(", "));
});
