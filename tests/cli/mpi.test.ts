// `cellarium <model> fit` under mpirun (issue 17): ranks train data-parallel and equal
// `trainer.devices` (same replicas, same merge order), one process on the union batch within
// float32 reduction order, and the single-process run for the streaming models; a run resumes
// under the same number of ranks; ranks that disagree, or one that is killed, end the job with a
// message instead of a hang.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { modelByCommand } from "../../src/cli/registry.js";
import { runModelCommand } from "../../src/cli/run.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import { loadCheckpoint } from "../../src/train/checkpoint.js";
import { CLI, root } from "../helpers/cli-command.js";
import { mpirun } from "../helpers/mpirun.js";
import { tempDir } from "../helpers/temp.js";

const TIMEOUT = { timeout: 300_000 };
const demo = join(root, "examples/data/demo_{0..1}.h5ad");

const DATA = `
data:
  dadc:
    class_path: cellarium.ml.data.DistributedAnnDataCollection
    init_args: {filenames: "${demo}", shard_size: 1000, max_cache_size: 2}
  batch_keys:
    x_ng: {attr: X, convert_fn: cellarium.ml.utilities.data.to_torch_sparse_csr}
    var_names_g: {attr: var_names}
    total_mrna_umis_n: {attr: obs, key: total_mrna_umis}
    y_n: {attr: obs, key: cell_type, convert_fn: cellarium.ml.utilities.data.categories_to_codes}
    y_categories: {attr: obs, key: cell_type, convert_fn: cellarium.ml.utilities.data.get_categories}
  batch_size: 100
  iteration_strategy: same_order
  train_size: 1600
  val_size: 400
`;

const TRANSFORMS = `
  transforms:
    - {class_path: cellarium.ml.transforms.NormalizeTotal, init_args: {target_count: 10_000}}
    - cellarium.ml.transforms.Log1p`;

const LOGISTIC = `seed_everything: 7
trainer: {max_epochs: 2, enable_progress_bar: false, log_every_n_steps: 1}
model:${TRANSFORMS}
  model: {class_path: cellarium.ml.models.LogisticRegression, init_args: {W_prior_scale: 1.0, W_init_scale: 1.0, seed: 0}}
  optim_fn: torch.optim.Adam
  optim_kwargs: {lr: 0.1}
${DATA}`;

const GENEFORMER = `seed_everything: 3
trainer: {max_steps: 4, enable_progress_bar: false, log_every_n_steps: 1}
model:
  transforms:
    - {class_path: cellarium.ml.transforms.NormalizeTotal, init_args: {target_count: 10_000}}
  model:
    class_path: cellarium.ml.models.Geneformer
    init_args: {hidden_size: 16, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 32, max_position_embeddings: 32}
  optim_fn: torch.optim.AdamW
  optim_kwargs: {lr: 0.001, weight_decay: 0.01}
${DATA.replace("iteration_strategy: same_order", "shuffle: true")}`;

const streaming = (model: string) => `trainer: {enable_progress_bar: false}
model:${TRANSFORMS}
  model: ${model}
${DATA}`;

/** The newest checkpoint (the highest step) a run wrote under `dir`. */
async function lastCheckpoint(dir: string): Promise<string> {
  const folder = join(dir, "lightning_logs/version_0/checkpoints");
  const step = (name: string) => Number(/step=(\d+)/.exec(name)?.[1] ?? -1);
  const names = (await readdir(folder))
    .filter((n) => n.endsWith(".safetensors"))
    .sort((a, b) => step(a) - step(b));
  assert.ok(names.length > 0, `${folder} holds no checkpoint`);
  return join(folder, names.at(-1)!);
}

/** The model tensors of the last checkpoint a run wrote under `dir`. */
async function trained(dir: string): Promise<Record<string, Tensor>> {
  return (await loadCheckpoint(await lastCheckpoint(dir))).modelState;
}

/** Every tensor of `a` equals `b`'s within `tolerance` (absolute, relative to max(|b|, 1)); 0: bit for bit. */
function assertStates(what: string, a: Record<string, Tensor>, b: Record<string, Tensor>, tolerance = 0) {
  assert.deepEqual(Object.keys(a).sort(), Object.keys(b).sort(), what);
  for (const [name, t] of Object.entries(a)) {
    const u = b[name]!.data;
    assert.deepEqual(t.shape, b[name]!.shape, `${what}: ${name}`);
    for (let i = 0; i < t.size; i++) {
      const x = t.data[i]!;
      const y = u[i]!;
      if (tolerance === 0) {
        if (!Object.is(x, y)) assert.fail(`${what}: ${name}[${i}] = ${x}, expected ${y} bit for bit`);
      } else if (
        !(Math.abs(x - y) <= tolerance * Math.max(Math.abs(y), 1)) &&
        !(Number.isNaN(x) && Number.isNaN(y))
      )
        assert.fail(`${what}: ${name}[${i}] = ${x}, expected ${y} within ${tolerance}`);
    }
  }
}

