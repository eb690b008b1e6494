// Loads the OpenBLAS/LAPACK addon built by scripts/build-native.mjs. src/tensor imports nothing from
// `node:*` (it must also run where Node is absent), so `require` comes from
// process.getBuiltinModule (Node >= 20.16) when it exists, and the addon is simply absent elsewhere.

import { ArgumentError } from "../../errors.js";
import { type Implementations, KERNELS, type KernelName } from "./types.js";

/** The addon's exports: one function per declared kernel, taking the fields positionally, and the thread count. */
type Addon = Record<KernelName, (...args: unknown[]) => unknown> & {
  setNumThreads(threads: number): void;
  getNumThreads(): number;
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

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/**
 * The implementation of a kernel on the addon's entry point, which takes the declared fields
 * positionally in their declaration order: `(a) => fn(a.transA, a.transB, ...)`, compiled once at
 * load time so that each kernel's wrapper reads its fields directly (no per-call array or spread).
 * `new Function` is safe here: the names are the declarations' field names, checked to be
 * identifiers, and this file only runs under Node (the addon's only host).
 */
function positional(kernel: KernelName, fn: unknown): Implementations[KernelName] {
  const fields = Object.keys(KERNELS[kernel].fields);
  if (typeof fn !== "function") throw new Error(`the addon has no ${kernel} (rebuild it: npm run build)`);
  for (const field of fields)
    if (!IDENTIFIER.test(field)) throw new Error(`${kernel}: bad field name ${field}`);
  const call = `fn(${fields.map((field) => `a.${field}`).join(", ")})`;
  const body = `return function ${kernel}(a) { try { return ${call}; } catch (error) { rethrow(error); } };`;
  return new Function("fn", "rethrow", body)(fn, rethrow);
}

/** The native implementations (unchecked) and the thread count, or why they are unavailable. */
export function loadNativeKernels():
  | { implementations: Implementations; threads: { set(threads: number): void; get(): number } }
  | { reason: string } {
  const loaded = loadAddon();
  if (!("addon" in loaded)) return loaded;
  const { addon } = loaded;
  const implementations: Partial<Record<KernelName, unknown>> = {};
  try {
    for (const kernel of Object.keys(KERNELS) as KernelName[]) {
      implementations[kernel] = positional(kernel, addon[kernel]);
    }
  } catch (error) {
    return { reason: (error as Error).message };
  }
  return {
    implementations: implementations as Implementations,
    threads: { set: (threads) => addon.setNumThreads(threads), get: () => addon.getNumThreads() },
  };
}
