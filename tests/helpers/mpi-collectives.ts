// Run by tests/train/mpi.test.ts under `mpirun -np N`: each rank exercises the MPI addon through
// MpiWorld and prints one JSON line of what it received; the test checks the lines against sums
// it computes itself. argv[2] "timeout": rank 1 arrives at a barrier only after 4 s, so the
// others (CELLARIUM_MPI_TIMEOUT=1) must fail with the timeout rather than wait.

import { MPI_BUCKET, startMpi } from "../../src/train/mpi.js";

const world = startMpi(process.env);
if (world === null) throw new Error("not started by an MPI launcher");
const { rank, size } = world;
const print = (value: unknown) => process.stdout.write(`${JSON.stringify({ rank, ...(value as object) })}\n`);

if (process.argv[2] === "timeout") {
  if (rank === 1) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 4000);
  try {
    world.barrier();
    print({ barrier: "passed" });
    world.finalize();
  } catch (error) {
    print({ error: (error as Error).message });
    // A collective that timed out cannot be finished: end the job, as the command line does.
    world.abort(3);
  }
} else {
  const f32 = new Float32Array([rank + 0.5, -rank, 2 ** 20]);
  world.allreduceSum(f32);
  const f64 = new Float64Array([rank * 1e-9, 1]);
  world.allreduceSum(f64);
  const i32 = new Int32Array([rank, 1]);
  world.allreduceSum(i32);
  // More than one bucket: the parts must land at their offsets.
  const big = new Float32Array(MPI_BUCKET + 3).fill(rank + 1);
  big[MPI_BUCKET + 2] = rank * 2;
  world.allreduceSum(big);
  const root = size - 1;
  const fromRoot = new Float64Array(3).fill(rank === root ? 7.25 : -1);
  world.bcast(fromRoot, root);
  const bytes = world.bcastBytes(rank === 0 ? new TextEncoder().encode("rank zero's state") : null);
  // A ring of messages: each rank sends its rank's bytes to the next and receives the previous's.
  let received: number[] = [];
  const next = (rank + 1) % size;
  const previous = (rank + size - 1) % size;
  if (rank % 2 === 0) {
    world.send(new Uint8Array([rank, rank, rank]), next, 5);
    received = [...world.recv(previous, 5)];
  } else {
    received = [...world.recv(previous, 5)];
    world.send(new Uint8Array([rank, rank, rank]), next, 5);
  }
  const empty = world.bcastBytes(rank === 0 ? new Uint8Array(0) : null);
  let disagreement = "";
  try {
    world.agree("test value", rank === size - 1 ? "different" : "same");
  } catch (error) {
    disagreement = (error as Error).message;
  }
  world.barrier();
  print({
    f32: [...f32],
    f64: [...f64],
    i32: [...i32],
    big: [big[0], big[MPI_BUCKET - 1], big[MPI_BUCKET], big[MPI_BUCKET + 2]],
    fromRoot: [...fromRoot],
    bytes: new TextDecoder().decode(bytes),
    received,
    emptyLength: empty.length,
    disagreement,
  });
  world.finalize();
}
