// MPI, for data parallelism across processes and machines (SPEC.md section 7): which world an MPI
// launcher (mpirun, Slurm's srun, the Kubeflow MPI Operator) started this process in, and the
// optional addon src/native/mpi (built only where an MPI is installed) that talks to the others.
//
// Collectives run with a deadline (CELLARIUM_MPI_TIMEOUT seconds): a rank that never arrives ends
// the wait with an error instead of a hang. An MPI job cannot recover a rank, so the command line
// answers any error under MPI by printing it with its rank and aborting the whole job (main.ts).

import { existsSync } from "node:fs";
import { constants } from "node:os";
import { ConfigError } from "../errors.js";
import type { Env } from "./partial.js";

/** Where the launcher's environment says this process stands. */
export interface LaunchedWorld {
  readonly rank: number;
  readonly size: number;
  /** The variables read, for messages. */
  readonly source: string;
}

/** The addon's functions (src/native/mpi/cellarium_mpi.c). */
interface MpiAddon {
  init(): { rank: number; size: number; localSize: number; threadLevel: string };
  allreduceSum(buffer: Float32Array | Float64Array | Int32Array, timeoutSeconds: number): void;
  bcast(
    buffer: Float32Array | Float64Array | Int32Array | Uint8Array,
    root: number,
    timeoutSeconds: number,
  ): void;
  barrier(timeoutSeconds: number): void;
  send(bytes: Uint8Array, dest: number, tag: number, timeoutSeconds: number): void;
  recv(source: number, tag: number, timeoutSeconds: number): Uint8Array;
  abort(code: number): never;
  finalize(): void;
  version(): string;
}

/**
 * Elements per MPI call (4 MiB of float64): large buffers go in parts. MPI's collectives allocate
 * temporary buffers of the message's size; up to glibc's mmap ceiling (32 MiB) freed ones are
 * reused, beyond it every call maps fresh pages, whose first touch dominated: 10 M float64 took
 * 340 ms in one call and 30 ms in parts of 2^19 (bench/RESULTS.md, "MPI").
 */
export const MPI_BUCKET = 1 << 19;

/** CELLARIUM_MPI_TIMEOUT's default: long enough for rank 0's validation pass, which the others wait for. */
const DEFAULT_TIMEOUT_SECONDS = 1800;

/** An initialized MPI world. */
export class MpiWorld {
  constructor(
    private readonly addon: MpiAddon,
    readonly rank: number,
    readonly size: number,
    /** The ranks on this machine (this one included), which share its cores. */
    readonly localSize: number,
    readonly library: string,
    /** Seconds a collective may wait for the other ranks; 0: no limit. */
    readonly timeoutSeconds: number,
  ) {}

  /** The element-wise sum over the ranks, in place (in parts of MPI_BUCKET elements). */
  allreduceSum(buffer: Float32Array | Float64Array | Int32Array): void {
    for (let start = 0; start < buffer.length; start += MPI_BUCKET) {
      this.addon.allreduceSum(buffer.subarray(start, start + MPI_BUCKET), this.timeoutSeconds);
    }
  }

  /** `root`'s buffer into every rank's, in place. */
  bcast(buffer: Float32Array | Float64Array | Int32Array | Uint8Array, root = 0): void {
    for (let start = 0; start < buffer.length; start += MPI_BUCKET) {
      this.addon.bcast(buffer.subarray(start, start + MPI_BUCKET), root, this.timeoutSeconds);
    }
  }

  /** Bytes of any length from `root` to every rank: their length first, then the bytes. */
  bcastBytes(bytes: Uint8Array | null, root = 0): Uint8Array {
    const length = new Float64Array([this.rank === root ? bytes!.length : 0]);
    this.bcast(length, root);
    const out = this.rank === root ? bytes! : new Uint8Array(length[0]!);
    this.bcast(out, root);
    return out;
  }

  /**
   * Throws at every rank whose `text` differs from rank 0's. Ranks that disagree on what they run
   * would call different collectives, which MPI does not detect (it may even corrupt memory), so a
   * fit checks its config and parameters before the first one.
   */
  agree(what: string, text: string): void {
    const encoded = new TextEncoder().encode(text);
    const root = new TextDecoder().decode(this.bcastBytes(this.rank === 0 ? encoded : null, 0));
    if (root !== text)
      throw new ConfigError(`MPI rank ${this.rank}'s ${what} differs from rank 0's (${text} vs ${root})`, {
        value: text,
      });
  }

  /** Waits until every process of the world reaches it (MPI_Barrier), or fails after the world's timeout. */
  barrier(): void {
    this.addon.barrier(this.timeoutSeconds);
  }

  /** A message to one rank (at most 2 GiB: MPI counts are C ints). */
  send(bytes: Uint8Array, dest: number, tag: number): void {
    this.addon.send(bytes, dest, tag, this.timeoutSeconds);
  }

  /** The next message from `source` with `tag`, sized as MPI reports it. */
  recv(source: number, tag: number): Uint8Array {
    return this.addon.recv(source, tag, this.timeoutSeconds);
  }

  /** Ends every rank of the job with `code`; does not return. */
  abort(code: number): never {
    return this.addon.abort(code);
  }

