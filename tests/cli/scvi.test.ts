// scVI on the command line as a cellarium-ml user runs it: the three example configs in upstream's
// layout (examples/scvi/, train / predict / reconstruct) unchanged on the demo data, their outputs
// read by Python's anndata; an interrupted fit resumed from its checkpoint ends with the
// uninterrupted weights; and on synthetic counts with cell types and a strong batch effect
// (scripts/make-scvi-data.py) the latent space separates the cell types and mixes the batches far
// better than PCA of the same data (kNN classifiers by scikit-learn).

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { modelByCommand } from "../../src/cli/registry.js";
import { runModelCommand } from "../../src/cli/run.js";
import { loadCheckpoint } from "../../src/train/checkpoint.js";
import { runPython } from "../helpers/python.js";
import { tempDir } from "../helpers/temp.js";

const root = new URL("../..", import.meta.url).pathname;
const TRAIN = "examples/scvi/scvi_train_config.yaml";
const PREDICT = "examples/scvi/scvi_predict_config.yaml";
const RECONSTRUCT = "examples/scvi/scvi_reconstruct_config.yaml";

async function run(stage: "fit" | "predict", configs: string[], overrides: [string, unknown][] = []) {
  const lines: string[] = [];
  await runModelCommand(modelByCommand("scvi")!, stage, {
    configs,
    overrides: [["trainer.enable_progress_bar", false], ...overrides] as never,
    log: (line) => lines.push(line),
  });
  return lines;
}

