#!/usr/bin/env node
// Builds the OpenBLAS/LAPACK addon in src/native with node-gyp (bundled with npm), and, where an MPI
// is installed (its compiler wrapper mpicc answers), the MPI addon in src/native/mpi.
// Without OpenBLAS the build fails and the TypeScript kernels are used instead; without MPI, runs
// under an MPI launcher are refused. So a failed build only warns, unless
// CELLARIUM_REQUIRE_NATIVE=1 (CI), where either missing is an error.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";

const dir = new URL("../src/native", import.meta.url).pathname;
const required = process.env.CELLARIUM_REQUIRE_NATIVE === "1";
if (!existsSync(`${dir}/binding.gyp`)) process.exit(0);

// npm names its bundled node-gyp in npm_config_node_gyp; run directly, look for it next to node.
const prefix = dirname(dirname(process.execPath));
const bundledGyp = join(prefix, "lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js");
const gyp = process.env.npm_config_node_gyp || (existsSync(bundledGyp) ? bundledGyp : undefined);
const [cmd, args] = gyp ? [process.execPath, [gyp]] : ["node-gyp", []];
// Node installed with its headers (Debian, NodeSource, the official tarballs) needs no header download,
// which matters on machines without access to nodejs.org.
const nodedir = existsSync(join(prefix, "include/node/node_api.h")) ? [`--nodedir=${prefix}`] : [];
function build(directory, message) {
  const result = spawnSync(cmd, [...args, "rebuild", ...nodedir, "--directory", directory], {
    stdio: "inherit",
  });
  if (result.status === 0) return;
  if (required) {
    console.error(`${message}. CELLARIUM_REQUIRE_NATIVE=1, so this is an error.`);
    process.exit(1);
  }
  console.warn(`${message}.`);
}

build(
  dir,
  "cellarium-ts: the native OpenBLAS addon did not build (install libopenblas-dev and a C compiler); " +
    "falling back to the slower TypeScript kernels",
);
const mpiMessage =
  "cellarium-ts: the MPI addon did not build (install libopenmpi-dev); fits under mpirun/srun are refused";
if (spawnSync("mpicc", ["--showme:version"], { stdio: "ignore" }).status === 0)
  build(join(dir, "mpi"), mpiMessage);
else if (required) {
  console.error(`${mpiMessage}: mpicc not found. CELLARIUM_REQUIRE_NATIVE=1, so this is an error.`);
  process.exit(1);
}
