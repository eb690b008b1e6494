// The MPI addon and the launcher's environment: collectives under `mpirun -np 2` and `-np 4`
// checked against sums computed here, a rank that never arrives ending the wait with a timeout,
// and which environments mean "started by an MPI launcher".

import assert from "node:assert/strict";
import { test } from "node:test";
import { modelByCommand } from "../../src/cli/registry.js";
import { runModelCommand } from "../../src/cli/run.js";
import { ConfigError } from "../../src/errors.js";
import { launchedWorld, MPI_BUCKET } from "../../src/train/mpi.js";
import { mpirun } from "../helpers/mpirun.js";

const TIMEOUT = { timeout: 120_000 };
const HELPER = [process.execPath, "--import", "tsx", "tests/helpers/mpi-collectives.ts"];

interface Report {
  rank: number;
  f32: number[];
  f64: number[];
  i32: number[];
  big: number[];
  fromRoot: number[];
  bytes: string;
  received: number[];
  emptyLength: number;
  disagreement: string;
}

for (const n of [2, 4]) {
  test(`MPI addon under mpirun -np ${n}: allreduce, bcast, send/recv, agree`, TIMEOUT, async () => {
    const run = await mpirun(n, HELPER);
    assert.equal(run.code, 0, run.stderr);
    const reports = run.stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as Report)
      .sort((a, b) => a.rank - b.rank);
    assert.deepEqual(
      reports.map((r) => r.rank),
      Array.from({ length: n }, (_, r) => r),
    );
    const ranks = Array.from({ length: n }, (_, r) => r);
    const sum = (f: (r: number) => number) => ranks.reduce((s, r) => s + f(r), 0);
    for (const report of reports) {
      const where = `rank ${report.rank}`;
      assert.deepEqual(report.f32, [sum((r) => r + 0.5), -sum((r) => r), n * 2 ** 20], where);
      assert.ok(Math.abs(report.f64[0]! - sum((r) => r * 1e-9)) < 1e-20, where);
      assert.equal(report.f64[1], n, where);
      assert.deepEqual(report.i32, [sum((r) => r), n], where);
      // The bucket boundary: elements on both sides, and the last, summed in their own places.
      const ones = sum((r) => r + 1);
      assert.deepEqual(report.big, [ones, ones, ones, sum((r) => r * 2)], `${where}, bucket ${MPI_BUCKET}`);
      assert.deepEqual(report.fromRoot, [7.25, 7.25, 7.25], where);
      assert.equal(report.bytes, "rank zero's state", where);
      const previous = (report.rank + n - 1) % n;
      assert.deepEqual(report.received, [previous, previous, previous], where);
      assert.equal(report.emptyLength, 0, where);
      // Only the rank whose value differs from rank 0's learns it.
      if (report.rank === n - 1)
        assert.equal(
          report.disagreement,
          `MPI rank ${n - 1}'s test value differs from rank 0's (different vs same)`,
        );
      else assert.equal(report.disagreement, "", where);
    }
  });
}

test("a rank that does not arrive ends a collective with a timeout, not a hang", TIMEOUT, async () => {
  const run = await mpirun(2, [...HELPER, "timeout"], { CELLARIUM_MPI_TIMEOUT: "1" });
  assert.notEqual(run.code, 0);
  const line = run.stdout
    .trim()
    .split("\n")
    .find((l) => l.startsWith('{"rank":0'));
  assert.ok(line, run.stdout + run.stderr);
  assert.deepEqual(JSON.parse(line), {
    rank: 0,
    error: "MPI_Barrier: no answer from the other ranks within 1 s (a rank stopped or is stuck)",
  });
  // Rank 1 sleeps 4 s: the job ended by rank 0's abort, not by rank 1 arriving.
  assert.ok(!run.stdout.includes('"barrier":"passed"'), run.stdout);
});

