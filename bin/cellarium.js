#!/usr/bin/env node
// A run (`cellarium <model> fit|validate|predict`) starts one read-ahead worker before the command
// line's own modules load (~0.15 s): the worker's start-up (its modules, h5wasm, opening the data)
// is the longest path to the first batch. main() tops it up or stops it once the config is read.
const [, stage] = process.argv.slice(2);
const quick = ["--help", "-h", "--print_config"];
if (["fit", "validate", "predict"].includes(stage) && !process.argv.some((arg) => quick.includes(arg))) {
  (await import("../dist/data/prestarted-workers.js")).prestartReadAheadWorkers(1);
}
const { main } = await import("../dist/cli/main.js");

process.exitCode = await main(process.argv.slice(2));
