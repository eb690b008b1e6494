// cellarium-ml's Lightning `.ckpt` files, written by tests/helpers/lightning_ckpt.py with torch.save
// (stand-in classes under upstream's names, the dict Lightning writes), read by loadCheckpoint and
// the pipelines built on it. Every expected number comes from the Python side.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { frozenStep, loadPipeline, pipelineAttribute } from "../../src/cli/checkpoint-pipeline.js";
import { resolveLoaders } from "../../src/cli/loaders.js";
import { main } from "../../src/cli/main.js";
import { loadModelClass, modelFactory } from "../../src/cli/registry.js";
import { parseConfigYaml } from "../../src/cli/yaml.js";
import type { Batch } from "../../src/data/batch.js";
import { type CellariumError, CheckpointError, FileFormatError } from "../../src/errors.js";
import { adam } from "../../src/optim/adam.js";
import { sgd } from "../../src/optim/sgd.js";
import { Tensor } from "../../src/tensor/tensor.js";
import { CellariumModule, optimParams } from "../../src/train/cellarium-module.js";
import { loadCheckpoint } from "../../src/train/checkpoint.js";
import { restore } from "../../src/train/fit-checkpoint.js";
import { cliStdout } from "../helpers/cli-capture.js";
import { tempDir } from "../helpers/temp.js";

interface Reference {
  genes: string[];
  x: number[];
  ipca: { V_kg: number[]; S_k: number[]; x_mean_g: number[]; x_size: number; z_nk: number[] };
  zscore_ipca: { z_nk: number[] };
  onepass: { mean_g: number[]; var_g: number[]; std_g: number[] };
  lr: { W_gc: number[]; b_c: number[]; y_logits_nc: number[] };
  lr_adam: Record<"W_avg" | "W_sq" | "b_avg" | "b_sq", number[]>;
  tdigest: { median_g: number[] };
  ppca: Record<"ppca" | "ppca-fixed-mean", { mean_g: number[]; z_nk: number[] }>;
}

const helper = new URL("../helpers/lightning_ckpt.py", import.meta.url).pathname;
const dir = tempDir("cellarium-ckpt-");
// python3-torch missing is a failure here, not a skip: the helper must run.
const made = spawnSync("/usr/bin/python3", [helper, dir], { encoding: "utf8", maxBuffer: 16 * 2 ** 20 });
if (made.status !== 0)
  throw new Error(`tests/helpers/lightning_ckpt.py failed (${made.status}): ${made.stderr}`);
const ref = JSON.parse(made.stdout) as Reference;
const path = (name: string) => join(dir, `${name}.ckpt`);

function batch(): Batch {
  return {
    x_ng: { format: "dense", nRows: 5, nCols: ref.genes.length, data: Float32Array.from(ref.x) },
    var_names_g: ref.genes,
  };
}

function assertClose(
  actual: ArrayLike<number>,
  expected: readonly number[],
  tolerance: number,
  what: string,
) {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    const scale = Math.max(1, Math.abs(expected[i]!));
    assert.ok(
      Math.abs(actual[i]! - expected[i]!) <= tolerance * scale,
      `${what}[${i}]: ${actual[i]} vs ${expected[i]}`,
    );
  }
}

function denseValues(value: unknown): Float32Array {
  const v = value as { format: string; data: Float32Array };
  assert.equal(v.format, "dense");
  return v.data;
}

