import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { copyFile, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { mergeCommand } from "../../src/cli/merge.js";
import { modelByCommand } from "../../src/cli/registry.js";
import { runModelCommand } from "../../src/cli/run.js";
import { CheckpointError, SchemaMismatchError } from "../../src/errors.js";
import { loadCheckpoint, saveCheckpoint } from "../../src/train/checkpoint.js";
import { cliStdout } from "../helpers/cli-capture.js";
import { CLI } from "../helpers/cli-command.js";
import { tempDir } from "../helpers/temp.js";

const TIMEOUT = { timeout: 300_000 };
const root = new URL("../..", import.meta.url).pathname;
const demo = join(root, "examples/data/demo_{0..1}.h5ad");

function config(dir: string, model: string, extra = ""): string {
  return `
trainer:
  max_epochs: 1
  enable_progress_bar: false
  default_root_dir: ${dir}
${extra}
model:
  transforms:
    - {class_path: cellarium.ml.transforms.NormalizeTotal, init_args: {target_count: 10_000}}
    - cellarium.ml.transforms.Log1p
  model: ${model}
data:
  dadc:
    class_path: cellarium.ml.data.DistributedAnnDataCollection
    init_args:
      filenames: ${demo}
      shard_size: 1000
      max_cache_size: 2
  batch_keys:
    x_ng: {attr: X, convert_fn: cellarium.ml.utilities.data.to_torch_sparse_csr}
    var_names_g: {attr: var_names}
    total_mrna_umis_n: {attr: obs, key: total_mrna_umis}
  batch_size: 128
`;
}

/**
 * A fit's log lines. With trainer.devices > 1 it runs as a child process of the command line
 * (cliStdout): each worker thread loads the trainer's modules again, which under this process's
 * tsx loader takes seconds per thread.
 */
async function fit(
  command: string,
  cfg: string,
  overrides: [string, unknown][] = [],
  replica?: { rank: number; n: number },
) {
  if (!replica && overrides.some(([key, value]) => key === "trainer.devices" && Number(value) > 1)) {
    const flags = overrides.flatMap(([key, value]) => [
      `--${key}`,
      typeof value === "object" ? JSON.stringify(value) : String(value),
    ]);
    return cliStdout([command, "fit", "--config", cfg, ...flags])
      .trimEnd()
      .split("\n");
  }
  const lines: string[] = [];
  await runModelCommand(modelByCommand(command)!, "fit", {
    configs: [cfg],
    overrides: overrides as never,
    log: (line) => lines.push(line),
    env: {},
    ...(replica && { replica: { replicaRank: replica.rank, numReplicas: replica.n } }),
  });
  return lines;
}

/** Runs the command line in a child process (tests/helpers/cli-command.ts), resolving to its exit code and stderr. */
function spawnCli(args: string[], env: Record<string, string>): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(CLI[0]!, [...CLI.slice(1), ...args], {
      cwd: root,
      env: { PATH: process.env.PATH ?? "", ...env },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (chunk) => (stderr += chunk));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, stderr }));
  });
}

function csvColumns(text: string): { names: string[]; values: number[][] } {
  const rows = text
    .trim()
    .split("\n")
    .slice(1)
    .map((line) => line.split(","));
  return { names: rows.map((r) => r[0]!), values: rows.map((r) => r.slice(1).map(Number)) };
}

function assertCsvClose(actual: string, expected: string, relative: number): void {
  const a = csvColumns(actual);
  const e = csvColumns(expected);
  assert.deepEqual(a.names, e.names);
  for (const [g, row] of a.values.entries()) {
    for (const [k, v] of row.entries()) {
      const want = e.values[g]![k]!;
      assert.ok(
        Math.abs(v - want) <= relative * Math.max(Math.abs(want), 1e-300),
        `gene ${g} column ${k}: ${v} vs ${want}`,
      );
    }
  }
}

