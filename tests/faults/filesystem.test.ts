// Faults of the file system under the command line: a full disk (a 64 KiB tmpfs, mounted as root),
// output directories that are missing, files or read-only, FIFOs given as inputs, and runs killed
// (kill -9) in the middle of a write. Each must end in one line naming the path (and the config key
// that chose it), with no partial file under an output's name, the previous file intact, no
// temporary file left once the next run has started, and no empty lightning_logs/version_N.

import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import {
  closeSync,
  constants,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statfsSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { hostname } from "node:os";
import { basename, join } from "node:path";
import { after, before, test } from "node:test";
import { sweepTemporaries, temporaryOwner, temporarySibling } from "../../src/data/atomic-file.js";
import { writeH5ad } from "../../src/formats/h5ad/writer.js";
import { loadCheckpoint } from "../../src/train/checkpoint.js";
import { cli } from "../helpers/cli-capture.js";
import { tempDir } from "../helpers/temp.js";

const N_CELLS = 200;
/** Enough genes that a checkpoint or the statistics CSV takes several 4 KiB pages. */
const N_GENES = 600;
const root = new URL("../..", import.meta.url).pathname;

const isRoot = process.getuid?.() === 0;
const NOT_ROOT = "mounting a small tmpfs to fill needs root (CI runs as root)";

let dir = "";
let shard = "";
/** A 64 KiB tmpfs (root only), filled to what each test needs. */
let mount = "";

before(async () => {
  dir = tempDir("fs-faults-");
  shard = join(dir, "cells.h5ad");
  // Counts on about a tenth of the genes of each cell.
  const indptr = new Int32Array(N_CELLS + 1);
  const indices: number[] = [];
  const data: number[] = [];
  for (let i = 0; i < N_CELLS; i++) {
    for (let j = 0; j < N_GENES; j++) {
      if ((i * 7 + j * 3) % 10 !== 0) continue;
      indices.push(j);
      data.push(1 + ((i + j) % 5));
    }
    indptr[i + 1] = indices.length;
  }
  await writeH5ad(shard, {
    X: {
      format: "csr",
      nRows: N_CELLS,
      nCols: N_GENES,
      indptr,
      indices: Int32Array.from(indices),
      data: Float32Array.from(data),
    },
    obs: { index: Array.from({ length: N_CELLS }, (_, i) => `c${i}`) },
    var: { index: Array.from({ length: N_GENES }, (_, j) => `g${j}`) },
  });
  killedRuns = startKilledRuns();
  // Awaited by its test; a failure before then is reported there.
  killedRuns.catch(() => {});
  if (isRoot) {
    mount = join(dir, "tmpfs");
    mkdirSync(mount);
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", mount]);
  }
});

after(() => {
  if (mount !== "") execFileSync("umount", [mount]);
});

/** Empties the tmpfs. */
function empty(): void {
  for (const name of readdirSync(mount)) rmSync(join(mount, name), { recursive: true, force: true });
}

/** Fills the tmpfs, keeping what is on it, until only `freePages` pages (4 KiB) are free. */
function leave(freePages: number): void {
  const { bavail, bsize } = statfsSync(mount);
  writeFileSync(join(mount, `filler-${bavail}`), Buffer.alloc((bavail - freePages) * bsize, 1));
  assert.equal(statfsSync(mount).bavail, freePages);
}

/** Empties the tmpfs, then fills it until only `freePages` pages are free. */
function fill(freePages: number): void {
  empty();
  leave(freePages);
}

interface ConfigOptions {
  readonly root: string;
  /** OnePassMeanVarStd's output_path; absent: IncrementalPCA. */
  readonly output?: string;
  readonly shard?: string;
  readonly batchSize?: number;
  /** More trainer keys, as YAML lines indented by two. */
  readonly trainer?: string;
  readonly predictions?: { readonly dir: string; readonly format: "csv" | "h5ad" | "zarr" };
}

function config(o: ConfigOptions): string {
  const callbacks = o.predictions
    ? `  callbacks:
    - class_path: cellarium.ml.callbacks.PredictionWriter
      init_args: {output_dir: ${o.predictions.dir}, gzip: false, format: ${o.predictions.format}}
`
    : "";
  const model =
    o.output !== undefined
      ? `    class_path: cellarium.ml.models.OnePassMeanVarStd
    init_args: {output_path: ${o.output}}`
      : `    class_path: cellarium.ml.models.IncrementalPCA
    init_args: {n_components: 20}`;
  return `seed_everything: 0
trainer:
  max_epochs: 1
  enable_progress_bar: false
  default_root_dir: ${o.root}
${o.trainer ?? ""}${callbacks}model:
  model:
${model}
data:
  dadc:
    class_path: cellarium.ml.data.DistributedAnnDataCollection
    init_args: {filenames: ${o.shard ?? shard}}
  batch_keys:
    x_ng: {attr: X, convert_fn: cellarium.ml.utilities.data.to_torch_sparse_csr}
    var_names_g: {attr: var_names}
    obs_names_n: {attr: obs_names}
  batch_size: ${o.batchSize ?? 50}
  num_workers: 0
`;
}

let configs = 0;
function writeConfig(o: ConfigOptions): string {
  const path = join(dir, `config-${configs++}.yaml`);
  writeFileSync(path, config(o));
  return path;
}

function fit(o: ConfigOptions, extra: string[] = []): Promise<{ code: number; stderr: string }> {
  const command = o.output !== undefined ? "onepass_mean_var_std" : "incremental_pca";
  return cli([command, "fit", "--config", writeConfig(o), ...extra]);
}

function predict(o: ConfigOptions): Promise<{ code: number; stderr: string }> {
  return cli(["incremental_pca", "predict", "--config", writeConfig(o)]);
}

function assertOneLine(result: { code: number; stderr: string }, pattern: RegExp): void {
  const lines = result.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, result.stderr);
  assert.match(lines[0]!, pattern);
  assert.equal(result.code, 2, result.stderr);
}

