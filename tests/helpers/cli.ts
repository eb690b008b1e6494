// The command line run in this process, for tests of what it prints: the exit code and stderr.

import { main } from "../../src/cli/main.js";

/** Runs the command line in this process; its exit code and what it wrote to stderr. */
export async function cli(args: string[]): Promise<{ code: number; stderr: string }> {
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
