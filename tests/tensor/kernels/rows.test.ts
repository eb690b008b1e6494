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

const [rows, len] = [5, 7];

// float64 references by the definitions
function softmaxReference(x: ArrayLike<number>, bias: ArrayLike<number> | null): number[] {
  const out: number[] = [];
  for (let r = 0; r < rows; r++) {
    const row = Array.from({ length: len }, (_, j) => x[r * len + j]! + (bias ? bias[j]! : 0));
    const m = Math.max(...row);
    const e = row.map((v) => Math.exp(v - m));
    const total = e.reduce((a, b) => a + b);
    out.push(...e.map((v) => v / total));
  }
  return out;
}

function assertNear(actual: ArrayLike<number>, expected: number[], tol: number): void {
  for (let i = 0; i < expected.length; i++) {
    assert.ok(
      Math.abs(actual[i]! - expected[i]!) <= tol * (1 + Math.abs(expected[i]!)),
      `element ${i}: ${actual[i]} vs ${expected[i]}`,
    );
  }
}

const keep = Uint8Array.from({ length: rows * len }, (_, i) => ((i * 7) % 3 === 0 ? 0 : 1));

for (const which of backends) {
  for (const dtype of dtypes) {
    test(
      `softmaxRows (${which}, ${dtype}): softmax of each row after adding the shared bias row`,
      skipUnless(which),
      () => {
        const k = backend(which);
        const x = randomArray(dtype, rows * len, 1);
        const bias = randomArray(dtype, len, 2);
        bias[3] = -3.4e38; // a masked key gets probability 0
        const expected = softmaxReference(x, bias);
        const y = x.slice();
        k.softmaxRows({ rows, len, x: y, bias });
        assertNear(y, expected, tolerance(dtype));
        for (let r = 0; r < rows; r++) assert.equal(y[r * len + 3], 0);
        const plain = x.slice();
        k.softmaxRows({ rows, len, x: plain, bias: null });
        assertNear(plain, softmaxReference(x, null), tolerance(dtype));
        // an all -inf row gives NaN, as torch
        const inf = allocate(dtype, len).fill(-Infinity);
        k.softmaxRows({ rows: 1, len, x: inf, bias: null });
        assert.ok(inf.every(Number.isNaN));
        assert.throws(
          () => k.softmaxRows({ rows, len, x: allocate(dtype, rows * len - 1), bias: null }),
          ArgumentError,
        );
      },
    );

    test(
      `softmaxBackwardRows (${which}, ${dtype}): softmax Jacobian with the dropout mask folded in`,
      skipUnless(which),
      () => {
        const k = backend(which);
        const p = Float64Array.from(softmaxReference(randomArray("float64", rows * len, 3), null));
        const pd = allocate(dtype, rows * len);
        pd.set(p);
        const g = randomArray(dtype, rows * len, 4);
        for (const mask of [null, keep]) {
          const scale = mask ? 1 / 0.7 : 1;
          const gm = Array.from(g, (v, i) => (mask && mask[i] === 0 ? 0 : v * scale));
          const expected: number[] = [];
          for (let r = 0; r < rows; r++) {
            let dot = 0;
            for (let j = 0; j < len; j++) dot += gm[r * len + j]! * pd[r * len + j]!;
            for (let j = 0; j < len; j++) expected.push(pd[r * len + j]! * (gm[r * len + j]! - dot));
          }
          const out = g.slice();
          k.softmaxBackwardRows({ rows, len, p: pd, g: out, keep: mask, keepScale: scale });
          assertNear(out, expected, tolerance(dtype));
        }
        assert.throws(
          () => k.softmaxBackwardRows({ rows, len, p: pd, g, keep: new Uint8Array(3), keepScale: 1 }),
          ArgumentError,
        );
      },
    );

    test(
      `maskedScale (${which}, ${dtype}): kept elements scaled, the rest zero, in place too`,
      skipUnless(which),
      () => {
        const k = backend(which);
        const src = randomArray(dtype, rows * len, 5);
        const dst = allocate(dtype, rows * len);
        k.maskedScale({ n: rows * len, src, keep, scale: 2.5, dst });
        const expected = Array.from(src, (v, i) => (keep[i] === 0 ? 0 : v * 2.5));
        assertNear(dst, expected, tolerance(dtype));
        k.maskedScale({ n: rows * len, src, keep, scale: 2.5, dst: src });
        assertNear(src, expected, tolerance(dtype));
        assert.throws(
          () => k.maskedScale({ n: rows * len, src, keep: keep.subarray(1), scale: 2.5, dst }),
          ArgumentError,
        );
        assert.throws(
          () =>
            k.maskedScale({ n: 2, src, keep: new Float32Array(2) as unknown as Uint8Array, scale: 1, dst }),
          ArgumentError,
        );
      },
    );
  }
}

for (const which of backends) {
  test(
    `dropoutKeep (${which}): draw 2j is the low half of word j, 2j + 1 the high half`,
    skipUnless(which),
    () => {
      const k = backend(which);
      const words = Uint32Array.of(0x0001ffff, 0x80007fff, 0x00000100);
      const keep = new Uint8Array(5);
      k.dropoutKeep({ n: 5, words, threshold: 0x7fff, keep });
      // halves in order: 0xffff, 0x0001, 0x7fff, 0x8000, 0x0100
      assert.deepEqual([...keep], [1, 0, 1, 1, 0]);
      assert.throws(
        () => k.dropoutKeep({ n: 7, words, threshold: 1, keep: new Uint8Array(7) }),
        ArgumentError,
      );
      assert.throws(
        () => k.dropoutKeep({ n: 5, words, threshold: 1, keep: new Uint8Array(4) }),
        ArgumentError,
      );
    },
  );
}

for (const which of backends) {
  for (const dtype of dtypes) {
    test(
      `transpose (${which}, ${dtype}) puts src[r, c] at dst[c, r], across tile edges`,
      skipUnless(which),
      () => {
        const k = backend(which);
        for (const [rows, cols] of [
          [1, 1],
          [3, 70],
          [65, 33],
        ] as const) {
          const src = randomArray(dtype, rows * cols, rows + cols);
          const dst = allocate(dtype, rows * cols);
          k.transpose({ rows, cols, src, dst });
          for (let r = 0; r < rows; r++)
            for (let c = 0; c < cols; c++) assert.equal(dst[c * rows + r], src[r * cols + c]);
        }
        assert.throws(
          () => k.transpose({ rows: 2, cols: 3, src: allocate(dtype, 5), dst: allocate(dtype, 6) }),
          /src/,
        );
      },
    );
  }
}
