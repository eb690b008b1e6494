// The command line as a child process runs it in tests: the compiled one when it is current (it
// starts in a fraction of a second), else the sources under tsx.

import { existsSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";

export const root = new URL("../..", import.meta.url).pathname;

function* files(dir: string, suffix: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* files(path, suffix);
    else if (entry.name.endsWith(suffix)) yield path;
  }
}

/**
 * Whether dist/ (which `npm ci` and `npm run build` make) holds the code as it is now: every source
 * file's compiled file is newer than it. Child processes then run the compiled code; else the
 * sources under tsx, whose loader takes seconds per process to load the trainer's modules (times
 * N ranks per run, and for every test that spawns one).
 */
export function compiledIsCurrent(): boolean {
  const sources = join(root, "src");
  // Declaration files (.d.ts) compile to nothing.
  const compiled = [...files(sources, ".ts")].filter((source) => !source.endsWith(".d.ts"));
  return compiled.every((source) => {
    const output = join(root, "dist", relative(sources, source).replace(/\.ts$/, ".js"));
    return existsSync(output) && statSync(output).mtimeMs >= statSync(source).mtimeMs;
  });
}

/** The command line a child process runs: bin/cellarium.js when compiledIsCurrent, else the sources under tsx. */
export const CLI = compiledIsCurrent()
  ? [process.execPath, "bin/cellarium.js"]
  : [process.execPath, "--import", "tsx", "tests/helpers/cli-entry.ts"];
