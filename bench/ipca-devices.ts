// IncrementalPCA through the command line with trainer.devices 1, 2, 4 (replicas in worker threads
// merged pairwise at the end of the epoch) against the exact PCA of the same matrix
// (bench/ipca_devices_exact.py, numpy float64): the largest relative error of S_k over all k
// components and over the top J (the leading components set apart from the rest by a 15% eigenvalue
// gap), and the largest principal angle between the top-J subspaces (and of the first component).
// Runs the onepass example first when its CSV (the ZScore statistics) is missing.
// Usage: node --import tsx bench/ipca-devices.ts [devices=1,2,4] [config=examples/cli_workflow/ipca_train_config.yaml]
//   [more CLI overrides, e.g. --data.batch_size 50]

import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadCheckpoint } from "../src/train/checkpoint.js";

const [devicesArg = "1,2,4", config = "examples/cli_workflow/ipca_train_config.yaml", ...overrides] =
  process.argv.slice(2);
const entry = fileURLToPath(new URL("../tests/helpers/cli-entry.ts", import.meta.url));
const cli = (args: string[]) =>
  execFileSync(process.execPath, ["--import", "tsx", entry, ...args], { encoding: "utf8", stdio: "pipe" });

const csv = "runs/onepass/onepass.csv";
if (!existsSync(csv)) {
  cli(["onepass_mean_var_std", "fit", "--config", "examples/cli_workflow/onepass_train_config.yaml"]);
}
const work = mkdtempSync(join(tmpdir(), "ipca-devices-"));
const runs: { devices: number; seconds: number; S_k: string; V_kg: string }[] = [];
let k = 0;
for (const devices of devicesArg.split(",").map(Number)) {
  const root = join(work, `devices-${devices}`);
  const start = performance.now();
  cli([
    "incremental_pca",
    "fit",
    "--config",
    config,
    "--trainer.devices",
    String(devices),
    "--trainer.default_root_dir",
    root,
    ...overrides,
  ]);
  const seconds = (performance.now() - start) / 1000;
  const dir = join(root, "lightning_logs", "version_0", "checkpoints");
  const checkpoint = await loadCheckpoint(join(dir, readdirSync(dir).sort().at(-1)!));
  const S_k = join(work, `S_${devices}.f64`);
  const V_kg = join(work, `V_${devices}.f64`);
  writeFileSync(S_k, checkpoint.modelState.S_k!.data);
  writeFileSync(V_kg, checkpoint.modelState.V_kg!.data);
  k = checkpoint.modelState.S_k!.shape[0]!;
  runs.push({ devices, seconds, S_k, V_kg });
}
const files = ["examples/data/demo_0.h5ad", "examples/data/demo_1.h5ad"];
const helper = fileURLToPath(new URL("./ipca_devices_exact.py", import.meta.url));
const result = JSON.parse(
  execFileSync("/usr/bin/python3", [helper], {
    input: JSON.stringify({ files, csv, k, runs }),
    encoding: "utf8",
    stdio: ["pipe", "pipe", "inherit"],
  }),
) as {
  n: number;
  g: number;
  J: number;
  S: number[];
  S_k_last: number;
  runs: {
    max_S_error: number;
    max_S_error_top_J: number;
    max_angle_top_J: number;
    max_angle_top_1: number;
  }[];
};
rmSync(work, { recursive: true, force: true });
const J = result.J;
console.log(`${files.join(", ")}: ${result.n} cells x ${result.g} genes, k = ${k}; J = ${J}`);
console.log(
  `exact S 1..12: ${result.S.map((v) => v.toFixed(1)).join(" ")} ... S_${k} ${result.S_k_last.toFixed(1)}`,
);
console.log(
  `| devices | max S_k error (all ${k}) | max S_k error (top ${J}) | max angle (top ${J}) | angle (PC1) | fit s |`,
);
console.log("| ------: | ---: | ---: | ---: | ---: | ---: |");
// Percentages and degrees to 2 decimals, or to 2 significant digits below 0.01.
const fixed = (value: number) => (value >= 0.01 || value === 0 ? value.toFixed(2) : value.toExponential(1));
for (const [i, run] of runs.entries()) {
  const r = result.runs[i]!;
  console.log(
    `| ${run.devices} | ${fixed(100 * r.max_S_error)}% | ${fixed(100 * r.max_S_error_top_J)}% | ${fixed(r.max_angle_top_J)}° | ${fixed(r.max_angle_top_1)}° | ${run.seconds.toFixed(1)} |`,
  );
}
