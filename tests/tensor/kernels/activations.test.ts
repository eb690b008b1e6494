import assert from "node:assert/strict";
import { test } from "node:test";
import { ArgumentError } from "../../../src/errors.js";
import { erf } from "../../../src/tensor/special.js";
import { allocate, backend, backends, dtypes, skipUnless, tolerance } from "../../helpers/matrices.js";

const xs = [-8, -3, -1, -0.5, -1e-40, 0, 1e-35, 0.25, 1, 2.5, 6];
const phi = (v: number) => 0.5 * (1 + erf(v / Math.SQRT2));
const density = (v: number) => Math.exp(-0.5 * v * v) / Math.sqrt(2 * Math.PI);

for (const which of backends) {
  for (const dtype of dtypes) {
    test(
      `gelu and geluBackward (${which}, ${dtype}) follow x Phi(x) and Phi(x) + x phi(x)`,
      skipUnless(which),
      () => {
        const k = backend(which);
        const x = allocate(dtype, xs.length);
        x.set(xs);
        const y = allocate(dtype, xs.length);
        k.gelu({ n: xs.length, x, y });
        const tol = tolerance(dtype);
        xs.forEach((_, i) => {
          const v = x[i]!;
          // 1e-14 absolute: the reference's 1 + erf cancels at x = -8 (Phi(-8) = 6.2e-16)
          assert.ok(
            Math.abs(y[i]! - v * phi(v)) <= tol * Math.abs(v * phi(v)) + 1e-14,
            `gelu(${v}) = ${y[i]}`,
          );
        });
        const g = allocate(dtype, xs.length).fill(1.5);
        const dx = allocate(dtype, xs.length);
        k.geluBackward({ n: xs.length, g, x, y, dx });
        xs.forEach((_, i) => {
          const v = x[i]!;
          const expected = 1.5 * (phi(v) + v * density(v));
          assert.ok(
            Math.abs(dx[i]! - expected) <= tol * (1 + Math.abs(expected)),
            `gelu'(${v}) = ${dx[i]} vs ${expected}`,
          );
        });
        assert.throws(() => k.gelu({ n: xs.length, x, y: allocate(dtype, 2) }), ArgumentError);
      },
    );
  }
}
