// mpirun for tests: N ranks on this machine (--oversubscribe: more ranks than cores), as root too
// (Open MPI refuses root unless told). Resolves to the exit code, stdout, stderr and seconds.

import { spawn } from "node:child_process";
import { root } from "./cli-command.js";

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