  /** Ends MPI in this process (MPI_Finalize); call it once, after the last collective. */
  finalize(): void {
    this.addon.finalize();
  }
}

function integerVariable(env: Env, name: string): number | undefined {
  const text = env[name];
  if (text === undefined || text === "") return undefined;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 0)
    throw new ConfigError(`environment ${name}: expected a non-negative integer, got "${text}"`, {
      key: name,
      value: text,
    });
  return value;
}

/**
 * The world an MPI launcher started this process in, from its environment, or null when none did
 * (or it started one process). Read, first found first: Open MPI's mpirun (OMPI_COMM_WORLD_SIZE /
 * _RANK); MPICH, Intel MPI and Slurm's PMI-2 (PMI_SIZE / PMI_RANK); Slurm's srun with PMIx
 * (SLURM_STEP_NUM_TASKS / PMIX_RANK). CELLARIUM_MPI=0 ignores them all. An srun step of several
 * tasks without MPI's variables is refused (ConfigError).
 */
export function launchedWorld(env: Env): LaunchedWorld | null {
  if (env["CELLARIUM_MPI"] === "0") return null;
  const pairs: [size: string, rank: string][] = [
    ["OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK"],
    ["PMI_SIZE", "PMI_RANK"],
    ["SLURM_STEP_NUM_TASKS", "PMIX_RANK"],
  ];
  for (const [sizeName, rankName] of pairs) {
    const size = integerVariable(env, sizeName);
    const rank = integerVariable(env, rankName);
    if (size === undefined || rank === undefined) continue;
    if (rank >= size)
      throw new ConfigError(`environment ${rankName}=${rank} is not below ${sizeName}=${size}`, {
        key: rankName,
        value: rank,
      });
    return size > 1 ? { rank, size, source: `${rankName}/${sizeName}` } : null;
  }
  // srun without an MPI plugin starts N copies that know only SLURM_PROCID: each would run the
  // whole fit and write the same files.
  const tasks = integerVariable(env, "SLURM_STEP_NUM_TASKS");
  if (tasks !== undefined && tasks > 1 && env["SLURM_PROCID"] !== undefined)
    throw new ConfigError(
      `srun started ${tasks} tasks (SLURM_STEP_NUM_TASKS) without MPI's variables (PMIX_RANK or PMI_RANK): launch with srun --mpi=pmix, or use a job array for partial runs`,
      { key: "SLURM_STEP_NUM_TASKS", value: tasks },
    );
  return null;
}

// The built addon relative to this module: src/train (sources run through tsx) or dist/train
// (compiled; the addon stays in src/native/mpi/build).
const ADDON_PATHS = [
  "../native/mpi/build/Release/cellarium_mpi.node",
  "../../src/native/mpi/build/Release/cellarium_mpi.node",
];

/** The addon, or why it did not load. */
function loadAddon(): MpiAddon | string {
  for (const relative of ADDON_PATHS) {
    const path = new URL(relative, import.meta.url).pathname;
    if (!existsSync(path)) continue;
    const module = { exports: {} as MpiAddon };
    try {
      // RTLD_GLOBAL: MPI libraries load their transports as plugins that look up libmpi's symbols.
      process.dlopen(module, path, constants.dlopen.RTLD_NOW | constants.dlopen.RTLD_GLOBAL);
      return module.exports;
    } catch (error) {
      return `${path} did not load: ${String((error as Error).message).split("\n")[0]}`;
    }
  }
  return "the MPI addon is not built (install libopenmpi-dev and run `npm run build`)";
}

let active: MpiWorld | null = null;

/** The world initialized by startMpi, if any (main.ts aborts it on errors and finalizes it at the end). */
export function activeMpiWorld(): MpiWorld | null {
  return active;
}

/**
 * Joins the world a launcher started (MPI_Init_thread), or returns null when none did. Refuses,
 * naming the launcher's variables, when the addon is missing (running N independent copies of a
 * fit that all write the same files would be silently wrong) or MPI's world differs from the
 * environment's.
 */
export function startMpi(env: Env): MpiWorld | null {
  if (active !== null) return active;
  const launched = launchedWorld(env);
  if (launched === null) return null;
  const where = `rank ${launched.rank} of ${launched.size} (${launched.source})`;
  const addon = loadAddon();
  if (typeof addon === "string")
    throw new ConfigError(`started by an MPI launcher as ${where}, but ${addon}`, { key: launched.source });
  const timeout = integerVariable(env, "CELLARIUM_MPI_TIMEOUT") ?? DEFAULT_TIMEOUT_SECONDS;
  const world = addon.init();
  if (world.rank !== launched.rank || world.size !== launched.size)
    throw new ConfigError(
      `MPI says rank ${world.rank} of ${world.size}, the environment ${where}: is the addon built against the launcher's MPI?`,
      { key: launched.source },
    );
  if (world.threadLevel !== "multiple" && world.threadLevel !== "serialized")
    throw new ConfigError(
      `${addon.version()} gives thread level "${world.threadLevel}"; cellarium-ts needs "serialized" or "multiple"`,
    );
  active = new MpiWorld(addon, world.rank, world.size, world.localSize, addon.version(), timeout);
  return active;
}