function literal(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** The temporary files (of the atomic writers) in `path`. */
function temporaries(path: string): string[] {
  return readdirSync(path).filter((name) => temporaryOwner(name) !== null);
}

const ENOSPC = "cannot write: no space left on device \\(ENOSPC\\)";

test("a full disk while writing a checkpoint: one line naming it; no temporary file, no empty version_N", {
  skip: !isRoot && NOT_ROOT,
}, async () => {
  fill(2);
  const runRoot = join(mount, "run");
  const result = await fit({ root: runRoot, output: join(dir, "unused.csv") });
  const checkpoint = join(runRoot, "lightning_logs/version_0/checkpoints/epoch=0-step=4.safetensors");
  assertOneLine(
    result,
    new RegExp(`^cellarium: ${literal(checkpoint)} \\(trainer\\.default_root_dir\\): ${ENOSPC}$`),
  );
  // Nothing but a header-only metrics.csv was in it: the failed run's directory is gone.
  assert.deepEqual(readdirSync(join(runRoot, "lightning_logs")), []);
});

test("a full disk while writing OnePassMeanVarStd's CSV: one line; the previous CSV intact; the run directory says FAILED", {
  skip: !isRoot && NOT_ROOT,
}, async () => {
  empty();
  const output = join(mount, "stats.csv");
  writeFileSync(output, "previous\n");
  // Room for the write check before the first batch, not for the CSV.
  leave(1);
  const runRoot = join(dir, "csv-run");
  const result = await fit({ root: runRoot, output });
  assertOneLine(result, new RegExp(`^cellarium: ${literal(output)}: ${ENOSPC}$`));
  assert.equal(readFileSync(output, "utf8"), "previous\n");
  assert.deepEqual(temporaries(mount), []);
  const runDir = join(runRoot, "lightning_logs/version_0");
  assert.ok(existsSync(join(runDir, "checkpoints/epoch=0-step=4.safetensors")), "the checkpoint is kept");
  assert.match(
    readFileSync(join(runDir, "FAILED"), "utf8"),
    new RegExp(`^OutputError: ${literal(output)}: ${ENOSPC}\n$`),
  );
});

test("a full disk while writing predictions (.csv, .h5ad and .zarr): one line; the temporary file or store removed; the previous one intact", {
  skip: !isRoot && NOT_ROOT,
}, async () => {
  for (const format of ["csv", "h5ad", "zarr"] as const) {
    empty();
    const outDir = join(mount, "predictions");
    mkdirSync(outDir);
    const previous = join(outDir, `predictions.${format}`);
    // An AnnData-Zarr store is a directory.
    if (format === "zarr") mkdirSync(previous);
    writeFileSync(format === "zarr" ? join(previous, ".zgroup") : previous, "previous\n");
    leave(1);
    const result = await predict({ root: dir, predictions: { dir: outDir, format } });
    // HDF5 words the reason its own way.
    assertOneLine(
      result,
      new RegExp(`^cellarium: ${literal(previous)}(:| \\(.*\\):) cannot write.*no space left on device`, "i"),
    );
    assert.equal(
      readFileSync(format === "zarr" ? join(previous, ".zgroup") : previous, "utf8"),
      "previous\n",
    );
    assert.deepEqual(readdirSync(outDir), [basename(previous)]);
    if (format === "zarr") assert.deepEqual(readdirSync(previous), [".zgroup"]);
  }
});

test("a full disk while appending metrics: one line naming metrics.csv, which keeps whole rows only", {
  skip: !isRoot && NOT_ROOT,
}, async () => {
  fill(1);
  const runRoot = join(mount, "metrics-run");
  const result = await fit({
    root: runRoot,
    output: join(dir, "unused.csv"),
    batchSize: 2,
    trainer: "  log_every_n_steps: 1\n  enable_checkpointing: false\n",
  });
  const metrics = join(runRoot, "lightning_logs/version_0/metrics.csv");
  assertOneLine(
    result,
    new RegExp(`^cellarium: ${literal(metrics)} \\(trainer\\.default_root_dir\\): ${ENOSPC}$`),
  );
  const text = readFileSync(metrics, "utf8");
  assert.ok(text.endsWith("\n"));
  const rows = text.trimEnd().split("\n");
  assert.ok(rows.length > 2, "rows were written before the disk was full");
  for (const row of rows) assert.equal(row.split(",").length, 8, row);
});

test("inspect --attr --out on a full disk: one line naming the file and --out; no temporary file", {
  skip: !isRoot && NOT_ROOT,
}, async () => {
  const runRoot = join(dir, "inspect-run");
  assert.equal((await fit({ root: runRoot, output: join(dir, "inspect.csv") })).code, 0);
  const checkpoint = join(runRoot, "lightning_logs/version_0/checkpoints/epoch=0-step=4.safetensors");
  fill(0);
  const out = join(mount, "mean.csv");
  const result = await cli(["inspect", checkpoint, "--attr", "model.mean_g", "--out", out]);
  assertOneLine(result, new RegExp(`^cellarium: ${literal(out)} \\(--out\\): ${ENOSPC}$`));
  assert.equal(existsSync(out), false);
  assert.deepEqual(temporaries(mount), []);
});

test("every output directory is checked before the first batch, naming the config key that chose it", async () => {
  const file = join(dir, "a-file");
  writeFileSync(file, "not a directory\n");
  // default_root_dir is a file.
  assertOneLine(
    await fit({ root: file, output: join(dir, "unused.csv") }),
    new RegExp(`^cellarium: ${literal(file)} \\(trainer\\.default_root_dir\\): is not a directory$`),
  );
  // output_path under a file: found before training, so no run directory was made.
  const runRoot = join(dir, "early");
  assertOneLine(
    await fit({ root: runRoot, output: join(file, "stats.csv") }),
    new RegExp(
      `^cellarium: ${literal(file)} \\(model\\.model\\.init_args\\.output_path\\): is not a directory$`,
    ),
  );
  assert.equal(existsSync(join(runRoot, "lightning_logs")), false);
  // --partial_path under a file.
  assertOneLine(
    await fit({ root: runRoot, output: join(dir, "unused.csv") }, [
      "--replica_rank",
      "0",
      "--num_replicas",
      "2",
      "--partial_path",
      join(file, "sub", "part-{rank}.safetensors"),
    ]),
    new RegExp(
      `^cellarium: ${literal(join(file, "sub"))} \\(--partial_path\\): ${literal(file)} is not a directory$`,
    ),
  );
  assert.equal(existsSync(join(runRoot, "lightning_logs")), false);
  // A prediction directory that does not exist is created.
  const created = join(dir, "new", "predictions");
  assert.equal((await predict({ root: dir, predictions: { dir: created, format: "csv" } })).code, 0);
  assert.deepEqual(readdirSync(created), ["predictions.csv"]);
  // So is output_path's.
  const output = join(dir, "new", "stats", "stats.csv");
  assert.equal((await fit({ root: join(dir, "created-run"), output })).code, 0);
  assert.ok(existsSync(output));
});

test("a read-only or full output directory is found before the first batch", {
  skip: !isRoot && NOT_ROOT,
}, async () => {
  fill(0);
  const outDir = join(mount, "predictions");
  const result = await predict({ root: dir, predictions: { dir: outDir, format: "csv" } });
  assertOneLine(
    result,
    new RegExp(
      `^cellarium: ${literal(outDir)} \\(trainer\\.callbacks\\.0\\.init_args\\.output_dir\\): cannot write in the directory: no space left on device \\(ENOSPC\\)$`,
    ),
  );
  fill(4);
  execFileSync("mount", ["-o", "remount,ro", mount]);
  try {
    assertOneLine(
      await fit({ root: mount, output: join(dir, "unused.csv") }),
      new RegExp(
        `^cellarium: ${literal(mount)} \\(trainer\\.default_root_dir\\): cannot write in the directory: read-only file system \\(EROFS\\)$`,
      ),
    );
  } finally {
    execFileSync("mount", ["-o", "remount,rw", mount]);
  }
});

/** `work`, or a failure after `ms` (a read of a FIFO that blocks), unblocking the FIFO's readers. */
async function within<T>(ms: number, fifo: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      // A writer that opens and closes lets a blocked reader see the end of the file.
      try {
        closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
      } catch {
        // No reader waiting.
      }
      reject(new Error(`still waiting after ${ms} ms: the FIFO was opened for reading`));
    }, ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

test("a FIFO as --ckpt_path, --config or a shard is refused at once, in one line naming it", async () => {
  const fifo = join(dir, "pipe");
  execFileSync("mkfifo", [fifo]);
  const runRoot = join(dir, "fifo-run");
  const notRegular = `${literal(fifo)}: .*a FIFO, not a regular file\\)?$`;
  assertOneLine(
    await within(5000, fifo, fit({ root: runRoot, output: join(dir, "unused.csv") }, ["--ckpt_path", fifo])),
    new RegExp(`^cellarium: ${notRegular}`),
  );
  // The failed run left no empty version_0.
  assert.deepEqual(readdirSync(join(runRoot, "lightning_logs")), []);
  assertOneLine(
    await within(5000, fifo, cli(["onepass_mean_var_std", "fit", "--config", fifo])),
    new RegExp(`^cellarium: --config ${notRegular}`),
  );
  assertOneLine(
    await within(5000, fifo, fit({ root: runRoot, output: join(dir, "unused.csv"), shard: fifo })),
    new RegExp(`^cellarium: ${notRegular}`),
  );
});

test("stale temporary files and store directories are told from live ones by their name: process, host and age", async () => {
  const sweep = tempDir("fs-sweep-");
  const made = temporarySibling(join(sweep, "out.csv"));
  assert.deepEqual(temporaryOwner(basename(made)), {
    target: "out.csv",
    pid: process.pid,
    host: hostname().replace(/[^A-Za-z0-9.-]/g, "_"),
  });
  const host = basename(made).replace(/^.*@(.*)\.tmp$/, "$1");
  const deadPid = spawnSync("true").pid!;
  const names = {
    dead: `.a.csv.000000000001.${deadPid}@${host}.tmp`,
    live: `.b.csv.000000000002.${process.ppid}@${host}.tmp`,
    liveButOld: `.c.csv.000000000003.${process.ppid}@${host}.tmp`,
    otherHost: `.d.csv.000000000004.${deadPid}@elsewhere.tmp`,
    otherHostOld: `.e.csv.000000000005.${deadPid}@elsewhere.tmp`,
    notOurs: ".f.csv.tmp",
    // AnnData-Zarr stores are written as directories.
    deadStore: `.g.zarr.000000000006.${deadPid}@${host}.tmp`,
    liveStore: `.h.zarr.000000000007.${process.ppid}@${host}.tmp`,
  };
  for (const name of Object.values(names)) {
    if (!name.includes(".zarr.")) writeFileSync(join(sweep, name), "x");
    else {
      mkdirSync(join(sweep, name, "obs"), { recursive: true });
      writeFileSync(join(sweep, name, "obs", ".zgroup"), "{}");
    }
  }
  const old = new Date(Date.now() - 7 * 3600 * 1000);
  for (const name of [names.liveButOld, names.otherHostOld]) utimesSync(join(sweep, name), old, old);
  const removed = await sweepTemporaries(sweep);
  assert.deepEqual(
    removed.map((path) => basename(path)).sort(),
    [names.dead, names.liveButOld, names.otherHostOld, names.deadStore].sort(),
  );
  assert.deepEqual(
    readdirSync(sweep).sort(),
    [names.notOurs, names.live, names.otherHost, names.liveStore].sort(),
  );
});

/**
 * Runs the command line in a child process that freezes while writing the output named `stallAt`
 * (tests/helpers/stall-entry.mjs), and kills it with SIGKILL there.
 */
function killWhileWriting(args: string[], stallAt: string, skip = 0): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(root, "tests/helpers/stall-entry.mjs"), ...args], {
      cwd: root,
      env: {
        PATH: process.env.PATH ?? "",
        CELLARIUM_TEST_STALL: stallAt,
        CELLARIUM_TEST_STALL_SKIP: String(skip),
      },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    let killed = false;
    child.stderr.on("data", (chunk) => {
      stderr += chunk;
      if (!killed && stderr.includes("stalled ")) {
        killed = true;
        child.kill("SIGKILL");
      }
    });
    child.on("error", reject);
    child.on("close", (_, signal) => {
      if (signal === "SIGKILL") resolve();
      else reject(new Error(`the run ended without writing ${stallAt}: ${stderr}`));
    });
  });
}