test("an IncrementalPCA .ckpt: init arguments, tensors under our names, position, predict", async () => {
  const checkpoint = await loadCheckpoint(path("ipca"));
  assert.equal(checkpoint.model.className, "IncrementalPCA");
  assert.deepEqual(checkpoint.model.initArgs, {
    var_names_g: ref.genes,
    n_components: 3,
    svd_lowrank_niter: 2,
    perform_mean_correction: false,
  });
  assertClose(checkpoint.modelState.V_kg!.data, ref.ipca.V_kg, 1e-7, "V_kg");
  assert.deepEqual(checkpoint.modelState.V_kg!.shape, [3, ref.genes.length]);
  assertClose(checkpoint.modelState.S_k!.data, ref.ipca.S_k, 1e-7, "S_k");
  assertClose(checkpoint.modelState.x_mean_g!.data, ref.ipca.x_mean_g, 1e-7, "x_mean_g");
  assert.deepEqual([...checkpoint.modelState.x_size!.data], [ref.ipca.x_size]);
  assert.deepEqual(checkpoint.transforms, []);
  // Written at the end of epoch 2 (three epochs completed): a resumed run starts epoch 3.
  assert.deepEqual(checkpoint.position, { epoch: 3, batchesConsumed: 0, globalStep: 40 });
  assert.equal(checkpoint.optimizer, undefined);

  const pipeline = await loadPipeline(path("ipca"));
  const out = pipeline.model.predict!(batch()) as Record<string, unknown>;
  const z = out.x_ng instanceof Tensor ? out.x_ng.data : denseValues(out.x_ng);
  assertClose(z, ref.ipca.z_nk, 1e-5, "z_nk");
});

test("NormalizeTotal -> Log1p -> ZScore -> IncrementalPCA .ckpt as a frozen transform matches numpy", async () => {
  const checkpoint = await loadCheckpoint(path("zscore-ipca"));
  assert.deepEqual(
    checkpoint.transforms.map((t) => t.name),
    ["NormalizeTotal", "Log1p", "ZScore"],
  );
  assert.deepEqual(checkpoint.transforms[0]!.args, { target_count: 10_000, eps: 1e-6 });
  assert.deepEqual(checkpoint.position, { epoch: 0, batchesConsumed: 7, globalStep: 7 });
  const step = frozenStep(await loadPipeline(path("zscore-ipca")));
  const out = step(batch());
  assert.deepEqual(out.var_names_g, ["PC1", "PC2", "PC3"]);
  assertClose(denseValues(out.x_ng), ref.zscore_ipca.z_nk, 1e-4, "z_nk");
});

test("!CheckpointLoader reads model.mean_g of a OnePassMeanVarStd .ckpt (per-batch sums, shifted data)", async () => {
  const config = parseConfigYaml(
    `mean_g: !CheckpointLoader {file_path: ${path("onepass")}, attr: model.mean_g, convert_fn: null}\n` +
      `var_names_g: !CheckpointLoader {file_path: ${path("onepass")}, attr: model.var_names_g}\n`,
    "test.yaml",
  );
  const resolved = (await resolveLoaders(config, "model")) as Record<string, unknown>;
  const mean = resolved.mean_g as Tensor | Float32Array;
  assertClose(mean instanceof Tensor ? mean.data : mean, ref.onepass.mean_g, 1e-5, "mean_g");
  assert.deepEqual(resolved.var_names_g, ref.genes);
  const pipeline = await loadPipeline(path("onepass"));
  assertClose((pipelineAttribute(pipeline, "model.var_g") as Tensor).data, ref.onepass.var_g, 1e-4, "var_g");
  assertClose((pipelineAttribute(pipeline, "model.std_g") as Tensor).data, ref.onepass.std_g, 1e-4, "std_g");
  assert.deepEqual(pipeline.checkpoint.model.initArgs, {
    var_names_g: ref.genes,
    algorithm: "shifted_data",
    output_path: "stats.csv",
  });
});

test("a LogisticRegression .ckpt with an IncrementalPCA checkpoint as its transform predicts numpy's logits", async () => {
  const checkpoint = await loadCheckpoint(path("lr"));
  assert.equal(checkpoint.model.className, "LogisticRegression");
  assert.deepEqual(checkpoint.model.initArgs, {
    n_obs: 100,
    var_names_g: ["PC1", "PC2", "PC3"],
    y_categories: ["B", "T"],
    W_prior_scale: 0.5,
    W_init_scale: 0.1,
    seed: 3,
    log_metrics: true,
  });
  assert.deepEqual(
    checkpoint.transforms.map((t) => t.name),
    ["CellariumModule"],
  );
  assert.equal(checkpoint.nested?.["0"]?.model.className, "IncrementalPCA");
  assertClose(checkpoint.modelState.W_gc!.data, ref.lr.W_gc, 1e-7, "W_gc");
  assertClose(checkpoint.modelState.b_c!.data, ref.lr.b_c, 1e-7, "b_c");

  const pipeline = await loadPipeline(path("lr"));
  let current = batch();
  for (const step of pipeline.transforms)
    current = { ...current, ...(typeof step === "function" ? step(current) : step.forward(current)) };
  const out = pipeline.model.predict!(current) as Record<string, Tensor>;
  assertClose(out.y_logits_nc!.data, ref.lr.y_logits_nc, 1e-4, "y_logits_nc");
});

