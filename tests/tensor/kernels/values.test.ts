import assert from "node:assert/strict";
import { test } from "node:test";
import { ArgumentError } from "../../../src/errors.js";
import { backend, backends, skipUnless } from "../../helpers/matrices.js";

/** Float32 values spread over every exponent from 2^-126 up (log1p's domain here: counts, >= 0). */
function float32Sweep(): Float32Array {
  const bits = new Uint32Array(1);
  const value = new Float32Array(bits.buffer);
  const out: number[] = [];
  for (let exponent = 1; exponent < 255; exponent++) {
    for (let m = 0; m < 400; m++) {
      bits[0] = (exponent << 23) | ((m * 20_971) & 0x7fffff);
      out.push(value[0]!);
    }
  }
  return Float32Array.from(out);
}

for (const which of backends) {
  test(
    `log1p (${which}) equals Math.log1p rounded to float32 across the float32 range`,
    skipUnless(which),
    () => {
      const k = backend(which);
      const x = float32Sweep();
      // Odd lengths and offsets exercise the vector loops' remainders.
      const y = new Float32Array(x.length + 3).subarray(3);
      assert.equal(k.log1p({ n: x.length, x, y }), x.length);
      for (let i = 0; i < x.length; i++) {
        assert.equal(y[i], Math.fround(Math.log1p(x[i]!)), `log1p(${x[i]})`);
      }
      assert.ok(x.length > 100_000);
    },
  );

  test(`log1p (${which}) of the special values, and in place`, skipUnless(which), () => {
    const k = backend(which);
    const x = Float32Array.from([Number.POSITIVE_INFINITY, Number.NaN, 0, -0, 1e-30, 1e-5, 3]);
    assert.equal(k.log1p({ n: x.length, x, y: x }), x.length);
    assert.deepEqual([...x.subarray(0, 4)], [Number.POSITIVE_INFINITY, Number.NaN, 0, -0]);
    assert.ok(Object.is(x[3], -0));
    assert.deepEqual(
      [...x.subarray(4)],
      [1e-30, 1e-5, 3].map((v) => Math.fround(Math.log1p(Math.fround(v)))),
    );
    assert.throws(() => k.log1p({ n: 10, x, y: x }), ArgumentError);
    assert.throws(
      () => k.log1p({ n: 2, x: new Float64Array(2) as unknown as Float32Array, y: x }),
      ArgumentError,
    );
  });

  test(`normalizeRows (${which}) rounds like float32 torch on CSR and dense rows`, skipUnless(which), () => {
    const k = backend(which);
    const counts = Float32Array.from([3, 1, 7, 2, 9, 4, 5]);
    const totals = Float32Array.from([11.000001, 3, 0.7, 13]);
    const eps = 1e-6;
    const expect = (value: number, total: number) =>
      Math.fround(Math.fround(Math.fround(1e4) * value) / Math.fround(total + Math.fround(eps)));
    // CSR: rows [0, 2), [2, 2) (empty), [2, 5), [5, 7).
    const rowPtr = Int32Array.from([0, 2, 2, 5, 7]);
    const rowOf = [0, 0, 2, 2, 2, 3, 3];
    const y = new Float32Array(counts.length);
    k.normalizeRows({ rows: 4, rowPtr, rowLen: 0, x: counts, target: 1e4, eps, totals, y });
    assert.deepEqual(
      [...y],
      [...counts].map((v, p) => expect(v, totals[rowOf[p]!]!)),
    );
    // Without totals: the row sums 4, 0, 18, 9.
    const sums = [4, 0, 18, 9];
    k.normalizeRows({ rows: 4, rowPtr, rowLen: 0, x: counts, target: 1e4, eps, totals: null, y });
    assert.deepEqual(
      [...y],
      [...counts].map((v, p) => expect(v, sums[rowOf[p]!]!)),
    );
    // Dense: 2 rows of 3 values, in place; the sums run in double (2^24 + 1 + 1 = 2^24 + 2).
    const dense = Float32Array.from([2 ** 24, 1, 1, 4, 5, 6]);
    k.normalizeRows({
      rows: 2,
      rowPtr: null,
      rowLen: 3,
      x: dense,
      target: 2 ** 24 + 2,
      eps: 0,
      totals: null,
      y: dense,
    });
    assert.deepEqual(
      [...dense],
      [2 ** 24, 1, 1, ...[4, 5, 6].map((v) => Math.fround(Math.fround((2 ** 24 + 2) * v) / 15))],
    );
    // The CSR call above, but for the field each case breaks.
    const csr = { rows: 4, rowPtr, rowLen: 0, x: counts, target: 1e4, eps, totals: null, y };
    assert.throws(
      () => k.normalizeRows({ ...csr, rowPtr: Int32Array.from([0, 2, 1, 5, 7]) }),
      /non-decreasing/,
    );
    assert.throws(() => k.normalizeRows({ ...csr, y: new Float32Array(3) }), ArgumentError);
    assert.throws(
      () => k.normalizeRows({ ...csr, rows: 3, rowPtr: null, rowLen: 3, x: dense, y: dense }),
      ArgumentError,
    );
    assert.throws(() => k.normalizeRows({ ...csr, totals: Float32Array.from([1]) }), ArgumentError);
  });
}