test("scvi on the command line", async (t) => {
  const dir = tempDir("cli-scvi-");
  symlinkSync(join(root, "examples"), join(dir, "examples"));
  process.chdir(dir);
  try {
    await t.test(
      "the example configs run unchanged on the demo data: fit, latents and reconstructions for anndata",
      async () => {
        await run("fit", [TRAIN]);
        const runDir = "runs/scvi/lightning_logs/version_0";
        const metrics = readFileSync(join(runDir, "metrics.csv"), "utf8").trim().split("\n");
        const header = metrics[0]!.split(",");
        const validation = metrics
          .slice(1)
          .map((line) => line.split(","))
          .filter((row) => row[header.indexOf("val_elbo")] !== "");
        assert.equal(validation.length, 20, "one validation per epoch");
        const elbo = validation.map((row) => Number(row[header.indexOf("val_elbo")]));
        const parts = validation.map(
          (row) =>
            Number(row[header.indexOf("val_reconstruction_loss")]) +
            Number(row[header.indexOf("val_kl_divergence_z")]),
        );
        // the ELBO is -(reconstruction + KL z + the small batch KL), and it improves with training
        for (const [i, e] of elbo.entries()) {
          assert.ok(-e >= parts[i]! && -e - parts[i]! < 1, `epoch ${i}: ${e} vs ${parts[i]}`);
        }
        assert.ok(elbo.at(-1)! > elbo[0]! + 20, `val_elbo ${elbo[0]} -> ${elbo.at(-1)}`);

        await run("predict", [PREDICT]);
        // 3 latent draws instead of the config's 30: the same code path, a tenth of the time
        await run("predict", [RECONSTRUCT], [["model.model.init_args.reconstruction_n_latent_samples", 3]]);
        const checked = runPython(
          `
import json, sys, anndata, numpy as np
data = anndata.concat([anndata.read_h5ad(f"examples/data/demo_{i}.h5ad") for i in range(2)])
latent = anndata.read_h5ad("runs/scvi/latent.h5ad")
rec = anndata.read_h5ad("runs/scvi/reconstructed.h5ad")
out = {
  "latent_shape": list(latent.obsm["X_scvi"].shape),
  "same_cells": sorted(latent.obs_names) == sorted(data.obs_names),
  "obs": list(latent.obs.columns),
  "chemistry_categorical": str(latent.obs["chemistry"].dtype) == "category",
  "finite": bool(np.isfinite(latent.obsm["X_scvi"]).all()),
  "rec_shape": list(rec.obsm["scvi_reconstructed"].shape),
  "rec_row_sums": [float(rec.obsm["scvi_reconstructed"].sum(1).min()), float(rec.obsm["scvi_reconstructed"].sum(1).max())],
  "rec_min": float(rec.obsm["scvi_reconstructed"].min()),
}
print(json.dumps(out))
`,
        ) as Record<string, unknown>;
        assert.deepEqual(checked.latent_shape, [2000, 10]);
        assert.equal(checked.same_cells, true);
        assert.deepEqual(checked.obs, ["cell_type", "batch", "total_mrna_umis", "n_genes", "chemistry"]);
        assert.equal(checked.chemistry_categorical, true);
        assert.equal(checked.finite, true);
        // every gene reconstructed, each cell scaled to the library size 10,000
        assert.deepEqual(checked.rec_shape, [2000, 1000]);
        const [low, high] = checked.rec_row_sums as [number, number];
        assert.ok(Math.abs(low - 1e4) < 1 && Math.abs(high - 1e4) < 1, `row sums ${low}..${high}`);
        assert.ok((checked.rec_min as number) > 0);
      },
    );

    await t.test(
      "an interrupted fit resumed from its checkpoint ends with the uninterrupted weights",
      async () => {
        const common: [string, unknown][] = [
          ["trainer.max_epochs", null],
          ["trainer.max_steps", 6],
          [
            "trainer.callbacks",
            [
              {
                class_path: "lightning.pytorch.callbacks.ModelCheckpoint",
                init_args: { every_n_train_steps: 3, save_top_k: -1 },
              },
            ],
          ],
          // a warm-up in steps, so that the KL weight changes at every step across the interruption
          ["model.model.init_args.kl_warmup_epochs", null],
          ["model.model.init_args.kl_warmup_steps", 5],
        ];
        await run("fit", [TRAIN], [...common, ["trainer.default_root_dir", "runs/a"]]);
        const checkpoints = "lightning_logs/version_0/checkpoints";
        await run(
          "fit",
          [TRAIN],
          [
            ...common,
            ["trainer.default_root_dir", "runs/b"],
            ["ckpt_path", `runs/a/${checkpoints}/epoch=0-step=3.safetensors`],
          ],
        );
        const whole = await loadCheckpoint(`runs/a/${checkpoints}/epoch=0-step=6.safetensors`);
        const resumed = await loadCheckpoint(`runs/b/${checkpoints}/epoch=0-step=6.safetensors`);
        assert.equal(Object.keys(whole.modelState).length, 27);
        for (const [name, tensor] of Object.entries(whole.modelState)) {
          assert.deepEqual(resumed.modelState[name]!.data, tensor.data, name);
        }
      },
    );

    await t.test(
      "on counts with cell types and a batch effect the latent space keeps the types and mixes the batches, unlike PCA",
      async () => {
        const made = spawnSync(
          "/usr/bin/python3",
          [
            join(root, "scripts/make-scvi-data.py"),
            "--cells",
            "2000",
            "--genes",
            "200",
            "--seed",
            "3",
            "--out",
            "synthetic.h5ad",
          ],
          { encoding: "utf8" },
        );
        assert.equal(made.status, 0, made.stderr);
        const data: [string, unknown][] = [
          ["data.dadc.init_args.filenames", "synthetic.h5ad"],
          ["data.dadc.init_args.shard_size", 2000],
        ];
        await run(
          "fit",
          [TRAIN],
          [
            ...data,
            ["trainer.default_root_dir", "runs/q"],
            ["trainer.max_epochs", QUALITY_EPOCHS],
            ["model.optim_kwargs.lr", 5e-3],
          ],
        );
        await run(
          "predict",
          [PREDICT],
          [
            ...data,
            [
              "ckpt_path",
              `runs/q/lightning_logs/version_0/checkpoints/epoch=${QUALITY_EPOCHS - 1}-step=${QUALITY_EPOCHS * 15}.safetensors`,
            ],
            ["trainer.callbacks.0.init_args.output_dir", "synthetic_latent.h5ad"],
          ],
        );
        const scores = runPython(QUALITY) as Record<"scvi" | "pca", { cell_type: number; batch: number }>;
        console.log(`scVI vs PCA (kNN accuracy, 5-fold): ${JSON.stringify(scores)}`);
        assert.ok(scores.scvi.cell_type >= QUALITY_MIN_CELL_TYPE, JSON.stringify(scores));
        assert.ok(
          scores.pca.batch >= 0.95,
          `the data's batch effect: PCA separates the batches, ${JSON.stringify(scores)}`,
        );
        assert.ok(scores.scvi.batch <= QUALITY_MAX_BATCH, JSON.stringify(scores));
      },
    );
  } finally {
    process.chdir(root);
  }
});

// Measured at 100 epochs (lr 5e-3, otherwise the example config): cell type 1.0 in both spaces,
// batch 0.54 in scVI's (chance: 1/3) against 1.0 in PCA's.
const QUALITY_EPOCHS = 100;
const QUALITY_MIN_CELL_TYPE = 0.95;
const QUALITY_MAX_BATCH = 0.7;

// kNN (15 neighbours) accuracy of cell type and of batch, 5-fold, in scVI's latent space and in
// the first 10 principal components of log1p(normalize_total(x)): scanpy's usual embedding.
const QUALITY = `
import json, numpy as np, anndata
from sklearn.decomposition import PCA
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsClassifier
data = anndata.read_h5ad("synthetic.h5ad")
latent = anndata.read_h5ad("synthetic_latent.h5ad")[data.obs_names]
x = data.X.toarray()
pca = PCA(10, random_state=0).fit_transform(np.log1p(x / x.sum(1, keepdims=True) * 1e4))
score = lambda e, y: float(cross_val_score(KNeighborsClassifier(15), e, y, cv=5).mean())
print(json.dumps({name: {"cell_type": score(e, data.obs.cell_type.values), "batch": score(e, data.obs.batch.values)}
                  for name, e in [("scvi", latent.obsm["X_scvi"]), ("pca", pca)]}))
`;
