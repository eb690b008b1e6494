#!/usr/bin/env node
// Runs every tests/**/*.test.ts file with Node's own test runner, TypeScript loaded through tsx.
// Node 20's --test does not expand globs, so the files are listed here. Extra arguments are
// substrings that select test files, e.g. `npm run test:only -- tensor/`.
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join, relative } from "node:path";

const root = new URL("..", import.meta.url).pathname;

function* walk(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(path);
    else if (entry.name.endsWith(".test.ts")) yield path;
  }
}

const filters = process.argv.slice(2);
const files = [...walk(join(root, "tests"))]
  .map((path) => relative(root, path))
  .filter((path) => filters.length === 0 || filters.some((f) => path.includes(f)))
  .sort();
if (files.length === 0) {
  console.error(`no test files match ${filters.join(" ") || "tests/**/*.test.ts"}`);
  process.exit(1);
}
const result = spawnSync(
  process.execPath,
  ["--import", "tsx", "--test", "--test-concurrency=2", "--test-reporter=spec", ...files],
  // fits write no report.html unless a test asks (tests/cli/report.test.ts checks the default)
  {
    cwd: root,
    stdio: "inherit",
    env: { ...process.env, CELLARIUM_REPORT: process.env.CELLARIUM_REPORT ?? "0" },
  },
);
process.exit(result.status ?? 1);