for (const which of backends) {
  test(
    `csrColumnMoments (${which}) adds each entry's shifted value, square and count to its gene`,
    skipUnless(which),
    () => {
      const k = backend(which);
      const indices = Int32Array.from([2, 0, 2, 1, 2]);
      const values = Float32Array.from([1.5, 4, -2, 0.25, 3]);
      const shift = Float64Array.from([1, 0.5, 2]);
      // [sum, squared sum, count] per gene; gene 0 starts from earlier sums.
      const moments = Float64Array.from([10, 1, 2, 0, 0, 0, 0, 0, 0]);
      k.csrColumnMoments({ indices, values, shift, moments });
      // gene 0: 4 - 1 = 3; gene 1: 0.25 - 0.5; gene 2: -0.5, -4, 1.
      assert.deepEqual([...moments], [13, 10, 3, -0.25, 0.0625, 1, -3.5, 0.25 + 16 + 1, 3]);
      const plain = new Float64Array(9);
      k.csrColumnMoments({ indices, values, shift: null, moments: plain });
      assert.deepEqual([...plain], [4, 16, 1, 0.25, 0.0625, 1, 2.5, 2.25 + 4 + 9, 3]);
      assert.throws(
        () => k.csrColumnMoments({ indices: Int32Array.from([0, 3]), values, shift: null, moments: plain }),
        /indices\[1\] = 3 is outside the 3 genes/,
      );
      assert.throws(
        () => k.csrColumnMoments({ indices: Int32Array.from([-1]), values, shift: null, moments: plain }),
        /indices\[0\] = -1 is outside/,
      );
      assert.throws(
        () => k.csrColumnMoments({ indices, values, shift, moments: new Float64Array(8) }),
        ArgumentError,
      );
      assert.throws(
        () => k.csrColumnMoments({ indices, values, shift: new Float64Array(2), moments: plain }),
        ArgumentError,
      );
    },
  );
}

