#!/bin/sh
':' //; exec env GLIBC_TUNABLES="${GLIBC_TUNABLES:+$GLIBC_TUNABLES:}glibc.malloc.hugetlb=1" node "$0" "$@"
// The two lines above are read by /bin/sh, which replaces itself (same process) by node running this
// file with glibc's malloc asked for transparent huge pages (glibc >= 2.35; ignored elsewhere);
// node skips the first line and reads the second as a string and a comment. A fresh multi-megabyte
// typed array then costs one page fault per 2 MiB instead of one per 4 KiB: on the benchmark VM a
// first touch costs ~3.2 ms per MB with small pages and ~0.1 ms with huge ones (the read-ahead
// buffers of the first batches, IncrementalPCA's products; bench/RESULTS.md). Run as
// `node bin/cellarium.js`, the preamble is skipped; GLIBC_TUNABLES=glibc.malloc.hugetlb=1 in the
// environment does the same.
// A run (`cellarium <model> fit|validate|predict`) starts one read-ahead worker before the command
// line's own modules load (~0.15 s): the worker's start-up (its modules, opening the data)
// is the longest path to the first batch. main() tops it up or stops it once the config is read.
const [, stage] = process.argv.slice(2);
const quick = ["--help", "-h", "--print_config"];
if (["fit", "validate", "predict"].includes(stage) && !process.argv.some((arg) => quick.includes(arg))) {
  (await import("../dist/data/prestarted-workers.js")).prestartReadAheadWorkers(1);
}
const { main } = await import("../dist/cli/main.js");

process.exitCode = await main(process.argv.slice(2));
