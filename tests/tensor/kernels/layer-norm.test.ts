import assert from "node:assert/strict";
import { test } from "node:test";
import { ArgumentError } from "../../../src/errors.js";
import {
  allocate,
  backend,
  backends,
  dtypes,
  randomArray,
  skipUnless,
  tolerance,
} from "../../helpers/matrices.js";

const [rows, len, eps] = [4, 6, 1e-5];

function near(actual: ArrayLike<number>, expected: number[], tol: number, what: string): void {
  for (let i = 0; i < expected.length; i++) {
    assert.ok(
      Math.abs(actual[i]! - expected[i]!) <= tol * (1 + Math.abs(expected[i]!)),
      `${what} ${i}: ${actual[i]} vs ${expected[i]}`,
    );
  }
}

for (const which of backends) {
  for (const dtype of dtypes) {
    test(
      `layerNormRows and its backward (${which}, ${dtype}) follow the definitions`,
      skipUnless(which),
      () => {
        const k = backend(which);
        const x = randomArray(dtype, rows * len, 1);
        const w = randomArray(dtype, len, 2);
        const b = randomArray(dtype, len, 3);
        const g = randomArray(dtype, rows * len, 4);
        const xhat: number[] = [];
        const stats: Array<[number, number]> = [];
        for (let r = 0; r < rows; r++) {
          const row = Array.from(x.subarray(r * len, (r + 1) * len));
          const mu = row.reduce((a, c) => a + c) / len;
          const rs = 1 / Math.sqrt(row.reduce((a, c) => a + (c - mu) ** 2, 0) / len + eps);
          stats.push([mu, rs]);
          xhat.push(...row.map((v) => (v - mu) * rs));
        }
        const y = allocate(dtype, rows * len);
        const mean = new Float64Array(rows);
        const rstd = new Float64Array(rows);
        k.layerNormRows({ rows, len, x, w, b, eps, y, mean, rstd });
        const tol = tolerance(dtype);
        near(
          y,
          xhat.map((h, i) => h * w[i % len]! + b[i % len]!),
          tol,
          "y",
        );
        near(
          mean,
          stats.map(([m]) => m),
          tol,
          "mean",
        );
        // backward: dx by the closed form, dw = sum g xhat, db = sum g
        const dx = allocate(dtype, rows * len);
        const dw = allocate(dtype, len);
        const db = allocate(dtype, len);
        k.layerNormBackwardRows({ rows, len, g, x, w, mean, rstd, dx, dw, db });
        const expectedDx: number[] = [];
        for (let r = 0; r < rows; r++) {
          const gh = Array.from({ length: len }, (_, j) => g[r * len + j]! * w[j]!);
          const h = xhat.slice(r * len, (r + 1) * len);
          const m1 = gh.reduce((a, c) => a + c) / len;
          const m2 = gh.reduce((a, c, j) => a + c * h[j]!, 0) / len;
          expectedDx.push(...gh.map((v, j) => stats[r]![1] * (v - m1 - h[j]! * m2)));
        }
        near(dx, expectedDx, tol, "dx");
        near(
          dw,
          Array.from({ length: len }, (_, j) =>
            [0, 1, 2, 3].reduce((a, r) => a + g[r * len + j]! * xhat[r * len + j]!, 0),
          ),
          tol,
          "dw",
        );
        near(
          db,
          Array.from({ length: len }, (_, j) => [0, 1, 2, 3].reduce((a, r) => a + g[r * len + j]!, 0)),
          tol,
          "db",
        );
        // without affine parameters and with only dx requested
        const plain = allocate(dtype, rows * len);
        k.layerNormRows({ rows, len, x, w: null, b: null, eps, y: plain, mean, rstd });
        near(plain, xhat, tol, "plain y");
        assert.throws(
          () => k.layerNormRows({ rows, len, x, w, b, eps, y, mean: new Float64Array(rows - 1), rstd }),
          ArgumentError,
        );
        assert.throws(
          () =>
            k.layerNormBackwardRows({
              rows,
              len,
              g,
              x,
              w: allocate(dtype, len - 1),
              mean,
              rstd,
              dx,
              dw: null,
              db: null,
            }),
          ArgumentError,
        );
      },
    );
  }
}
