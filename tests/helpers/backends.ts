// node:test's `test`, run once per kernel backend: a test file that imports `test` from here instead
// of node:test checks its ops on the native kernels and on the TypeScript fallback, with one body.
// Each run is named `<name> [native]` / `<name> [typescript]`, selects its backend before the body
// and restores the previous one after. Without the addon the native run is skipped, unless
// CELLARIUM_REQUIRE_NATIVE=1 (CI), where it fails (as in tests/tensor/kernels/native.test.ts).

import { test as nodeTest, type TestContext, type TestOptions } from "node:test";
import { kernels, nativeAvailable, useKernels } from "../../src/tensor/kernels/index.js";

export const backends = ["native", "typescript"] as const;
export type Backend = (typeof backends)[number];

type Body = (t: TestContext) => void | Promise<void>;

const required = process.env["CELLARIUM_REQUIRE_NATIVE"] === "1";

export function test(name: string, body: Body): void;
export function test(name: string, options: TestOptions, body: Body): void;
export function test(name: string, options: TestOptions | Body, body?: Body): void {
  const [opts, fn] = typeof options === "function" ? [{}, options] : [options, body!];
  for (const which of backends) {
    const missing = which === "native" && !nativeAvailable();
    const skip = opts.skip ?? (missing && !required ? "the native addon is not built" : false);
    nodeTest(`${name} [${which}]`, { ...opts, skip }, async (t) => {
      if (missing) throw new Error("CELLARIUM_REQUIRE_NATIVE=1 but the native addon did not load");
      const before = kernels().name;
      useKernels(which);
      try {
        await fn(t);
      } finally {
        useKernels(before);
      }
    });
  }
}

/** `native` on the native kernels, `typescript` on the fallback: a size for a test slow on the latter. */
export function bySize<T>(sizes: { native: T; typescript: T }): T {
  return sizes[kernels().name];
}
