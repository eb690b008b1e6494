// Registration: each backend supplies one implementation per kernel declared in types.ts (the
// compiler checks the tables below against the declarations), and every kernel reaches it through
// the checks compiled from its declaration, so that both backends throw the same ArgumentError for
// the same mistake and the kernels themselves can assume consistent sizes. (The C addon keeps its
// own bounds checks as well: a direct call must never touch memory outside the arrays.)

import { ArgumentError } from "../../errors.js";
import { geluBackwardTs, geluTs } from "./activations-ts.js";
import { countNllBackwardTs, countNllForwardTs } from "./count-nll-ts.js";
import { csrMatmulTs, csrTransposeMatmulTs } from "./csr-ts.js";
import { gemmBatchedTs, gemmTs } from "./gemm-ts.js";
import { choleskyTs, eighTs, qrTs, solveTs, svdTs } from "./lapack-ts.js";
import { keepLargestTs } from "./largest-ts.js";
import { layerNormBackwardRowsTs, layerNormRowsTs } from "./layer-norm-ts.js";
import { loadNativeKernels } from "./native.js";
import { adamUpdateTs, sumSquaresTs } from "./optim-ts.js";
import { philoxBlocksTs } from "./philox-ts.js";
import {
  dropoutKeepTs,
  maskedScaleTs,
  softmaxBackwardRowsTs,
  softmaxRowsTs,
  transposeTs,
} from "./rows-ts.js";
import { checkedKernel } from "./spec.js";
import { type Implementations, KERNELS, type KernelName, type Kernels } from "./types.js";
import {
  csrColumnMomentsTs,
  findBadIndexTs,
  findBadValueTs,
  firstNonIntegerTs,
  log1pTs,
  normalizeRowsTs,
} from "./values-ts.js";

export type { FloatArray, KernelArgs, KernelName, Kernels } from "./types.js";

const typescriptImplementations: Implementations = {
  gemm: gemmTs,
  gemmBatched: gemmBatchedTs,
  qr: qrTs,
  svd: svdTs,
  eigh: eighTs,
  solve: solveTs,
  cholesky: choleskyTs,
  softmaxRows: softmaxRowsTs,
  softmaxBackwardRows: softmaxBackwardRowsTs,
  maskedScale: maskedScaleTs,
  transpose: transposeTs,
  gelu: geluTs,
  geluBackward: geluBackwardTs,
  layerNormRows: layerNormRowsTs,
  layerNormBackwardRows: layerNormBackwardRowsTs,
  dropoutKeep: dropoutKeepTs,
  philoxBlocks: philoxBlocksTs,
  normalizeRows: normalizeRowsTs,
  log1p: log1pTs,
  findBadValue: findBadValueTs,
  firstNonInteger: firstNonIntegerTs,
  findBadIndex: findBadIndexTs,
  csrColumnMoments: csrColumnMomentsTs,
  keepLargest: keepLargestTs,
  csrMatmul: csrMatmulTs,
  csrTransposeMatmul: csrTransposeMatmulTs,
  adamUpdate: adamUpdateTs,
  sumSquares: sumSquaresTs,
  countNllForward: countNllForwardTs,
  countNllBackward: countNllBackwardTs,
};

/** A backend's kernels, each behind its compiled checks. */
function register(
  name: Kernels["name"],
  implementations: Implementations,
  threads: { set(threads: number): void; get(): number },
): Kernels {
  const out: Record<string, unknown> = {
    name,
    setNumThreads(count: number): void {
      if (!Number.isInteger(count) || count < 1 || count > 1024) {
        throw new ArgumentError(`setNumThreads: threads must be an integer in [1, 1024], got ${count}`);
      }
      threads.set(count);
    },
    getNumThreads: () => threads.get(),
  };
  for (const kernel of Object.keys(KERNELS) as KernelName[]) {
    out[kernel] = checkedKernel(kernel, KERNELS[kernel], implementations[kernel] as (args: never) => number);
  }
  return out as Kernels;
}

// Plain TypeScript runs on the calling thread only.
const typescriptKernels = register("typescript", typescriptImplementations, { set: () => {}, get: () => 1 });

const native = loadNativeKernels();
const nativeKernels =
  "implementations" in native ? register("native", native.implementations, native.threads) : undefined;
const nativeMissing = "reason" in native ? native.reason : "";

let active: Kernels = nativeKernels ?? typescriptKernels;

/** The kernels in use: the native addon when it is built and CELLARIUM_NATIVE is not 0, else TypeScript. */
export function kernels(): Kernels {
  return active;
}

/** Whether the OpenBLAS addon loaded (it is then the default). */
export function nativeAvailable(): boolean {
  return nativeKernels !== undefined;
}

/** Chooses the implementation (tests run both and compare them); "native" fails if the addon is absent. */
export function useKernels(which: "native" | "typescript"): void {
  if (which === "typescript") {
    active = typescriptKernels;
  } else if (which !== "native") {
    throw new ArgumentError(`useKernels: expected "native" or "typescript", got ${String(which)}`);
  } else if (nativeKernels === undefined) {
    throw new ArgumentError(`useKernels: the native addon is not available: ${nativeMissing}`);
  } else {
    active = nativeKernels;
  }
}
