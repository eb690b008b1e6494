// Loads the OpenBLAS/LAPACK addon built by scripts/build-native.mjs. src/tensor imports nothing from
// `node:*` (it must also run where Node is absent), so `require` comes from
// process.getBuiltinModule (Node >= 20.16) when it exists, and the addon is simply absent elsewhere.

import { ArgumentError } from "../../errors.js";
import { type CsrProductRaw, throwingCsrProduct } from "./csr-ts.js";
import type { CountNllData, Kernels } from "./types.js";
import { type CsrColumnMomentsRaw, throwingColumnMoments } from "./values-ts.js";

/** The addon's functions; the kernels that scan indices come in the raw form that returns where it stopped. */
type Addon = Omit<
  Kernels,
  | "name"
  | "csrColumnMoments"
  | "csrMatmul"
  | "csrTransposeMatmul"
  | "countNllForward"
  | "countNllBackward"
  | "adamUpdate"
> & {
  csrColumnMoments: CsrColumnMomentsRaw;
  // the addon takes the fields in this order (src/native/cellarium_native.c)
  countNllForward(...args: unknown[]): void;
  adamUpdate(...args: unknown[]): void;
  countNllBackward(...args: unknown[]): void;
  csrMatmul: CsrProductRaw;
  csrTransposeMatmul: CsrProductRaw;
};

interface NodeProcess {
  readonly env?: Record<string, string | undefined>;
  getBuiltinModule?(id: string): unknown;
}

interface NodeModuleApi {
  createRequire(from: string): (id: string) => unknown;
}

// The built file relative to this module: src/tensor/kernels (sources run through tsx) or
// dist/tensor/kernels (compiled by `npm run build`; the addon stays in src/native/build).
const ADDON_PATHS = [
  "../../native/build/Release/cellarium_native.node",
  "../../../src/native/build/Release/cellarium_native.node",
];

/** The addon, or the reason it is not available. */
function loadAddon(): { addon: Addon } | { reason: string } {
  const nodeProcess = (globalThis as { process?: NodeProcess }).process;
  if (nodeProcess?.env?.["CELLARIUM_NATIVE"] === "0") return { reason: "disabled by CELLARIUM_NATIVE=0" };
  const moduleApi = nodeProcess?.getBuiltinModule?.("node:module") as NodeModuleApi | undefined;
  if (moduleApi === undefined) return { reason: "it needs Node.js >= 20.16" };
  const require = moduleApi.createRequire(import.meta.url);
  for (const path of ADDON_PATHS) {
    try {
      return { addon: require(path) as Addon };
    } catch (error) {
      // A file that exists but does not load (e.g. libopenblas.so.0 missing) is worth reporting.
      if ((error as { code?: string }).code !== "MODULE_NOT_FOUND") {
        return { reason: `${path} did not load: ${String((error as Error).message).split("\n")[0]}` };
      }
    }
  }
  return { reason: "it is not built (run `npm run build` with libopenblas-dev installed)" };
}

/** LAPACK failures (singular matrix, not positive definite) come from the addon as plain Errors. */
function rethrow(error: unknown): never {
  throw new ArgumentError((error as Error).message, { cause: error });
}

function wrap(addon: Addon): Kernels {
  return {
    name: "native",
    gemm: addon.gemm,
    gemmBatched: addon.gemmBatched,
    qr(m, n, a, q, r) {
      try {
        addon.qr(m, n, a, q, r);
      } catch (error) {
        rethrow(error);
      }
    },
    svd(m, n, a, u, s, vt) {
      try {
        addon.svd(m, n, a, u, s, vt);
      } catch (error) {
        rethrow(error);
      }
    },
    eigh(n, a, w, v) {
      try {
        addon.eigh(n, a, w, v);
      } catch (error) {
        rethrow(error);
      }
    },
    solve(n, nrhs, a, b, x) {
      try {
        addon.solve(n, nrhs, a, b, x);
      } catch (error) {
        rethrow(error);
      }
    },
    cholesky(n, a, l) {
      try {
        addon.cholesky(n, a, l);
      } catch (error) {
        rethrow(error);
      }
    },
    softmaxRows: addon.softmaxRows,
    softmaxBackwardRows: addon.softmaxBackwardRows,
    maskedScale: addon.maskedScale,
    transpose: addon.transpose,
    gelu: addon.gelu,
    geluBackward: addon.geluBackward,
    layerNormRows: addon.layerNormRows,
    layerNormBackwardRows: addon.layerNormBackwardRows,
    dropoutKeep: addon.dropoutKeep,
    philoxBlocks: addon.philoxBlocks,
    normalizeRows: addon.normalizeRows,
    log1p: addon.log1p,
    findBadValue: addon.findBadValue,
    findBadIndex: addon.findBadIndex,
    adamUpdate: (a) =>
      addon.adamUpdate(
        a.param.length,
        a.param,
        a.grad,
        a.expAvg,
        a.expAvgSq,
        a.maxExpAvgSq,
        a.stepSize,
        a.biasCorrection2Sqrt,
        a.beta1,
        a.beta2,
        a.eps,
        a.decay,
        a.l2,
      ),
    sumSquares: addon.sumSquares,
    // Both check the counts' CSR structure (count_nll_canonical) and throw when a row is not
    // canonical: an ArgumentError, as the TypeScript kernels do.
    countNllForward(a) {
      try {
        addon.countNllForward(a.rows, a.genes, a.logits, ...countNllShared(a), a.chi, a.mu, a.ratio, a.nll);
      } catch (error) {
        rethrow(error);
      }
    },
    countNllBackward(a) {
      try {
        addon.countNllBackward(
          a.rows,
          a.genes,
          a.grad,
          ...countNllShared(a),
          a.chi,
          a.mu,
          a.ratio,
          a.gLogits,
          a.gAdditive,
          a.gTheta,
        );
      } catch (error) {
        rethrow(error);
      }
    },
    csrColumnMoments: throwingColumnMoments(addon.csrColumnMoments),
    csrMatmul: throwingCsrProduct("csrMatmul", addon.csrMatmul),
    csrTransposeMatmul: throwingCsrProduct("csrTransposeMatmul", addon.csrTransposeMatmul),
    setNumThreads: addon.setNumThreads,
    getNumThreads: addon.getNumThreads,
  };
}

/** The arguments both countNll directions pass at positions 3 to 9 (src/native/cellarium_native.c). */
function countNllShared(a: CountNllData): unknown[] {
  return [a.logLibrary, a.additive, a.theta, a.indptr, a.indices, a.values, a.eps];
}

/** The native kernels (unchecked), or why they are unavailable. */
export function loadNativeKernels(): { kernels: Kernels } | { reason: string } {
  const loaded = loadAddon();
  return "addon" in loaded ? { kernels: wrap(loaded.addon) } : loaded;
}
