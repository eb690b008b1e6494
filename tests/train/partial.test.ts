import assert from "node:assert/strict";
import { test } from "node:test";
import { ConfigError } from "../../src/errors.js";
import { configFingerprint, partialPath, resolveReplica } from "../../src/train/partial.js";

test("resolveReplica: flags win over RANK/WORLD_SIZE, then the Indexed Job, then the Slurm array", () => {
  const slurm = { SLURM_ARRAY_TASK_ID: "7", SLURM_ARRAY_TASK_MIN: "5", SLURM_ARRAY_TASK_COUNT: "3" };
  assert.equal(resolveReplica({}, {}), null);
  assert.deepEqual(resolveReplica({}, slurm), {
    rank: 2,
    numReplicas: 3,
    source: "SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT",
  });
  assert.deepEqual(resolveReplica({}, { ...slurm, JOB_COMPLETION_INDEX: "1", CELLARIUM_NUM_REPLICAS: "2" }), {
    rank: 1,
    numReplicas: 2,
    source: "JOB_COMPLETION_INDEX/CELLARIUM_NUM_REPLICAS",
  });
  assert.deepEqual(resolveReplica({}, { ...slurm, RANK: "0", WORLD_SIZE: "4" }), {
    rank: 0,
    numReplicas: 4,
    source: "RANK/WORLD_SIZE",
  });
  assert.deepEqual(resolveReplica({ replicaRank: 1 }, { RANK: "0", WORLD_SIZE: "4" }), {
    rank: 1,
    numReplicas: 4,
    source: "--replica_rank/WORLD_SIZE",
  });
  // --num_replicas 1 is a single run whatever the environment says; WORLD_SIZE=1 too.
  assert.equal(resolveReplica({ numReplicas: 1 }, slurm), null);
  assert.equal(resolveReplica({}, { RANK: "0", WORLD_SIZE: "1" }), null);
});

test("resolveReplica: a rank without a count, a count without a rank, or out of range is an error", () => {
  const cases: [Parameters<typeof resolveReplica>, RegExp][] = [
    [
      [{}, { JOB_COMPLETION_INDEX: "2" }],
      /replica rank 2 \(from JOB_COMPLETION_INDEX\) needs a replica count: pass --num_replicas N or set CELLARIUM_NUM_REPLICAS/,
    ],
    [[{ numReplicas: 4 }, {}], /4 replicas \(from --num_replicas\) need this process's rank/],
    [[{ replicaRank: 4, numReplicas: 4 }, {}], /--replica_rank: the replica rank must be in \[0, 4\), got 4/],
    [[{}, { RANK: "x", WORLD_SIZE: "2" }], /environment RANK: expected an integer, got "x"/],
  ];
  for (const [args, message] of cases) {
    assert.throws(
      () => resolveReplica(...args),
      (e: Error) => e instanceof ConfigError && message.test(e.message),
    );
  }
});

test("configFingerprint ignores where outputs go and read-ahead, not what is computed", () => {
  const base = {
    trainer: { max_epochs: 1, default_root_dir: "a" },
    data: { batch_size: 8, num_workers: 0 },
    ckpt_path: null,
  };
  const same = {
    ckpt_path: "x",
    data: { num_workers: 2, batch_size: 8 },
    trainer: { default_root_dir: "b", max_epochs: 1 },
  };
  assert.equal(configFingerprint(base), configFingerprint(same));
  assert.notEqual(
    configFingerprint(base),
    configFingerprint({ ...base, data: { batch_size: 16, num_workers: 0 } }),
  );
  assert.match(configFingerprint(base), /^[0-9a-f]{16}$/);
});

test("partialPath: {rank} in the template, or part-<rank>-of-<n> under the root", () => {
  const replica = { rank: 3, numReplicas: 12, source: "" };
  assert.equal(partialPath("/out/p{rank}.safetensors", "/root", replica), "/out/p3.safetensors");
  assert.equal(partialPath(undefined, "/root", replica), "/root/part-03-of-12.safetensors");
});
