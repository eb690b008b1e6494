// GEMM throughput of the engine against its references. Run: node --import tsx bench/engine/gemm.ts
// Options: --quick (tiny sizes, to check that the script works), --threads N (default: all cores).
// Shapes are M x K x N: C (M x N) = A (M x K) B (K x N), row-major, 2 M K N floating-point operations.
// Every implementation gets one warm-up call, then the median of its repetitions is reported.
// The "native / direct" column is the project's criterion: the addon reaches >= 0.9 of OpenBLAS
// called from C on the same machine.

import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import type { FloatArray, Kernels } from "../../src/tensor/kernels/index.js";
import { kernels, nativeAvailable, useKernels } from "../../src/tensor/kernels/index.js";
import { Generator } from "../../src/tensor/random.js";

type Dtype = "float32" | "float64";
interface Shape {
  readonly m: number;
  readonly k: number;
  readonly n: number;
}

const args = process.argv.slice(2);
const quick = args.includes("--quick");
const threadsAt = args.indexOf("--threads");
const threads = threadsAt >= 0 ? Number(args[threadsAt + 1]) : availableParallelism();
const shapes: Shape[] = quick
  ? [
      { m: 64, k: 64, n: 64 },
      { m: 32, k: 200, n: 16 },
    ]
  : [
      { m: 1024, k: 1024, n: 1024 },
      { m: 512, k: 20000, n: 64 },
    ];
const repeats = { fast: quick ? 3 : 10, typescript: quick ? 1 : 3 };
const dtypes: Dtype[] = ["float32", "float64"];

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const gflops = (shape: Shape, seconds: number) => (2 * shape.m * shape.k * shape.n) / seconds / 1e9;

function timeKernels(impl: Kernels, shape: Shape, dtype: Dtype, reps: number): number {
  const { m, k, n } = shape;
  const make = (length: number): FloatArray =>
    dtype === "float32" ? new Float32Array(length) : new Float64Array(length);
  const [a, b, c] = [make(m * k), make(k * n), make(m * n)];
  const generator = new Generator(0);
  generator.fillUniform(a);
  generator.fillUniform(b);
  const run = () =>
    impl.gemm({ transA: false, transB: false, m, n, k, alpha: 1, a, lda: k, b, ldb: n, beta: 0, c, ldc: n });
  run();
  const times: number[] = [];
  for (let r = 0; r < reps; r++) {
    const start = performance.now();
    run();
    times.push((performance.now() - start) / 1000);
  }
  return median(times);
}

const PYTHON = `
import sys, time, json
lib, m, k, n, dtype, reps, threads = sys.argv[1], *map(int, sys.argv[2:5]), sys.argv[5], int(sys.argv[6]), int(sys.argv[7])
if lib == "torch":
    import torch
    torch.set_num_threads(threads)
    dt = torch.float32 if dtype == "float32" else torch.float64
    a, b = torch.rand(m, k, dtype=dt), torch.rand(k, n, dtype=dt)
    mm = torch.mm
else:
    import numpy as np
    a, b = np.random.rand(m, k).astype(dtype), np.random.rand(k, n).astype(dtype)
    mm = np.matmul
mm(a, b)
times = []
for _ in range(reps):
    t = time.perf_counter(); mm(a, b); times.append(time.perf_counter() - t)
print(json.dumps(sorted(times)[len(times) // 2]))
`;

const C_PROGRAM = `
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
static int compare(const void *x, const void *y) { double a = *(const double *)x, b = *(const double *)y; return (a > b) - (a < b); }
int main(int argc, char **argv) {
  int m = atoi(argv[1]), k = atoi(argv[2]), n = atoi(argv[3]), dbl = strcmp(argv[4], "float64") == 0;
  int reps = atoi(argv[5]);
  openblas_set_num_threads(atoi(argv[6]));
  size_t size = dbl ? sizeof(double) : sizeof(float);
  void *a = malloc(size * m * k), *b = malloc(size * k * n), *c = malloc(size * m * n);
  for (size_t i = 0; i < (size_t)m * k; i++) if (dbl) ((double *)a)[i] = rand() / (double)RAND_MAX; else ((float *)a)[i] = rand() / (float)RAND_MAX;
  for (size_t i = 0; i < (size_t)k * n; i++) if (dbl) ((double *)b)[i] = rand() / (double)RAND_MAX; else ((float *)b)[i] = rand() / (float)RAND_MAX;
  double *times = malloc(sizeof(double) * reps);
  for (int r = -1; r < reps; r++) {
    double start = now();
    if (dbl) cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1, a, k, b, n, 0, c, n);
    else cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1, a, k, b, n, 0, c, n);
    if (r >= 0) times[r] = now() - start;
  }
  qsort(times, reps, sizeof(double), compare);
  printf("%.9g\\n", times[reps / 2]);
  return 0;
}
`;

