// The README's Geneformer steps, run as written on the demo data: TDigest medians, a tiny Geneformer
// fit fed by them through !CheckpointLoader, embeddings through the predict config; then an
// interrupted fit resumed from its checkpoint ends with the same weights as an uninterrupted one.

import assert from "node:assert/strict";
import { readFile, symlink } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { gunzipSync } from "node:zlib";
import { loadPipeline } from "../../src/cli/checkpoint-pipeline.js";
import { modelByCommand } from "../../src/cli/registry.js";
import { runModelCommand } from "../../src/cli/run.js";
import type { Batch } from "../../src/data/batch.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import { loadCheckpoint } from "../../src/train/checkpoint.js";
import { runPython } from "../helpers/python.js";
import { tempDir } from "../helpers/temp.js";

const root = new URL("../..", import.meta.url).pathname;
const TRAIN = "examples/cli_workflow/geneformer_train_config.yaml";
const PREDICT = "examples/cli_workflow/geneformer_predict_config.yaml";
// Shorter sequences and runs than the example's, to keep the test fast.
const SMALL: [string, unknown][] = [["model.model.init_args.max_position_embeddings", 48]];

// A run stopped by max_steps saves checkpoints only through every_n_train_steps.
function checkpointEvery(steps: number) {
  return [
    {
      class_path: "lightning.pytorch.callbacks.ModelCheckpoint",
      init_args: { every_n_train_steps: steps, save_top_k: -1 },
    },
  ];
}

async function run(
  command: string,
  stage: "fit" | "predict",
  configs: string[],
  overrides: [string, unknown][] = [],
) {
  const lines: string[] = [];
  await runModelCommand(modelByCommand(command)!, stage, {
    configs,
    overrides: [["trainer.enable_progress_bar", false], ...overrides] as never,
    log: (line) => lines.push(line),
  });
  return lines;
}

// The example configs name paths relative to the working directory (examples/..., runs/...): the
// subtests run one after the other in a temporary directory holding the TDigest run they read.
test("geneformer on the command line", async (t) => {
  const dir = tempDir("cli-geneformer-");
  await symlink(join(root, "examples"), join(dir, "examples"));
  process.chdir(dir);
  const warn = console.warn;
  console.warn = () => {}; // genes never non-zero: NaN medians replaced by 1/eps
  try {
    await run("tdigest", "fit", ["examples/cli_workflow/tdigest_train_config.yaml"]);

    await t.test("fit and predict with the example configs, fed by the TDigest medians", async () => {
      const fit = await run(
        "geneformer",
        "fit",
        [TRAIN],
        [
          ...SMALL,
          ["trainer.max_steps", 6],
          ["trainer.log_every_n_steps", 2],
          ["trainer.callbacks", checkpointEvery(6)],
        ],
      );
      assert.ok(
        fit.some((l) => l.includes("fit: 600 cells") && l.endsWith("global step 6")),
        fit.join("\n"),
      );
      // The first losses are those of an untrained model: logits ~ 0, so about ln(vocabulary).
      const metrics = (await readFile("runs/geneformer/lightning_logs/version_0/metrics.csv", "utf8"))
        .trim()
        .split("\n");
      const header = metrics[0]!.split(",");
      const losses = metrics.slice(1).map((l) => Number(l.split(",")[header.indexOf("train_loss")]));
      assert.ok(losses.length >= 3);
      assert.ok(Math.abs(losses[0]! - Math.log(1002)) < 0.2, `first loss ${losses[0]} vs ln 1002`);
      assert.ok(losses.every(Number.isFinite));

      const checkpoint = "runs/geneformer/lightning_logs/version_0/checkpoints/epoch=0-step=6.safetensors";
      const predicted = await run(
        "geneformer",
        "predict",
        [TRAIN, PREDICT],
        [...SMALL, ["ckpt_path", checkpoint], ["trainer.limit_predict_batches", 3]],
      );
      assert.ok(
        predicted.some((l) => l.startsWith("predict: 300 cells")),
        predicted.join("\n"),
      );
      const rows = gunzipSync(await readFile("runs/geneformer/embeddings/predictions.csv.gz"))
        .toString()
        .trim()
        .split("\n")
        .map((l) => l.split(","));
      assert.deepEqual(rows[0], [
        "obs_names_n",
        ...Array.from({ length: 32 }, (_, j) => `cell_embedding_nh_${j}`),
      ]);
      const names = runPython(
        `import json, anndata
print(json.dumps(list(anndata.read_h5ad("examples/data/demo_0.h5ad").obs_names[:300])))`,
      ) as string[];
      assert.deepEqual(
        rows.slice(1).map((r) => r[0]),
        names,
      );
      // The rows are the trained model's embeddings: recompute the first cells in process.
      const pipeline = await loadPipeline(checkpoint);
      assert.equal(pipeline.model.className, "Geneformer");
      const data = runPython(
        `import json, anndata
a = anndata.read_h5ad("examples/data/demo_0.h5ad")[:3]
print(json.dumps({"x": a.X.toarray().flatten().tolist(), "genes": list(a.var_names)}))`,
      ) as { x: number[]; genes: string[] };
      let batch: Batch = {
        x_ng: { format: "dense", nRows: 3, nCols: data.genes.length, data: Float32Array.from(data.x) },
        var_names_g: data.genes,
      };
      for (const t of pipeline.transforms)
        batch = { ...batch, ...(typeof t === "function" ? t(batch) : t.forward(batch)) };
      const ours = (
        pipeline.model.predict!(batch, { output_hidden_states: false, output_attentions: false }) as Record<
          string,
          Tensor
        >
      ).cell_embedding_nh!.data;
      for (let i = 0; i < 3; i++) {
        rows[i + 1]!.slice(1).forEach((v, j) => {
          assert.ok(Math.abs(Number(v) - ours[i * 32 + j]!) < 1e-5, `cell ${i}, column ${j}`);
        });
      }
    });

    await t.test(
      "an interrupted fit resumed from its checkpoint ends with the uninterrupted weights",
      async () => {
        const common: [string, unknown][] = [
          ...SMALL,
          ["trainer.max_steps", 4],
          ["trainer.callbacks", checkpointEvery(2)],
        ];
        await run("geneformer", "fit", [TRAIN], [...common, ["trainer.default_root_dir", "runs/a"]]);
        const checkpoints = "lightning_logs/version_0/checkpoints";
        await run(
          "geneformer",
          "fit",
          [TRAIN],
          [
            ...common,
            ["trainer.default_root_dir", "runs/b"],
            ["ckpt_path", `runs/a/${checkpoints}/epoch=0-step=2.safetensors`],
          ],
        );
        const whole = await loadCheckpoint(`runs/a/${checkpoints}/epoch=0-step=4.safetensors`);
        const resumed = await loadCheckpoint(`runs/b/${checkpoints}/epoch=0-step=4.safetensors`);
        for (const [name, tensor] of Object.entries(whole.modelState)) {
          assert.deepEqual(resumed.modelState[name]!.data, tensor.data, name);
        }
      },
    );
  } finally {
    console.warn = warn;
    process.chdir(root);
  }
});
