// Partial runs (one process's part of the cells, SPEC.md section 7): which part this process is,
// and the fingerprint that `cellarium merge` compares so that only parts of one run are combined.

import { createHash } from "node:crypto";
import { ConfigError } from "../errors.js";
import type { JsonValue } from "../json.js";

/** This process's part of a run split across processes. */
export interface ReplicaAssignment {
  readonly rank: number;
  readonly numReplicas: number;
  /** Where rank and count came from, for the log line. */
  readonly source: string;
}

export type Env = Readonly<Record<string, string | undefined>>;

/**
 * The rank and replica count of this process, or null for a single run. Each is taken from the
 * first of these that is set (explicit flags win over the environment):
 * - rank:  --replica_rank, RANK, JOB_COMPLETION_INDEX (Kubernetes Indexed Job),
 *          SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN (Slurm job array; MIN defaults to 0);
 * - count: --num_replicas, WORLD_SIZE, CELLARIUM_NUM_REPLICAS, SLURM_ARRAY_TASK_COUNT.
 * A Kubernetes Indexed Job exports no count, hence CELLARIUM_NUM_REPLICAS. `--num_replicas 1`
 * forces a single run whatever the environment says.
 */
export function resolveReplica(
  flags: { replicaRank?: number; numReplicas?: number },
  env: Env,
): ReplicaAssignment | null {
  const fromEnv = (name: string): { value: number; source: string } | undefined => {
    const text = env[name];
    if (text === undefined || text === "") return undefined;
    const value = Number(text);
    if (!Number.isSafeInteger(value))
      throw new ConfigError(`environment ${name}: expected an integer, got "${text}"`);
    return { value, source: name };
  };
  const slurmRank = (): { value: number; source: string } | undefined => {
    const id = fromEnv("SLURM_ARRAY_TASK_ID");
    if (id === undefined) return undefined;
    const min = fromEnv("SLURM_ARRAY_TASK_MIN")?.value ?? 0;
    return { value: id.value - min, source: "SLURM_ARRAY_TASK_ID" };
  };
  const count =
    flags.numReplicas !== undefined
      ? { value: flags.numReplicas, source: "--num_replicas" }
      : (fromEnv("WORLD_SIZE") ?? fromEnv("CELLARIUM_NUM_REPLICAS") ?? fromEnv("SLURM_ARRAY_TASK_COUNT"));
  if (count?.value === 1 && count.source === "--num_replicas") return null;
  const rank =
    flags.replicaRank !== undefined
      ? { value: flags.replicaRank, source: "--replica_rank" }
      : (fromEnv("RANK") ?? fromEnv("JOB_COMPLETION_INDEX") ?? slurmRank());
  if (rank === undefined && count === undefined) return null;
  if (count === undefined) {
    throw new ConfigError(
      `replica rank ${rank!.value} (from ${rank!.source}) needs a replica count: pass --num_replicas N or set CELLARIUM_NUM_REPLICAS`,
    );
  }
  if (rank === undefined) {
    throw new ConfigError(
      `${count.value} replicas (from ${count.source}) need this process's rank: pass --replica_rank R or set RANK`,
    );
  }
  if (!Number.isSafeInteger(count.value) || count.value < 1) {
    throw new ConfigError(`${count.source}: the replica count must be an integer >= 1, got ${count.value}`);
  }
  if (!Number.isSafeInteger(rank.value) || rank.value < 0 || rank.value >= count.value) {
    throw new ConfigError(
      `${rank.source}: the replica rank must be in [0, ${count.value}), got ${rank.value}`,
    );
  }
  if (count.value === 1) return null;
  return { rank: rank.value, numReplicas: count.value, source: `${rank.source}/${count.source}` };
}

/**
 * Config keys that do not change what a run computes (where outputs go, logging, read-ahead,
 * checkpoint frequency, the resume point); parts of one run may differ in them.
 */
export const FINGERPRINT_IGNORED_KEYS: readonly string[] = [
  "ckpt_path",
  // Each process of a partial run draws its own seed for `seed_everything: true`; partial runs
  // are only for streaming models, whose results do not depend on it.
  "seed_everything",
  "trainer.default_root_dir",
  "trainer.enable_progress_bar",
  "trainer.log_every_n_steps",
  "trainer.callbacks",
  "data.num_workers",
  "data.prefetch_factor",
];

/** SHA-256 (hex, first 16 digits) of the config's JSON with sorted keys, without the ignored keys. */
export function configFingerprint(config: JsonValue): string {
  const canonical = (value: JsonValue, path: string): JsonValue => {
    if (Array.isArray(value)) return value.map((item) => canonical(item, path));
    if (value === null || typeof value !== "object") return value;
    const out: Record<string, JsonValue> = {};
    for (const key of Object.keys(value).sort()) {
      const dotted = path === "" ? key : `${path}.${key}`;
      if (!FINGERPRINT_IGNORED_KEYS.includes(dotted)) out[key] = canonical(value[key]!, dotted);
    }
    return out;
  };
  return createHash("sha256")
    .update(JSON.stringify(canonical(config, "")))
    .digest("hex")
    .slice(0, 16);
}

/** `--partial_path` with `{rank}` replaced, or the default `<root>/part-<rank>-of-<N>.safetensors`. */
export function partialPath(template: string | undefined, root: string, replica: ReplicaAssignment): string {
  if (template !== undefined) return template.replaceAll("{rank}", String(replica.rank));
  const width = String(replica.numReplicas - 1).length;
  const rank = String(replica.rank).padStart(width, "0");
  return `${root.replace(/\/$/, "")}/part-${rank}-of-${replica.numReplicas}.safetensors`;
}