test("launchedWorld reads Open MPI, MPICH/PMI and Slurm/PMIx environments", () => {
  assert.deepEqual(launchedWorld({ OMPI_COMM_WORLD_SIZE: "4", OMPI_COMM_WORLD_RANK: "3" }), {
    rank: 3,
    size: 4,
    source: "OMPI_COMM_WORLD_RANK/OMPI_COMM_WORLD_SIZE",
  });
  assert.deepEqual(launchedWorld({ PMI_SIZE: "2", PMI_RANK: "0" }), {
    rank: 0,
    size: 2,
    source: "PMI_RANK/PMI_SIZE",
  });
  assert.deepEqual(launchedWorld({ SLURM_STEP_NUM_TASKS: "8", PMIX_RANK: "5", SLURM_PROCID: "5" }), {
    rank: 5,
    size: 8,
    source: "PMIX_RANK/SLURM_STEP_NUM_TASKS",
  });
  // One process, a batch script (SLURM_NTASKS only), or switched off.
  assert.equal(launchedWorld({ OMPI_COMM_WORLD_SIZE: "1", OMPI_COMM_WORLD_RANK: "0" }), null);
  // srun -n 8 without --mpi: eight copies of the whole fit, refused.
  assert.throws(
    () => launchedWorld({ SLURM_STEP_NUM_TASKS: "8", SLURM_PROCID: "5" }),
    /srun started 8 tasks \(SLURM_STEP_NUM_TASKS\) without MPI's variables \(PMIX_RANK or PMI_RANK\): launch with srun --mpi=pmix/,
  );
  assert.equal(launchedWorld({ SLURM_STEP_NUM_TASKS: "1", SLURM_PROCID: "0" }), null);
  assert.equal(launchedWorld({ SLURM_NTASKS: "8", SLURM_PROCID: "0" }), null);
  assert.equal(
    launchedWorld({ OMPI_COMM_WORLD_SIZE: "4", OMPI_COMM_WORLD_RANK: "1", CELLARIUM_MPI: "0" }),
    null,
  );
  assert.throws(
    () => launchedWorld({ OMPI_COMM_WORLD_SIZE: "2", OMPI_COMM_WORLD_RANK: "2" }),
    /OMPI_COMM_WORLD_RANK=2 is not below OMPI_COMM_WORLD_SIZE=2/,
  );
  assert.throws(
    () => launchedWorld({ OMPI_COMM_WORLD_SIZE: "two", OMPI_COMM_WORLD_RANK: "0" }),
    /environment OMPI_COMM_WORLD_SIZE: expected a non-negative integer, got "two"/,
  );
});

test("predict under an MPI launcher, and partial-run flags with one, are refused before MPI starts", async () => {
  const env = { OMPI_COMM_WORLD_SIZE: "2", OMPI_COMM_WORLD_RANK: "0" };
  const config = {
    model: { model: { class_path: "cellarium.ml.models.OnePassMeanVarStd" } },
    data: {
      dadc: {
        class_path: "cellarium.ml.data.DistributedAnnDataCollection",
        init_args: { filenames: "examples/data/demo_0.h5ad", shard_size: 1000 },
      },
      batch_keys: { x_ng: { attr: "X" }, var_names_g: { attr: "var_names" } },
    },
  };
  const entry = modelByCommand("onepass_mean_var_std")!;
  await assert.rejects(
    runModelCommand(entry, "predict", { configs: [], overrides: [], config, env, log: () => {} }),
    (error: unknown) =>
      error instanceof ConfigError &&
      /predict runs as one process, but an MPI launcher started 2 \(OMPI_COMM_WORLD_RANK\/OMPI_COMM_WORLD_SIZE\)/.test(
        error.message,
      ),
  );
  await assert.rejects(
    runModelCommand(entry, "fit", {
      configs: [],
      overrides: [],
      config,
      env,
      replica: { replicaRank: 0, numReplicas: 2 },
      log: () => {},
    }),
    /--replica_rank\/--num_replicas \(a partial run\) under an MPI launcher \(2 ranks/,
  );
});
