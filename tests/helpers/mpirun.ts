// mpirun for tests: N ranks on this machine (--oversubscribe: more ranks than cores), as root too
// (Open MPI refuses root unless told). Resolves to the exit code, stdout, stderr and seconds.

import { spawn } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";

export const root = new URL("../..", import.meta.url).pathname;

export interface MpiRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly seconds: number;
}

/**
 * `mpirun -np N <program...>`, where `ranks` is one count, or several [count, args] groups
 * (mpirun's MPMD form `-np 1 a : -np 1 b`). `onStart` gets the child, e.g. to kill a rank.
 */
export function mpirun(
  ranks: number | [number, string[]][],
  program: string[],
  env: Record<string, string> = {},
  onStart?: (pid: number) => void,
): Promise<MpiRun> {
  const groups = typeof ranks === "number" ? [[ranks, []] as [number, string[]]] : ranks;
  const args = ["--oversubscribe"];
  groups.forEach(([count, extra], i) => {
    if (i > 0) args.push(":");
    args.push("-np", String(count), ...program, ...extra);
  });
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn("mpirun", args, {
      cwd: root,
      env: { ...process.env, OMPI_ALLOW_RUN_AS_ROOT: "1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: "1", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.stderr.on("data", (chunk) => (stderr += chunk));
    child.on("error", (error) =>
      reject(new Error(`mpirun did not start (install openmpi-bin): ${error.message}`)),
    );
    child.on("spawn", () => onStart?.(child.pid!));
    child.on("close", (code, signal) =>
      resolve({
        code: code ?? (signal ? 128 : -1),
        stdout,
        stderr,
        seconds: (performance.now() - started) / 1000,
      }),
    );
  });
}

function* files(dir: string, suffix: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* files(path, suffix);
    else if (entry.name.endsWith(suffix)) yield path;
  }
}

/**
 * The command line each rank runs: the compiled one (bin/cellarium.js, which `npm ci` and
 * `npm run build` make) when every source file's compiled file is newer than it, else the sources
 * under tsx, whose loader takes seconds per process to load the trainer's modules (times N ranks
 * per run). Either way the ranks run the code as it is now.
 */
function cliCommand(): string[] {
  const sources = join(root, "src");
  // Declaration files (.d.ts) compile to nothing.
  const compiled = [...files(sources, ".ts")].filter((source) => !source.endsWith(".d.ts"));
  const compiledIsCurrent = compiled.every((source) => {
    const output = join(root, "dist", relative(sources, source).replace(/\.ts$/, ".js"));
    return existsSync(output) && statSync(output).mtimeMs >= statSync(source).mtimeMs;
  });
  return compiledIsCurrent
    ? [process.execPath, "bin/cellarium.js"]
    : [process.execPath, "--import", "tsx", "tests/helpers/cli-entry.ts"];
}

export const CLI = cliCommand();
