#!/usr/bin/env node
// Builds the OpenBLAS/LAPACK addon in src/native with node-gyp (bundled with npm).
// Without OpenBLAS the build fails and the TypeScript kernels are used instead, so a failed build
// only warns, unless CELLARIUM_REQUIRE_NATIVE=1 (CI), where it is an error.
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
const result = spawnSync(cmd, [...args, "rebuild", ...nodedir, "--directory", dir], { stdio: "inherit" });
if (result.status !== 0) {
  const message =
    "cellarium-ts: the native OpenBLAS addon did not build (install libopenblas-dev and a C compiler); " +
    "falling back to the slower TypeScript kernels";
  if (required) {
    console.error(`${message}. CELLARIUM_REQUIRE_NATIVE=1, so this is an error.`);
    process.exit(1);
  }
  console.warn(`${message}.`);
}