/**
 * A fit without MPI: one process, or trainer.devices threads. Threads run in a child process of the
 * command line (tests/helpers/cli-command.ts): each worker thread loads the trainer's modules
 * again, which under this process's tsx loader takes seconds per thread.
 */
async function fitHere(command: string, cfg: string, dir: string, overrides: [string, unknown][] = []) {
  const all: [string, unknown][] = [["trainer.default_root_dir", dir], ...overrides];
  if (overrides.some(([key, value]) => key === "trainer.devices" && Number(value) > 1)) {
    const flags = all.flatMap(([key, value]) => [`--${key}`, String(value)]);
    const run = spawnSync(CLI[0]!, [...CLI.slice(1), command, "fit", "--config", cfg, ...flags], {
      cwd: root,
      encoding: "utf8",
      env: { ...process.env, CELLARIUM_MPI: "0" },
    });
    assert.equal(run.status, 0, run.stderr);
  } else {
    await runModelCommand(modelByCommand(command)!, "fit", {
      configs: [cfg],
      overrides: all as never,
      log: () => {},
      env: {},
    });
  }
  return trained(dir);
}

/** A fit under mpirun; fails the test with the job's output unless it succeeds. */
async function fitMpi(ranks: number, command: string, cfg: string, dir: string, extra: string[] = []) {
  const run = await mpirun(ranks, [
    ...CLI,
    command,
    "fit",
    "--config",
    cfg,
    "--trainer.default_root_dir",
    dir,
    ...extra,
  ]);
  assert.equal(run.code, 0, `mpirun -np ${ranks} ${command}: ${run.stderr}`);
  const line = new RegExp(
    `replicas: ${ranks} MPI ranks \\(${ranks} on this machine; Open MPI [^)]*\\), (\\d+) BLAS thread`,
  ).exec(run.stdout);
  assert.ok(line, run.stdout);
  // The ranks share this machine's cores: none takes more than its share of BLAS threads.
  const threads = Number(line[1]);
  assert.ok(threads >= 1 && threads <= Math.max(1, Math.floor(availableParallelism() / ranks)), line[0]);
  // Rank 0 alone speaks and writes.
  assert.equal(run.stdout.match(/^fit: /gm)?.length, 1, run.stdout);
  return { state: await trained(dir), stdout: run.stdout };
}