interface KilledRuns {
  readonly fitRoot: string;
  readonly fitConfig: ConfigOptions;
  readonly outDir: string;
  readonly predictConfig: ConfigOptions;
}

/** The runs killed in the middle of a write: started by `before`, so that they start up while the other tests run. */
let killedRuns: Promise<KilledRuns> | null = null;

async function startKilledRuns(): Promise<KilledRuns> {
  const fitRoot = join(dir, "killed-fit");
  const fitConfig: ConfigOptions = {
    root: fitRoot,
    output: join(dir, "killed.csv"),
    trainer: `  callbacks:
    - class_path: lightning.pytorch.callbacks.ModelCheckpoint
      init_args: {every_n_train_steps: 1, save_top_k: 1, save_last: true}
`,
  };
  const outDir = join(dir, "killed-predictions");
  mkdirSync(outDir);
  writeFileSync(join(outDir, "predictions.csv"), "previous\n");
  const predictConfig: ConfigOptions = { root: dir, predictions: { dir: outDir, format: "csv" } };
  await Promise.all([
    // Killed while last.safetensors is made for the second time (step 2).
    killWhileWriting(
      ["onepass_mean_var_std", "fit", "--config", writeConfig(fitConfig)],
      "last.safetensors",
      1,
    ),
    killWhileWriting(
      ["incremental_pca", "predict", "--config", writeConfig(predictConfig)],
      "predictions.csv",
    ),
  ]);
  return { fitRoot, fitConfig, outDir, predictConfig };
}

