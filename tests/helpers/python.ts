// Runs a Python script with the system interpreter (numpy and torch installed from Debian), passing
// `input` as JSON on stdin and parsing the JSON the script prints on stdout. References computed by
// numpy/torch, never by our own code.

import { spawnSync } from "node:child_process";

// The outputs of the scripts run so far, by script, arguments and input: a test run once per kernel
// backend (tests/helpers/backends.ts) starts Python once, not twice, for the same reference.
const outputs = new Map<string, string>();

export function runPython(script: string, input: unknown = null, args: string[] = []): unknown {
  const stdin = JSON.stringify(input);
  const key = JSON.stringify([script, args, stdin]);
  let output = outputs.get(key);
  if (output === undefined) {
    const result = spawnSync("/usr/bin/python3", ["-c", script, ...args], {
      input: stdin,
      encoding: "utf8",
      maxBuffer: 64 * 1024 * 1024,
    });
    if (result.status !== 0) throw new Error(`python3 failed (${result.status}): ${result.stderr}`);
    output = result.stdout;
    outputs.set(key, output);
  }
  return JSON.parse(output);
}