async function configFile(dir: string, name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

test(
  "LogisticRegression: -np 2 and -np 4 equal devices 2 and 4 bit for bit and the union batch; resume",
  TIMEOUT,
  async () => {
    const dir = tempDir("mpi-lr-");
    const cfg = await configFile(dir, "lr.yaml", LOGISTIC);
    // Every epoch's checkpoint kept: the first one is the resume test's starting point.
    const np2 = await fitMpi(2, "logistic_regression", cfg, join(dir, "np2"), [
      "--trainer.callbacks",
      JSON.stringify([
        { class_path: "lightning.pytorch.callbacks.ModelCheckpoint", init_args: { save_top_k: -1 } },
      ]),
    ]);
    assert.match(np2.stdout, /fit: 3200 cells .* global step 16/);
    assertStates(
      "-np 2 vs devices: 2",
      np2.state,
      await fitHere("logistic_regression", cfg, join(dir, "d2"), [["trainer.devices", 2]]),
    );
    // One process taking both ranks' batches at once (same_order: step k reads cells 200k..200k+199).
    const union = await fitHere("logistic_regression", cfg, join(dir, "union"), [["data.batch_size", 200]]);
    assertStates("-np 2 vs one process on the union batch", np2.state, union, 1e-5);

    const np4 = await fitMpi(4, "logistic_regression", cfg, join(dir, "np4"));
    const d4 = await fitHere("logistic_regression", cfg, join(dir, "d4"), [["trainer.devices", 4]]);
    assertStates("-np 4 vs devices: 4", np4.state, d4);
    // Threads within ranks: a mean of the threads' means, equal up to float32 rounding.
    const hybrid = await fitMpi(2, "logistic_regression", cfg, join(dir, "np2d2"), [
      "--trainer.devices",
      "2",
    ]);
    assert.match(hybrid.stdout, /replicas: 2 worker threads in each rank/);
    assertStates("-np 2 with devices: 2 vs devices: 4", hybrid.state, d4, 1e-5);

    // Resume: the second epoch from the first epoch's checkpoint equals the two-epoch run.
    const checkpoint = join(dir, "np2/lightning_logs/version_0/checkpoints/epoch=0-step=8.safetensors");
    const resumed = await fitMpi(2, "logistic_regression", cfg, join(dir, "resumed"), [
      "--ckpt_path",
      checkpoint,
    ]);
    assertStates("resumed -np 2 vs uninterrupted -np 2", resumed.state, np2.state);
    // The checkpoint holds 2 ranks' positions: one process may not resume it.
    await assert.rejects(
      fitHere("logistic_regression", cfg, join(dir, "one"), [["ckpt_path", checkpoint]]),
      /written by a run of 2 replicas, cannot resume a run of 1 replica/,
    );
  },
);

test("Geneformer (tiny): -np 2 equals devices: 2", TIMEOUT, async () => {
  const dir = tempDir("mpi-geneformer-");
  const cfg = await configFile(dir, "geneformer.yaml", GENEFORMER);
  const np2 = await fitMpi(2, "geneformer", cfg, join(dir, "np2"));
  assertStates(
    "-np 2 vs devices: 2",
    np2.state,
    await fitHere("geneformer", cfg, join(dir, "d2"), [["trainer.devices", 2]]),
  );
});

test(
  "OnePassMeanVarStd (-np 4) and IncrementalPCA (-np 2) equal one process; TDigest (-np 2) devices: 2",
  TIMEOUT,
  async () => {
    const dir = tempDir("mpi-streaming-");
    // TDigest's merged digests differ from the sequential one (tests/cli/parallel.test.ts bounds
    // their medians); merged in the same tree order they are the same digests.
    const models: [string, string, number, [string, unknown][], number][] = [
      ["onepass_mean_var_std", "{class_path: cellarium.ml.models.OnePassMeanVarStd}", 4, [], 1e-9],
      [
        "incremental_pca",
        "{class_path: cellarium.ml.models.IncrementalPCA, init_args: {n_components: 10}}",
        2,
        [],
        1e-6,
      ],
      ["tdigest", "{class_path: cellarium.ml.models.TDigest}", 2, [["trainer.devices", 2]], 0],
    ];
    for (const [command, model, ranks, reference, tolerance] of models) {
      const cfg = await configFile(dir, `${command}.yaml`, streaming(model));
      const { state } = await fitMpi(ranks, command, cfg, join(dir, `${command}-np`));
      const expected = await fitHere(command, cfg, join(dir, `${command}-here`), reference);
      assertStates(
        `${command} -np ${ranks} vs ${reference.length > 0 ? "devices: 2" : "one process"}`,
        state,
        expected,
        tolerance,
      );
    }
  },
);

/** The pid of rank `rank` among mpirun `parent`'s children (Open MPI starts ranks on this machine itself). */
async function rankProcess(parent: number, rank: number): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    for (const name of await readdir("/proc")) {
      if (!/^\d+$/.test(name)) continue;
      const status = await readFile(`/proc/${name}/status`, "utf8").catch(() => "");
      if (!new RegExp(`^PPid:\\s+${parent}$`, "m").test(status)) continue;
      const environ = await readFile(`/proc/${name}/environ`, "utf8").catch(() => "");
      if (environ.split("\0").includes(`OMPI_COMM_WORLD_RANK=${rank}`)) return Number(name);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`rank ${rank} of mpirun ${parent} did not start`);
}

test("ranks that disagree on the config, or a killed rank, end the job with a message", TIMEOUT, async () => {
  const dir = tempDir("mpi-faults-");
  const cfg = await configFile(dir, "lr.yaml", LOGISTIC);
  const fit = [...CLI, "logistic_regression", "fit", "--config", cfg, "--trainer.default_root_dir", dir];
  // mpirun's MPMD form: rank 1 is told another max_epochs.
  const disagree = await mpirun(
    [
      [1, []],
      [1, ["--trainer.max_epochs", "1"]],
    ],
    fit,
  );
  assert.equal(disagree.code, 2, disagree.stderr);
  assert.match(
    disagree.stderr,
    /^cellarium: rank 1 of 2: MPI rank 1's config fingerprint differs from rank 0's/m,
  );

  // 1,000 epochs would take minutes: rank 1 is killed a few seconds in.
  let killing: Promise<void> | undefined;
  const killed = await mpirun(2, [...fit, "--trainer.max_epochs", "1000"], {}, (pid) => {
    killing = rankProcess(pid, 1).then(async (target) => {
      await new Promise((resolve) => setTimeout(resolve, 3000));
      process.kill(target, "SIGKILL");
    });
  });
  await killing;
  assert.notEqual(killed.code, 0);
  assert.match(killed.stdout + killed.stderr, /process rank 1 .* exited on signal 9/);
  assert.ok(killed.seconds < 60, `the job took ${killed.seconds} s to end`);
});
