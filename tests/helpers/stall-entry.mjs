// The command line from sources, frozen in the middle of writing one output, for tests that kill it
// there (kill -9) and look at what it left:
//   CELLARIUM_TEST_STALL=<file name> node tests/helpers/stall-entry.mjs <args>
// The process freezes (its main thread blocks for good) at the write of the output named
// <file name>, skipping the first CELLARIUM_TEST_STALL_SKIP of them (default 0): after writing half
// the bytes of a whole-file write or copy, after the first chunk of a stream, or just before the
// rename that would give a temporary file that name. It then prints `stalled <path>` on stderr.
//
// Plain JavaScript that loads h5wasm before registering tsx: through tsx's loader h5wasm's 4 MB
// module takes seconds to load (tsx rewrites its dynamic imports with a source map), and an ES
// module is loaded once, so the sources' own import of it then finds it loaded.

import fs from "node:fs";
import { syncBuiltinESMExports } from "node:module";
import { basename } from "node:path";

const target = process.env.CELLARIUM_TEST_STALL ?? "";
let skip = Number(process.env.CELLARIUM_TEST_STALL_SKIP ?? "0");

/** The output a path is written for: itself, or what its temporary name (`.<name>.<12 hex>.…`) stands for. */
function outputName(path) {
  const name = basename(String(path));
  return /^\.(.+?)\.[0-9a-f]{12}\./.exec(name)?.[1] ?? name;
}

function stallsAt(path) {
  if (target === "" || outputName(path) !== target) return false;
  return skip-- <= 0;
}

function freeze(path) {
  fs.writeSync(2, `stalled ${String(path)}\n`);
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
}

function half(data) {
  const bytes = typeof data === "string" ? Buffer.from(data) : data;
  return bytes.subarray(0, Math.floor(bytes.length / 2));
}

const promises = fs.promises;
const { writeFile, copyFile, rename } = promises;
promises.writeFile = async (path, data, ...rest) => {
  if (stallsAt(path)) {
    fs.writeFileSync(path, half(data));
    freeze(path);
  }
  return writeFile(path, data, ...rest);
};
promises.copyFile = async (source, path, mode) => {
  if (stallsAt(path)) {
    fs.writeFileSync(path, half(fs.readFileSync(source)));
    freeze(path);
  }
  return copyFile(source, path, mode);
};
promises.rename = async (from, to) => {
  if (stallsAt(to)) freeze(to);
  return rename(from, to);
};
const { createWriteStream } = fs;
fs.createWriteStream = (path, options) => {
  const stream = createWriteStream(path, options);
  if (stallsAt(path)) {
    const write = stream.write.bind(stream);
    // The first chunk reaches the file, then the process freezes.
    stream.write = (chunk) => write(chunk, () => freeze(path));
  }
  return stream;
};
syncBuiltinESMExports();

await import("h5wasm/node");
await import("h5wasm-plugins");
const { register } = await import("tsx/esm/api");
register();
const { main } = await import("../../src/cli/main.ts");
process.exitCode = await main(process.argv.slice(2));
