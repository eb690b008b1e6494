// Runs a Python script with the system interpreter (numpy and torch installed from Debian), passing
// `input` as JSON on stdin and parsing the JSON the script prints on stdout. References computed by
// numpy/torch, never by our own code.

import { spawnSync } from "node:child_process";

export function runPython(script: string, input: unknown = null, args: string[] = []): unknown {
  const result = spawnSync("/usr/bin/python3", ["-c", script, ...args], {
    input: JSON.stringify(input),
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.status !== 0) throw new Error(`python3 failed (${result.status}): ${result.stderr}`);
  return JSON.parse(result.stdout);
}