test("resuming a LogisticRegression .ckpt restores torch's Adam state by parameter name, and the next step is torch's", async () => {
  const checkpoint = await loadCheckpoint(path("lr"));
  await loadModelClass(checkpoint.model.className, "lr.ckpt");
  const model = modelFactory(checkpoint.model.className, checkpoint.model.initArgs, "lr.ckpt");
  const module = new CellariumModule({ model });
  const optimizer = adam(optimParams(model.parameters()), { lr: 0.5 });
  const restored = await restore(
    path("lr"),
    module,
    { optimizer, scheduler: null },
    undefined,
    true,
    undefined,
  );
  assert.deepEqual(restored.position, { epoch: 1, batchesConsumed: 4, globalStep: 4 });
  const state = optimizer.stateDict();
  const index = (name: string) => model.parameters().indexOf(model.stateDict()[name]!);
  const [w, b] = [index("W_gc"), index("b_c")];
  assert.deepEqual(
    state.metadata.steps.map((step) => step),
    [4, 4],
  );
  assertClose(state.tensors[`state.${w}.exp_avg`]!, ref.lr_adam.W_avg, 0, "W_gc exp_avg");
  assertClose(state.tensors[`state.${w}.exp_avg_sq`]!, ref.lr_adam.W_sq, 0, "W_gc exp_avg_sq");
  assertClose(state.tensors[`state.${b}.exp_avg`]!, ref.lr_adam.b_avg, 0, "b_c exp_avg");
  assertClose(state.tensors[`state.${b}.exp_avg_sq`]!, ref.lr_adam.b_sq, 0, "b_c exp_avg_sq");
  const group = state.metadata.groups[0]!;
  assert.equal(group.lr, 0.01);
  assert.deepEqual(group.betas, [0.8, 0.99]);
  assert.equal(group.eps, 1e-7);
  assert.equal(group.weightDecay, 0.5);
  // The fifth step with gradient 1 everywhere, by torch.optim.Adam's formulas (L2 weight decay).
  const W = model.stateDict().W_gc!;
  const before = Float64Array.from(W.data);
  W.grad = new Tensor(new Float32Array(W.data.length).fill(1), W.shape);
  const bias = model.stateDict().b_c!;
  bias.grad = new Tensor(new Float32Array(bias.data.length), bias.shape);
  optimizer.step();
  before.forEach((p, i) => {
    const g = 1 + 0.5 * p;
    const m = (0.8 * ref.lr_adam.W_avg[i]! + 0.2 * g) / (1 - 0.8 ** 5);
    const v = (0.99 * ref.lr_adam.W_sq[i]! + 0.01 * g * g) / (1 - 0.99 ** 5);
    const expected = p - (0.01 * m) / (Math.sqrt(v) + 1e-7);
    assert.ok(Math.abs(W.data[i]! - expected) <= 1e-6 * Math.max(1, Math.abs(expected)), `W_gc[${i}]`);
  });
  // Another optimizer than the run's is refused by name.
  await assert.rejects(
    restore(
      path("lr"),
      module,
      { optimizer: sgd(optimParams(model.parameters()), { lr: 0.1 }), scheduler: null },
      undefined,
      true,
      undefined,
    ),
    /lr\.ckpt: the run was trained with torch\.optim\.adam\.Adam, this fit's optimizer is sgd/,
  );
});

test("a TDigest .ckpt: crick's digests become our centroids; median_g lies between numpy's middle values", async () => {
  const pipeline = await loadPipeline(path("tdigest"));
  const median = (pipelineAttribute(pipeline, "model.median_g") as Tensor).data;
  const x = ref.x;
  const g = ref.genes.length;
  for (let j = 0; j < g; j++) {
    const values = x.filter((_, i) => i % g === j && x[i] !== 0).sort((a, b) => a - b);
    const low = values[Math.floor((values.length - 1) / 2)]!;
    const high = values[Math.ceil((values.length - 1) / 2)]!;
    assert.ok(
      median[j]! >= low - 1e-9 && median[j]! <= high + 1e-9,
      `median_g[${j}] ${median[j]} not in [${low}, ${high}]`,
    );
    if (low === high) assert.equal(median[j], ref.tdigest.median_g[j]);
  }
});