/** Median seconds from an external program, or undefined (reported as n/a) when it cannot run. */
function external(command: string, commandArgs: string[]): number | undefined {
  try {
    const env = { ...process.env, OPENBLAS_NUM_THREADS: `${threads}`, OMP_NUM_THREADS: `${threads}` };
    return Number(
      JSON.parse(
        execFileSync(command, commandArgs, { encoding: "utf8", env, stdio: ["ignore", "pipe", "pipe"] }),
      ),
    );
  } catch (error) {
    console.error(
      `${command} ${commandArgs[0] === "-c" ? commandArgs[2] : ""}: ${(error as Error).message.split("\n")[0]}`,
    );
    return undefined;
  }
}

const workdir = mkdtempSync(join(tmpdir(), "cellarium-bench-"));
let directBinary: string | undefined;
try {
  writeFileSync(join(workdir, "gemm.c"), C_PROGRAM);
  execFileSync("cc", ["-O2", "-o", join(workdir, "gemm"), join(workdir, "gemm.c"), "-lopenblas"], {
    stdio: "inherit",
  });
  directBinary = join(workdir, "gemm");
} catch (error) {
  console.error(`cannot compile the direct OpenBLAS program: ${(error as Error).message.split("\n")[0]}`);
}

const columns = dtypes.flatMap((dtype) => shapes.map((shape) => ({ dtype, shape })));
const rows: { name: string; seconds: (number | undefined)[] }[] = [];
const measure = (name: string, fn: (dtype: Dtype, shape: Shape) => number | undefined) => {
  rows.push({ name, seconds: columns.map(({ dtype, shape }) => fn(dtype, shape)) });
};

if (nativeAvailable()) {
  useKernels("native");
  kernels().setNumThreads(threads);
  measure("native addon", (dtype, shape) => timeKernels(kernels(), shape, dtype, repeats.fast));
}
useKernels("typescript");
measure("TypeScript fallback", (dtype, shape) => timeKernels(kernels(), shape, dtype, repeats.typescript));
const py = (lib: string) => (dtype: Dtype, s: Shape) =>
  external("/usr/bin/python3", [
    "-c",
    PYTHON,
    lib,
    `${s.m}`,
    `${s.k}`,
    `${s.n}`,
    dtype,
    `${repeats.fast}`,
    `${threads}`,
  ]);
measure("numpy", py("numpy"));
measure("PyTorch", py("torch"));
if (directBinary !== undefined) {
  const binary = directBinary;
  measure("OpenBLAS from C", (dtype, s) =>
    external(binary, [`${s.m}`, `${s.k}`, `${s.n}`, dtype, `${repeats.fast}`, `${threads}`]),
  );
}
rmSync(workdir, { recursive: true, force: true });

const header = columns.map(
  ({ dtype, shape }) => `${dtype === "float32" ? "s" : "d"}gemm ${shape.m}x${shape.k}x${shape.n}`,
);
const width = Math.max(...header.map((h) => h.length), 10);
console.log(`GEMM GFLOP/s (median), ${threads} thread(s), M x K x N${quick ? ", --quick sizes" : ""}`);
console.log(["implementation".padEnd(22), ...header.map((h) => h.padStart(width))].join(" "));
for (const { name, seconds } of rows) {
  const cells = seconds.map((s, i) =>
    (s === undefined ? "n/a" : gflops(columns[i]!.shape, s).toFixed(1)).padStart(width),
  );
  console.log([name.padEnd(22), ...cells].join(" "));
}
const native = rows.find((r) => r.name === "native addon");
const direct = rows.find((r) => r.name === "OpenBLAS from C");
if (native !== undefined && direct !== undefined) {
  const ratios = native.seconds.map((s, i) => {
    const d = direct.seconds[i];
    return (s === undefined || d === undefined ? "n/a" : (d / s).toFixed(2)).padStart(width);
  });
  console.log(["native / direct".padEnd(22), ...ratios].join(" "));
}
