// The embedding scatter's coordinates: the seeded cell sample and the 2-D UMAP of well-separated
// clusters (they must stay separated, and the layout must repeat under the same seed).

import assert from "node:assert/strict";
import { test } from "node:test";
import { firstTwoColumns, sampleCells, umapPlane } from "../../src/report/embedding.js";
import { Generator } from "../../src/tensor/random.js";

test("sampleCells: max distinct sorted cells, the same for a seed, all cells when there are few", () => {
  const a = sampleCells(100_000, 500, 7);
  assert.equal(a.length, 500);
  assert.equal(new Set(a).size, 500);
  for (let i = 1; i < a.length; i++) assert.ok(a[i - 1]! < a[i]!);
  assert.ok(a[0]! >= 0 && a.at(-1)! < 100_000);
  // Spread over the range, not its start: a uniform sample of 500 has cells in every tenth.
  for (let tenth = 0; tenth < 10; tenth++)
    assert.ok(
      a.some((i) => Math.floor(i / 10_000) === tenth),
      `no cell in tenth ${tenth}`,
    );
  assert.deepEqual(sampleCells(100_000, 500, 7), a);
  assert.notDeepEqual(sampleCells(100_000, 500, 8), a);
  assert.deepEqual(sampleCells(4, 500, 7), Int32Array.of(0, 1, 2, 3));
});

test("firstTwoColumns: columns 0 and 1 of a row-major matrix", () => {
  const plane = firstTwoColumns([1, 2, 3, 4, 5, 6], 2, 3);
  assert.deepEqual(Array.from(plane.x), [1, 4]);
  assert.deepEqual(Array.from(plane.y), [2, 5]);
  assert.throws(() => firstTwoColumns([1, 2], 2, 1), /needs 2 columns, the embedding has 1/);
});

/** `perCluster` points around each of `clusters` far-apart centres in `k` dimensions. */
function clusteredRows(
  clusters: number,
  perCluster: number,
  k: number,
): { data: Float64Array; label: number[] } {
  const rng = new Generator(3);
  const n = clusters * perCluster;
  const data = new Float64Array(n * k);
  const label: number[] = [];
  for (let i = 0; i < n; i++) {
    const c = i % clusters;
    label.push(c);
    for (let j = 0; j < k; j++) data[i * k + j] = (j === c ? 20 : 0) + rng.nextDouble();
  }
  return { data, label };
}

test("umapPlane: well-separated clusters stay apart in the plane; the same seed gives the same layout", () => {
  const clusters = 4;
  const k = 8;
  const { data, label } = clusteredRows(clusters, 60, k);
  const n = label.length;
  const plane = umapPlane(data, n, k, 11);
  assert.equal(plane.x.length, n);
  // Every point is nearer its own cluster's centroid than any other cluster's, by a margin.
  const centre = Array.from({ length: clusters }, (_, c) => {
    const members = label.flatMap((l, i) => (l === c ? [i] : []));
    const mean = (v: Float64Array) => members.reduce((s, i) => s + v[i]!, 0) / members.length;
    return [mean(plane.x), mean(plane.y)] as const;
  });
  const distance = (i: number, c: number) =>
    Math.hypot(plane.x[i]! - centre[c]![0], plane.y[i]! - centre[c]![1]);
  let worst = 0;
  for (let i = 0; i < n; i++) {
    const own = distance(i, label[i]!);
    const other = Math.min(...centre.map((_, c) => (c === label[i] ? Infinity : distance(i, c))));
    worst = Math.max(worst, own / other);
  }
  assert.ok(worst < 0.5, `a point is ${worst.toFixed(2)} times as far from its centroid as from another`);

  const again = umapPlane(data, n, k, 11);
  assert.deepEqual(again.x, plane.x);
  assert.deepEqual(again.y, plane.y);
  assert.notDeepEqual(umapPlane(data, n, k, 12).x, plane.x);
  assert.throws(() => umapPlane(data, 2, k, 11), /UMAP needs at least 3 cells, got 2/);
});