test(
  "4 processes write parts that merge into the single run's onepass CSV; merge refuses wrong parts",
  TIMEOUT,
  async () => {
    const dir = tempDir("parts-");
    const cfg = join(dir, "onepass.yaml");
    const model = (csv: string) =>
      `{class_path: cellarium.ml.models.OnePassMeanVarStd, init_args: {algorithm: shifted_data, output_path: ${csv}}}`;
    await writeFile(cfg, config(join(dir, "single"), model(join(dir, "single.csv"))));
    await fit("onepass_mean_var_std", cfg);
    const single = await readFile(join(dir, "single.csv"), "utf8");

    // One process per rank, each told its part another way: flags, RANK/WORLD_SIZE, a Kubernetes
    // Indexed Job's index with CELLARIUM_NUM_REPLICAS, a Slurm array task (ids 1..4).
    const merged = join(dir, "merged.csv");
    const parts = join(dir, "parts");
    await writeFile(cfg, config(parts, model(merged)));
    const fitArgs = ["onepass_mean_var_std", "fit", "--config", cfg];
    const runs = await Promise.all([
      spawnCli([...fitArgs, "--replica_rank", "0", "--num_replicas", "4"], {}),
      spawnCli(fitArgs, { RANK: "1", WORLD_SIZE: "4" }),
      spawnCli(fitArgs, { JOB_COMPLETION_INDEX: "2", CELLARIUM_NUM_REPLICAS: "4" }),
      spawnCli(fitArgs, { SLURM_ARRAY_TASK_ID: "4", SLURM_ARRAY_TASK_MIN: "1", SLURM_ARRAY_TASK_COUNT: "4" }),
    ]);
    for (const [rank, run] of runs.entries()) assert.equal(run.code, 0, `rank ${rank}: ${run.stderr}`);
    const part = (rank: number) => join(parts, `part-${rank}-of-4.safetensors`);
    await assert.rejects(readFile(merged), "a part writes no CSV");

    const out = join(dir, "merged.safetensors");
    const lines: string[] = [];
    await mergeCommand([3, 1, 0, 2].map(part), { out, log: (line) => lines.push(line) });
    assert.deepEqual(lines, [`merge: 4 parts of OnePassMeanVarStd -> ${out}`, `output: ${merged}`]);
    assertCsvClose(await readFile(merged, "utf8"), single, 1e-12);
    const whole = await loadCheckpoint(out);
    assert.equal(whole.modelState.x_size!.data[0], 2000);
    assert.deepEqual(whole.parallel, { numReplicas: 4 });

    // Wrong sets of parts, each a one-line error naming a file.
    const reject = (files: string[], type: typeof CheckpointError, message: RegExp) =>
      assert.rejects(
        mergeCommand(files, { out: join(dir, "bad.safetensors"), log: () => {} }),
        (e: Error) => {
          assert.ok(e instanceof type, e.message);
          assert.match(e.message, message);
          assert.doesNotMatch(e.message, /\n/);
          return true;
        },
      );
    await reject(
      [part(0), part(1), part(2)],
      CheckpointError,
      /parts are of 4 replicas, rank\(s\) 3 missing/,
    );
    const copy = join(dir, "copy.safetensors");
    await copyFile(part(1), copy);
    await reject(
      [part(0), part(1), copy, part(3)],
      CheckpointError,
      /copy\.safetensors: rank 1 is also the rank of .*part-1-of-4/,
    );
    await reject([part(0), out], CheckpointError, /merged\.safetensors: not a partial checkpoint/);

    const checkpoint = await loadCheckpoint(part(2));
    const genes = checkpoint.model.initArgs.var_names_g as string[];
    const renamed = join(dir, "renamed.safetensors");
    await saveCheckpoint(renamed, {
      ...checkpoint,
      model: {
        ...checkpoint.model,
        initArgs: { ...checkpoint.model.initArgs, var_names_g: ["X", ...genes.slice(1)] },
      },
    });
    await reject(
      [part(0), part(1), renamed, part(3)],
      SchemaMismatchError,
      /renamed\.safetensors: var_names_g differs from .*part-0-of-4\.safetensors at gene 0 \("X" vs/,
    );

    // A part of a run with another config (a different transform) does not merge.
    const other = join(dir, "other");
    await writeFile(cfg, config(other, model(merged)).replace("target_count: 10_000", "target_count: 100"));
    await fit("onepass_mean_var_std", cfg, [], { rank: 3, n: 4 });
    await reject(
      [part(0), part(1), part(2), join(other, "part-3-of-4.safetensors")],
      CheckpointError,
      /other\/part-3-of-4\.safetensors: config fingerprint \w+ differs from \w+ of .*part-0-of-4/,
    );
    // A rerun of one part resumes only as that part of that run.
    await assert.rejects(
      fit("onepass_mean_var_std", cfg, [["ckpt_path", part(1)]], { rank: 3, n: 4 }),
      /part-1-of-4\.safetensors: written by a run of part 1 of 4 \(config \w+\), cannot resume a run of part 3 of 4/,
    );
  },
);

test(
  "tdigest: parts merge into the single run's counts and medians; devices: 2 equals devices: 1",
  TIMEOUT,
  async () => {
    const dir = tempDir("tdigest-parts-");
    const cfg = join(dir, "tdigest.yaml");
    await writeFile(cfg, config(join(dir, "runs"), "cellarium.ml.models.TDigest"));
    const checkpointOf = (lines: string[]) => lines.find((l) => l.startsWith("checkpoint: "))!.slice(12);
    const single = await loadCheckpoint(checkpointOf(await fit("tdigest", cfg)));
    for (let rank = 0; rank < 4; rank++) await fit("tdigest", cfg, [], { rank, n: 4 });
    const out = join(dir, "merged.safetensors");
    await mergeCommand(
      [0, 1, 2, 3].map((r) => join(dir, "runs", `part-${r}-of-4.safetensors`)),
      { out, log: () => {} },
    );
    const threads = await loadCheckpoint(checkpointOf(await fit("tdigest", cfg, [["trainer.devices", 2]])));

    const { TDigest } = await import("../../src/models/tdigest.js");
    const digest = (state: typeof single) => {
      const model = new TDigest({
        var_names_g: state.model.initArgs.var_names_g as string[],
        warn: () => {},
      });
      model.loadStateDict(state.modelState);
      return { counts: Array.from(model.count_g.data), medians: Array.from(model.median_g.data) };
    };
    const expected = digest(single);
    for (const [name, state] of [
      ["merged", await loadCheckpoint(out)],
      ["devices: 2", threads],
    ] as const) {
      const actual = digest(state);
      assert.deepEqual(actual.counts, expected.counts, `${name}: non-zero counts`);
      actual.medians.forEach((m, g) => {
        const want = expected.medians[g]!;
        if (Number.isNaN(want)) assert.ok(Number.isNaN(m), `${name}: gene ${g}`);
        // Merged digests are not the sequential digest; compression 100 keeps medians within a few %.
        else
          assert.ok(
            Math.abs(m - want) <= 0.05 * Math.abs(want) + 1e-9,
            `${name}: median of gene ${g}: ${m} vs ${want}`,
          );
      });
    }
  },
);

test(
  "onepass with devices: 2 equals devices: 1, and resumes from a mid-epoch checkpoint",
  TIMEOUT,
  async () => {
    const dir = tempDir("devices-");
    const cfg = join(dir, "onepass.yaml");
    const model = (csv: string) =>
      `{class_path: cellarium.ml.models.OnePassMeanVarStd, init_args: {algorithm: shifted_data, output_path: ${join(dir, csv)}}}`;
    await writeFile(cfg, config(join(dir, "one"), model("one.csv")));
    await fit("onepass_mean_var_std", cfg);
    const one = await readFile(join(dir, "one.csv"), "utf8");

    const every3 =
      "  callbacks:\n    - {class_path: lightning.pytorch.callbacks.ModelCheckpoint, init_args: {every_n_train_steps: 3, save_top_k: -1}}";
    await writeFile(cfg, config(join(dir, "two"), model("two.csv"), every3));
    const ddp = {
      class_path: "lightning.pytorch.strategies.DDPStrategy",
      init_args: { broadcast_buffers: false },
    };
    const lines = await fit("onepass_mean_var_std", cfg, [
      ["trainer.devices", 2],
      ["trainer.strategy", ddp],
    ]);
    assert.ok(lines.includes("replicas: 2 worker threads"), lines.join("\n"));
    assert.ok(
      lines.some((l) => l.startsWith("fit: 2000 cells")),
      lines.join("\n"),
    );
    const two = await readFile(join(dir, "two.csv"), "utf8");
    assertCsvClose(two, one, 1e-12);

    // Stopped at step 3 of 8 (each replica's), then resumed: the checkpoint held the merge of both.
    await writeFile(cfg, config(join(dir, "three"), model("three.csv"), every3));
    await fit("onepass_mean_var_std", cfg, [
      ["trainer.devices", 2],
      ["trainer.max_steps", 3],
    ]);
    const step3 = join(dir, "three/lightning_logs/version_0/checkpoints/epoch=0-step=3.safetensors");
    await fit("onepass_mean_var_std", cfg, [
      ["trainer.devices", 2],
      ["ckpt_path", step3],
    ]);
    assertCsvClose(await readFile(join(dir, "three.csv"), "utf8"), one, 1e-12);
  },
);
