// The command line run in this process, as a user runs it, with what it prints to stderr captured:
// for the tests that check exit codes and one-line errors.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { main } from "../../src/cli/main.js";
import { CLI, root } from "./cli-command.js";

export interface CliResult {
  readonly code: number;
  readonly stderr: string;
}

/** Runs `cellarium <args>`; its exit code and its stderr. */
export async function cli(args: string[]): Promise<CliResult> {
  const chunks: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((chunk: string) => {
    chunks.push(String(chunk));
    return true;
  }) as typeof process.stderr.write;
  try {
    const code = await main(args);
    return { code, stderr: chunks.join("") };
  } finally {
    process.stderr.write = write;
  }
}

/** Asserts a bad-input failure: exit code 2 and exactly one line on stderr, matching `pattern`. */
export function assertOneLine(result: CliResult, pattern: RegExp): void {
  assert.equal(result.code, 2, result.stderr);
  const lines = result.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, result.stderr);
  assert.match(lines[0]!, pattern);
}

/**
 * What `cellarium <args>` prints to stdout, run as a child process: a test file's own stdout
 * carries the test runner's reports, so it cannot be captured in the test's process.
 */
export function cliStdout(args: string[]): string {
  const result = spawnSync(CLI[0]!, [...CLI.slice(1), ...args], {
    encoding: "utf8",
    cwd: root,
  });
  assert.equal(result.status, 0, result.stderr);
  return result.stdout;
}
