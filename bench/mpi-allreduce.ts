// One rank of bench/mpi.ts's Allreduce measurement, run under mpirun: times MpiWorld.allreduceSum
// (the in-place, bucketed Allreduce the gradient average uses) on buffers of each size and element
// type, after a warm-up, and rank 0 prints one JSON line per size: the median seconds per call.
// Usage (through bench/mpi.ts): mpirun -np N node --import tsx bench/mpi-allreduce.ts <sizes...>

import { startMpi } from "../src/train/mpi.js";

const world = startMpi(process.env);
if (world === null) throw new Error("run under mpirun with at least 2 ranks");
const sizes = process.argv.slice(2).map(Number);
for (const dtype of ["float64", "float32"] as const) {
  for (const size of sizes) {
    const buffer = dtype === "float64" ? new Float64Array(size) : new Float32Array(size);
    buffer.fill(world.rank + 1);
    // Enough calls for about a second of small messages, at least 3 of the largest.
    const calls = Math.max(3, Math.min(200, Math.round(2e7 / size)));
    world.allreduceSum(buffer);
    const seconds: number[] = [];
    for (let i = 0; i < calls; i++) {
      world.barrier();
      const start = performance.now();
      world.allreduceSum(buffer);
      seconds.push((performance.now() - start) / 1000);
    }
    seconds.sort((a, b) => a - b);
    if (world.rank === 0)
      process.stdout.write(`${JSON.stringify({ dtype, size, seconds: seconds[Math.floor(calls / 2)] })}\n`);
  }
}
world.finalize();