test("cellarium inspect reads a .ckpt, and --attr writes its values", async () => {
  const out = join(tempDir("cellarium-ckpt-inspect-"), "mean.json");
  assert.equal(await main(["inspect", path("onepass"), "--attr", "model.mean_g", "--out", out]), 0);
  const written = JSON.parse(await readFile(out, "utf8")) as { value: { data: number[] } };
  assertClose(written.value.data, ref.onepass.mean_g, 1e-5, "mean_g");
  const text = cliStdout(["inspect", path("lr")]);
  assert.match(text, /LogisticRegression checkpoint/);
  assert.match(text, /transforms: CellariumModule\(IncrementalPCA checkpoint\)/);
});

/** Asserts a one-line error of class `type` naming the file. */
async function assertRefused(file: string, type: typeof CellariumError, pattern: RegExp) {
  await assert.rejects(loadCheckpoint(file), (error: Error) => {
    assert.ok(error instanceof type, `${error.constructor.name}: ${error.message}`);
    assert.ok(error.message.startsWith(`${file}: `), error.message);
    assert.ok(!error.message.includes("\n"), error.message);
    assert.match(error.message, pattern);
    return true;
  });
}

test("refusals: a model we do not have, a truncated file, a view beyond its storage, not a checkpoint", async () => {
  await assertRefused(
    path("socam"),
    CheckpointError,
    /hyper_parameters\.model is a cellarium\.ml\.models\.socam\.SOCAM, which cellarium-ts does not have yet/,
  );
  const bytes = await readFile(path("ipca"));
  const truncated = join(dir, "truncated.ckpt");
  await writeFile(truncated, bytes.subarray(0, Math.floor(bytes.length / 2)));
  await assertRefused(truncated, FileFormatError, /zip archive/);
  await assertRefused(
    path("oversized"),
    FileFormatError,
    /pipeline\.0\.x_mean_g.*holds 1000000 elements, more than its FloatStorage of 4/,
  );
  const text = join(dir, "notes.ckpt");
  await writeFile(text, "this is not a checkpoint\n");
  await assertRefused(
    text,
    CheckpointError,
    /neither a cellarium-ts safetensors file nor a Lightning \.ckpt/,
  );
  // A torch.save file that is not a Lightning checkpoint.
  const plain = join(dir, "plain.pt");
  const saved = spawnSync("/usr/bin/python3", [
    "-c",
    `import torch; torch.save({"w": torch.zeros(2)}, "${plain}")`,
  ]);
  assert.equal(saved.status, 0, String(saved.stderr));
  await assertRefused(plain, CheckpointError, /not a Lightning checkpoint \(no state_dict\)/);
});

test("ProbabilisticPCA .ckpt files, mean_g learnt and fixed: init arguments and predict's z_nk", async () => {
  for (const [name, fixed] of [
    ["ppca", false],
    ["ppca-fixed-mean", true],
  ] as const) {
    const pipeline = await loadPipeline(path(name));
    const args = pipeline.checkpoint.model.initArgs;
    assert.equal(pipeline.checkpoint.model.className, "ProbabilisticPCA");
    assert.equal(args.n_obs, 50);
    assert.equal(args.n_components, 2);
    assert.equal(args.ppca_flavor, "marginalized");
    assert.equal(args.W_init_scale, 0.5);
    assert.equal(args.sigma_init_scale, 2);
    assert.equal(args.seed, 4);
    // A fixed mean_g is an init argument; a learnt one is a parameter only.
    if (fixed) assertClose(args.mean_g as number[], ref.ppca[name].mean_g, 1e-7, `${name} mean_g`);
    else assert.equal(args.mean_g, null);
    const output = pipeline.model.predict!(batch()) as { z_nk: Tensor };
    assertClose(output.z_nk.data, ref.ppca[name].z_nk, 1e-4, `${name} z_nk`);
  }
});
