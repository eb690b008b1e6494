import { ArgumentError } from "../../errors.js";
import { geluBackwardTs, geluTs } from "./activations-ts.js";
import { checked } from "./checked.js";
import { countNllBackwardTs, countNllForwardTs } from "./count-nll-ts.js";
import { csrMatmulTs, csrTransposeMatmulTs, throwingCsrProduct } from "./csr-ts.js";
import { gemmBatchedTs, gemmTs } from "./gemm-ts.js";
import { choleskyTs, eighTs, qrTs, solveTs, svdTs } from "./lapack-ts.js";
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
import type { Kernels } from "./types.js";
import {
  csrColumnMomentsTs,
  findBadIndexTs,
  findBadValueTs,
  log1pTs,
  normalizeRowsTs,
  throwingColumnMoments,
} from "./values-ts.js";

export type { FloatArray, Kernels } from "./types.js";

const typescriptKernels: Kernels = checked({
  name: "typescript",
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
  findBadIndex: findBadIndexTs,
  adamUpdate: adamUpdateTs,
  sumSquares: sumSquaresTs,
  countNllForward: countNllForwardTs,
  countNllBackward: countNllBackwardTs,
  csrColumnMoments: throwingColumnMoments(csrColumnMomentsTs),
  csrMatmul: throwingCsrProduct("csrMatmul", csrMatmulTs),
  csrTransposeMatmul: throwingCsrProduct("csrTransposeMatmul", csrTransposeMatmulTs),
  // Plain TypeScript runs on the calling thread only.
  setNumThreads: () => {},
  getNumThreads: () => 1,
});

const native = loadNativeKernels();
const nativeKernels = "kernels" in native ? checked(native.kernels) : undefined;
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