test("kill -9 while a checkpoint, last.safetensors or predictions are written: no partial file under their names; the next run removes the temporary files", async () => {
  const { fitRoot, fitConfig, outDir, predictConfig } = await killedRuns!;

  const checkpoints = join(fitRoot, "lightning_logs/version_0/checkpoints");
  assert.ok(temporaries(checkpoints).length > 0, "the killed run left its temporary file");
  const visible = readdirSync(checkpoints).filter((name) => temporaryOwner(name) === null);
  assert.ok(visible.includes("last.safetensors"));
  for (const name of visible) await loadCheckpoint(join(checkpoints, name)); // each one whole
  assert.equal((await loadCheckpoint(join(checkpoints, "last.safetensors"))).position.globalStep, 1);
  assert.ok(temporaries(outDir).length > 0, "the killed run left its temporary file");
  assert.equal(readFileSync(join(outDir, "predictions.csv"), "utf8"), "previous\n");

  // The next runs in those directories remove them.
  assert.equal((await fit(fitConfig)).code, 0);
  assert.deepEqual(temporaries(checkpoints), []);
  assert.equal((await predict(predictConfig)).code, 0);
  assert.deepEqual(readdirSync(outDir), ["predictions.csv"]);
  assert.match(readFileSync(join(outDir, "predictions.csv"), "utf8"), /^obs_names_n,/);
});
