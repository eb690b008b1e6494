// Data parallelism through the command line (compiled code: `npm run build` first) on the benchmark
// file, batches of 1,000 through NormalizeTotal + Log1p: each streaming model with trainer.devices
// 1 and 2 (replicas in worker threads), cells/s of the fit loop and the speed-up of 2 over 1; then
// the same fit split into 4 processes (`fit --replica_rank R --num_replicas 4`, run at once) and
// `cellarium merge`, wall time from the first start to the merged output. Each fit is its own
// process. incremental_pca is included when the registry has it. Prints a markdown table.
// Data: /usr/bin/python3 scripts/make-bench-data.py [5000]
// Usage: node --import tsx bench/parallel.ts [--quick]

import { spawn, spawnSync } from "node:child_process";
import { join } from "node:path";
import { modelByCommand } from "../src/cli/registry.js";
import { benchmarkFile, root, scratchDir, writeFitConfig } from "./lib/cli-bench.js";

const quick = process.argv.includes("--quick");
const file = benchmarkFile(quick);
const cli = join(root, "bin/cellarium.js");
const dir = scratchDir("bench-parallel-");

const MODELS = [
  {
    command: "onepass_mean_var_std",
    className: "OnePassMeanVarStd",
    init: "{algorithm: shifted_data, output_path: null}",
  },
  { command: "tdigest", className: "TDigest", init: "{}" },
  { command: "incremental_pca", className: "IncrementalPCA", init: "{n_components: 50}" },
].filter((m) => modelByCommand(m.command) !== undefined);

function writeConfig(model: (typeof MODELS)[number], name: string): string {
  return writeFitConfig(join(dir, `${name}.yaml`), {
    file,
    rootDir: join(dir, name),
    model: model.className,
    init: model.init,
    workers: 0,
    logEveryNSteps: 1000,
  });
}

/** cells/s of the fit loop, from the command's `fit:` line. */
function fitRate(args: string[]): { cells: number; seconds: number } {
  const result = spawnSync(cli, args, { encoding: "utf8", maxBuffer: 1 << 26 });
  if (result.status !== 0) throw new Error(`cellarium ${args.join(" ")} failed:\n${result.stderr}`);
  const fit = /fit: (\d+) cells in ([\d.]+) s/.exec(result.stdout);
  if (!fit) throw new Error(`no fit line in\n${result.stdout}`);
  return { cells: Number(fit[1]), seconds: Number(fit[2]) };
}

function runAsync(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cli, args, { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (chunk) => (stderr += chunk));
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0 ? resolve() : reject(new Error(`cellarium ${args.join(" ")} failed:\n${stderr}`)),
    );
  });
}

console.log(
  `${quick ? "5,000" : "100,000"} cells x 20,000 genes (CSR, ~7% non-zero), batches of 1,000, NormalizeTotal + Log1p\n`,
);
console.log("| model | devices: 1 cells/s | devices: 2 cells/s | speed-up | 4 processes + merge, wall s |");
console.log("|---|---:|---:|---:|---:|");
for (const model of MODELS) {
  const rate = (devices: number) => {
    const config = writeConfig(model, `${model.command}-${devices}`);
    const { cells, seconds } = fitRate([
      model.command,
      "fit",
      "--config",
      config,
      "--trainer.devices",
      String(devices),
    ]);
    return cells / seconds;
  };
  const one = rate(1);
  const two = rate(2);
  const config = writeConfig(model, `${model.command}-parts`);
  const start = performance.now();
  await Promise.all(
    [0, 1, 2, 3].map((rank) =>
      runAsync([
        model.command,
        "fit",
        "--config",
        config,
        "--replica_rank",
        String(rank),
        "--num_replicas",
        "4",
      ]),
    ),
  );
  const parts = [0, 1, 2, 3].map((rank) =>
    join(dir, `${model.command}-parts`, `part-${rank}-of-4.safetensors`),
  );
  await runAsync(["merge", "--out", join(dir, `${model.command}-merged.safetensors`), ...parts]);
  const wall = (performance.now() - start) / 1000;
  console.log(
    `| ${model.command} | ${Math.round(one)} | ${Math.round(two)} | ${(two / one).toFixed(2)} | ${wall.toFixed(1)} |`,
  );
}
