import assert from "node:assert/strict";
import { mkdir, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { findRunFiles } from "../../src/cli/report-gather.js";
import { tempDir } from "../helpers/temp.js";

async function touch(path: string, seconds = 1_700_000_000): Promise<void> {
  await mkdir(join(path, ".."), { recursive: true });
  await writeFile(path, "");
  await utimes(path, seconds, seconds);
}

test("a run's files: the newest version's metrics.csv, the newest checkpoint, from a root, a version or a checkpoint", async () => {
  const root = tempDir("report-files-");
  const v0 = join(root, "lightning_logs/version_0");
  const v10 = join(root, "lightning_logs/version_10");
  await touch(join(v0, "metrics.csv"));
  await touch(join(v10, "metrics.csv"));
  await touch(join(root, "lightning_logs/version_2/metrics.csv"));
  // ModelCheckpoint with a dirpath: <root>/checkpoints; the newest by modification time.
  await touch(join(root, "checkpoints/b.safetensors"), 1_700_000_000);
  await touch(join(root, "checkpoints/a.safetensors"), 1_700_000_100);
  await touch(join(root, "checkpoints/notes.txt"), 1_700_000_200);

  assert.deepEqual(await findRunFiles(root), {
    runDir: root,
    metrics: join(v10, "metrics.csv"),
    checkpoint: join(root, "checkpoints/a.safetensors"),
    confusion: null,
  });
  // A classifier's validation confusion matrix, beside its metrics.csv.
  await touch(join(v0, "confusion_matrix.csv"));
  assert.deepEqual(await findRunFiles(v0), {
    runDir: v0,
    metrics: join(v0, "metrics.csv"),
    checkpoint: join(root, "checkpoints/a.safetensors"),
    confusion: join(v0, "confusion_matrix.csv"),
  });
  assert.deepEqual(await findRunFiles(join(root, "checkpoints/b.safetensors")), {
    runDir: root,
    metrics: join(v10, "metrics.csv"),
    checkpoint: join(root, "checkpoints/b.safetensors"),
    confusion: null,
  });

  // The trainer's default: checkpoints inside the version directory.
  await touch(join(v10, "checkpoints/epoch=0-step=5.ckpt"));
  const own = join(root, "own");
  await touch(join(own, "lightning_logs/version_0/metrics.csv"));
  await touch(join(own, "lightning_logs/version_0/checkpoints/epoch=0-step=5.safetensors"));
  assert.deepEqual(await findRunFiles(own), {
    runDir: own,
    metrics: join(own, "lightning_logs/version_0/metrics.csv"),
    checkpoint: join(own, "lightning_logs/version_0/checkpoints/epoch=0-step=5.safetensors"),
    confusion: null,
  });
  assert.deepEqual(await findRunFiles(v10), {
    runDir: v10,
    metrics: join(v10, "metrics.csv"),
    checkpoint: join(v10, "checkpoints/epoch=0-step=5.ckpt"),
    confusion: null,
  });

  // A checkpoint alone (no metrics anywhere near it) is enough.
  const lone = join(root, "lone/model.safetensors");
  await touch(lone);
  assert.deepEqual(await findRunFiles(lone), {
    runDir: join(root, "lone"),
    metrics: null,
    checkpoint: lone,
    confusion: null,
  });
});