for (const which of backends) {
  test(
    `log1p and normalizeRows (${which}) stop at the first negative input, leaving it in place`,
    skipUnless(which),
    () => {
      const k = backend(which);
      const clean = [0, -0, 1, 2, 3, 4, 5];
      for (const negative of [-1e-40, -3, Number.NEGATIVE_INFINITY]) {
        for (const at of [0, 5, 1500, 2999]) {
          // Two rows of 1,500 (CSR pointers) or 1,000 (dense, 3 rows); the negative past the
          // first vector chunk in most cases; a later negative too: the first is reported.
          const x = Float32Array.from({ length: 3000 }, (_, i) => clean[i % 7]!);
          x[at] = negative;
          x[2999] = -7;
          const input = x.slice();
          const y = x; // in place
          const label = `${negative} at ${at}`;
          assert.equal(k.log1p({ n: x.length, x, y }), at, `log1p ${label}`);
          assert.deepEqual(x.subarray(at), input.subarray(at), `log1p leaves the rest: ${label}`);
          const z = input.slice();
          assert.equal(
            k.normalizeRows({
              rows: 2,
              rowPtr: Int32Array.from([0, 1500, 3000]),
              rowLen: 0,
              x: z,
              target: 1e4,
              eps: 1e-6,
              totals: null,
              y: z,
            }),
            at,
          );
          const row = at < 1500 ? 0 : 1500;
          assert.deepEqual(z.subarray(row), input.subarray(row), `normalizeRows leaves the row: ${label}`);
          const w = input.slice();
          const totals = Float32Array.from([1, 2, 3]);
          assert.equal(
            k.normalizeRows({
              rows: 3,
              rowPtr: null,
              rowLen: 1000,
              x: w,
              target: 1e4,
              eps: 1e-6,
              totals,
              y: w,
            }),
            at,
          );
        }
      }
      const x = Float32Array.from({ length: 2000 }, (_, i) => clean[i % 7]!);
      assert.equal(k.log1p({ n: x.length, x, y: new Float32Array(x.length) }), 2000);
      assert.equal(
        k.normalizeRows({
          rows: 2,
          rowPtr: null,
          rowLen: 1000,
          x,
          target: 1e4,
          eps: 1e-6,
          totals: null,
          y: new Float32Array(2000),
        }),
        2000,
      );
    },
  );

  test(
    `findBadValue (${which}) finds the first NaN, infinity or (when asked) negative`,
    skipUnless(which),
    () => {
      const k = backend(which);
      const n = 5000;
      for (const [bad, nonnegative, found] of [
        [Number.NaN, false, true],
        [Number.POSITIVE_INFINITY, false, true],
        [Number.NEGATIVE_INFINITY, false, true],
        [-2, false, false],
        [-2, true, true],
        [-0, true, false],
        [-1e-45, true, true],
      ] as const) {
        for (const at of [0, 1023, 1024, 4999]) {
          const x = new Float32Array(n).map((_, i) => (i * 7) % 13);
          x[at] = bad;
          // A second bad value later: the first is reported.
          if (at + 1 < n) x[n - 1] = bad;
          const expected = found ? at : n;
          assert.equal(
            k.findBadValue({ n, x, nonnegative, copyTo: null }),
            expected,
            `${bad} at ${at}, nonnegative ${nonnegative}`,
          );
        }
      }
      assert.equal(k.findBadValue({ n: 0, x: new Float32Array(0), nonnegative: true, copyTo: null }), 0);
      assert.throws(
        () => k.findBadValue({ n: 10, x: new Float32Array(5), nonnegative: false, copyTo: null }),
        ArgumentError,
      );
    },
  );

  test(`firstNonInteger (${which}) finds the first value that Math.trunc changes`, skipUnless(which), () => {
    const k = backend(which);
    const n = 5000;
    const definition = (x: Float32Array, count: number) => {
      for (let p = 0; p < count; p++) if (Math.trunc(x[p]!) !== x[p]) return p;
      return count;
    };
    for (const odd of [0.5, -2.25, 1e-45, 8388607.5, Number.NaN, Number.POSITIVE_INFINITY, -0, 16777216]) {
      for (const at of [0, 1023, 1024, 4999]) {
        const x = new Float32Array(n).map((_, i) => ((i * 7) % 13) - 3);
        x[at] = odd;
        if (at + 1 < n) x[n - 1] = 0.25;
        assert.equal(k.firstNonInteger({ n, x }), definition(x, n), `${odd} at ${at}`);
        assert.equal(k.firstNonInteger({ n: at, x }), definition(x, at), `${odd} beyond n = ${at}`);
      }
    }
    assert.equal(k.firstNonInteger({ n: 0, x: new Float32Array(0) }), 0);
    assert.throws(() => k.firstNonInteger({ n: 10, x: new Float32Array(5) }), ArgumentError);
  });

  test(`findBadIndex (${which}) finds out-of-range, unsorted and repeated columns`, skipUnless(which), () => {
    const k = backend(which);
    const indptr = Int32Array.from([0, 3, 3, 6, 7]);
    const good = Int32Array.from([0, 4, 9, 1, 2, 3, 9]);
    assert.equal(k.findBadIndex({ rows: 4, indptr, indices: good, cols: 10, copyTo: null }), 7);
    for (const [position, value] of [
      [2, 10], // out of range
      [6, -1], // negative
      [4, 1], // repeated
      [5, 0], // unsorted
      [3, 10],
    ] as const) {
      const indices = good.slice();
      indices[position] = value;
      assert.equal(
        k.findBadIndex({ rows: 4, indptr, indices, cols: 10, copyTo: null }),
        position,
        `indices[${position}] = ${value}`,
      );
    }
    // A long row: the bad index past the first vector chunk.
    const long = Int32Array.from({ length: 3000 }, (_, i) => i);
    long[2500] = 2499;
    assert.equal(
      k.findBadIndex({
        rows: 1,
        indptr: Int32Array.from([0, 3000]),
        indices: long,
        cols: 3000,
        copyTo: null,
      }),
      2500,
    );
    assert.throws(
      () =>
        k.findBadIndex({
          rows: 2,
          indptr: Int32Array.from([0, 5, 3]),
          indices: good,
          cols: 10,
          copyTo: null,
        }),
      ArgumentError,
    );
  });
}

