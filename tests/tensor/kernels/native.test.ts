import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { ArgumentError } from "../../../src/errors.js";
import { kernels, nativeAvailable, useKernels } from "../../../src/tensor/kernels/index.js";
import { backend, backends, skipUnless } from "../../helpers/matrices.js";

const root = new URL("../../../", import.meta.url).pathname;

const required = process.env["CELLARIUM_REQUIRE_NATIVE"] === "1";

test("the addon is loaded when CELLARIUM_REQUIRE_NATIVE=1 (CI), so CI cannot test only the fallback", {
  skip: required ? false : "CELLARIUM_REQUIRE_NATIVE is not 1",
}, () => {
  assert.ok(nativeAvailable(), "CELLARIUM_REQUIRE_NATIVE=1 but the native addon did not load");
});

test("native kernels are the default when the addon loads", skipUnless("native"), () => {
  assert.equal(kernels().name, "native");
});

test("CELLARIUM_NATIVE=0 selects the TypeScript kernels and useKernels('native') then fails", () => {
  const script = [
    "const k = await import('./src/tensor/kernels/index.ts');",
    "let error = '';",
    "try { k.useKernels('native'); } catch (e) { error = e.name + ': ' + e.message; }",
    "console.log(JSON.stringify({ name: k.kernels().name, available: k.nativeAvailable(), error }));",
  ].join("\n");
  const child = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    cwd: root,
    env: { ...process.env, CELLARIUM_NATIVE: "0" },
    encoding: "utf8",
  });
  assert.equal(child.status, 0, child.stderr);
  assert.deepEqual(JSON.parse(child.stdout), {
    name: "typescript",
    available: false,
    error: "ArgumentError: useKernels: the native addon is not available: disabled by CELLARIUM_NATIVE=0",
  });
});

test("useKernels rejects an unknown backend", () => {
  assert.throws(() => useKernels("wasm" as "native"), ArgumentError);
});

for (const which of backends) {
  test(`thread count (${which}): set, read back, invalid values rejected`, skipUnless(which), () => {
    const kernels = backend(which);
    const before = kernels.getNumThreads();
    assert.ok(before >= 1);
    kernels.setNumThreads(1);
    assert.equal(kernels.getNumThreads(), 1);
    kernels.setNumThreads(before);
    assert.equal(kernels.getNumThreads(), before);
    assert.throws(() => kernels.setNumThreads(0), ArgumentError);
    assert.throws(() => kernels.setNumThreads(1.5), ArgumentError);
  });
}