for (const which of backends) {
  test(
    `findBadValue and findBadIndex (${which}) copy the whole input when given copyTo, reporting the same position`,
    skipUnless(which),
    () => {
      const k = backend(which);
      for (const at of [-1, 3, 1500, 2999]) {
        const x = Float32Array.from({ length: 3000 }, (_, i) => (i * 5) % 17);
        if (at >= 0) x[at] = Number.NaN;
        if (at >= 0 && at < 2000) x[2500] = Number.POSITIVE_INFINITY;
        const copy = new Float32Array(3000).fill(-1);
        const found = k.findBadValue({ n: 3000, x, nonnegative: false, copyTo: copy });
        assert.equal(found, k.findBadValue({ n: 3000, x, nonnegative: false, copyTo: null }));
        assert.equal(found, at >= 0 ? at : 3000);
        assert.deepEqual(copy, x);
      }
      const indptr = Int32Array.from([0, 1200, 1200, 3000]);
      for (const at of [-1, 0, 1100, 2999]) {
        const indices = Int32Array.from({ length: 3000 }, (_, p) => (p < 1200 ? p : p - 1200));
        if (at >= 0) indices[at] = at === 0 ? 5000 : indices[at - 1]!;
        const copy = new Int32Array(3000).fill(-1);
        const found = k.findBadIndex({ rows: 3, indptr, indices, cols: 4000, copyTo: copy });
        assert.equal(found, k.findBadIndex({ rows: 3, indptr, indices, cols: 4000, copyTo: null }));
        assert.equal(found, at >= 0 ? at : 3000);
        assert.deepEqual(copy, indices);
      }
      assert.throws(
        () =>
          k.findBadValue({ n: 10, x: new Float32Array(10), nonnegative: false, copyTo: new Float32Array(5) }),
        ArgumentError,
      );
    },
  );
}

for (const which of backends) {
  test(
    `keepLargest (${which}) keeps each slot's largest values, whatever their order, as sorting them does`,
    skipUnless(which),
    () => {
      const k = backend(which);
      // 5 columns in 2 categories (slots 0-4 and 5-9), 4 kept each; ties and many small values.
      const cols = 5;
      const kept = 4;
      const minima = new Float32Array(2 * cols);
      const heaps = new Float32Array(2 * cols * kept);
      const all: number[][] = Array.from({ length: 2 * cols }, () => []);
      let state = 12345;
      const next = () => (state = (state * 1103515245 + 12345) % 2 ** 31);
      for (let block = 0; block < 6; block++) {
        const base = (block % 2) * cols;
        const indices = Int32Array.from({ length: 40 }, () => next() % cols);
        const values = Float32Array.from({ length: 40 }, () => (next() % 7) + (next() % 97 === 0 ? 100 : 0));
        for (let p = 0; p < indices.length; p++) all[base + indices[p]!]!.push(values[p]!);
        // Every other block also sums its values per column, as csrColumnMoments does, bit for bit.
        const moments = block % 3 === 0 ? null : new Float64Array(3 * cols);
        k.keepLargest({ indices, values, cols, base, kept, minima, heaps, moments });
        if (moments !== null) {
          const expected = new Float64Array(3 * cols);
          k.csrColumnMoments({ indices, values, shift: null, moments: expected });
          assert.deepEqual(moments, expected, `block ${block}'s moments`);
        }
      }
      for (let slot = 0; slot < 2 * cols; slot++) {
        const expected = [...all[slot]!, 0, 0, 0, 0].sort((a, b) => b - a).slice(0, kept);
        const got = [...heaps.subarray(slot * kept, (slot + 1) * kept)].sort((a, b) => b - a);
        assert.deepEqual(got, expected, `slot ${slot}`);
        assert.equal(minima[slot], expected[kept - 1], `minimum of slot ${slot}`);
      }
      // One value of column 0 into slot base, unless the case changes a field.
      const keepOne = (fields: Partial<Parameters<typeof k.keepLargest>[0]>) => () =>
        k.keepLargest({
          indices: Int32Array.of(0),
          values: Float32Array.of(1),
          cols,
          base: 0,
          kept,
          minima,
          heaps,
          moments: null,
          ...fields,
        });
      assert.throws(
        keepOne({ indices: Int32Array.from([1, 5]), values: Float32Array.of(1, 2) }),
        /keepLargest: indices\[1\] = 5 is outside the 5 columns/,
      );
      assert.throws(keepOne({ base: 6 }), ArgumentError);
      assert.throws(keepOne({ moments: new Float64Array(3 * cols - 1) }), ArgumentError);
    },
  );
}
