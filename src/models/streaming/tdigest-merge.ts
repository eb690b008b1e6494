// The compression pass of a merging t-digest (Dunning & Ertl, "Computing extremely accurate
// quantiles using t-digests", 2019): two runs of centroids sorted by mean are merged and
// greedily packed into centroids bounded on the k1 scale, in crick's normalisation
// k(q) = compression / pi * (asin(2q - 1) + pi / 2), which runs over [0, compression].
//
// One addition to crick, for count data with heavy ties: a centroid remembers whether all its
// values are equal ("pure"), and a pure centroid absorbs further copies of its value beyond the
// k1 bound. A value shared by many cells then stays one atom instead of being blended with its
// neighbours, which is what lets a median fall exactly on it (a blend of 1s and 2s would put
// the median between them, off by the whole tie in rank). Values that differ obey the bound as in
// crick, so a new centroid still starts only when the current one plus the next item would span
// more than 1 on the k scale, and the capacity bound of 2 * compression + 1 centroids holds.

/** A run of centroids sorted by mean, [start, start + count) of the arrays. */
export interface CentroidRun {
  readonly means: Float32Array | Float64Array;
  /** Null: every weight is 1 (raw values). */
  readonly weights: Float64Array | null;
  /** 1 where all of a centroid's values equal its mean; null: all pure (raw values). */
  readonly pure: Uint8Array | null;
  readonly start: number;
  readonly count: number;
}

/** Where the merged centroids go, from index 0; their arrays' length is the capacity. */
export interface CentroidOutput {
  readonly means: Float64Array;
  readonly weights: Float64Array;
  readonly pure: Uint8Array;
}

/**
 * Merges runs a and b (total weight `total`) into `out`; returns the number of centroids written.
 * Crick's rule: an item joins the current centroid while k(q_after) - k(q_start) <= 1. It is solved
 * once per centroid for the largest cumulative weight the centroid may reach, so the loop takes
 * one square root per centroid instead of one asin per item. On equal means a goes first (crick
 * puts existing centroids before buffered values).
 */
export function mergeCompress(
  a: CentroidRun,
  b: CentroidRun,
  total: number,
  compression: number,
  out: CentroidOutput,
): number {
  // With theta = acos(1 - 2q), k = compression * theta / pi, so k + 1 is theta + delta and
  // q_limit = (1 - cos(theta + delta)) / 2 = (1 - (1 - 2q) cos delta + 2 sqrt(q (1 - q)) sin delta) / 2,
  // written below for weights (w = total * q). Past theta = pi - delta the limit is the end.
  const delta = Math.PI / compression;
  const cosDelta = Math.cos(delta);
  const sinDelta = Math.sin(delta);
  const lastStart = (total * (1 + cosDelta)) / 2;
  const { means: aMeans, weights: aWeights, pure: aPure } = a;
  const { means: bMeans, weights: bWeights, pure: bPure } = b;
  const { means: outMeans, weights: outWeights, pure: outPure } = out;
  const lastSlot = outMeans.length - 1;
  let i = a.start;
  const aEnd = a.start + a.count;
  let j = b.start;
  const bEnd = b.start + b.count;
  let o = -1;
  let weightSoFar = 0;
  let limit = 0;
  while (i < aEnd || j < bEnd) {
    let m: number;
    let w: number;
    let pure: boolean;
    if (j === bEnd || (i < aEnd && aMeans[i]! <= bMeans[j]!)) {
      m = aMeans[i]!;
      w = aWeights === null ? 1 : aWeights[i]!;
      pure = aPure === null || aPure[i] === 1;
      i++;
    } else {
      m = bMeans[j]!;
      w = bWeights === null ? 1 : bWeights[j]!;
      pure = bPure === null || bPure[j] === 1;
      j++;
    }
    const sameAtom = pure && o >= 0 && outPure[o] === 1 && outMeans[o] === m;
    // The capacity bound makes o === lastSlot unreachable with a new centroid pending; the test
    // keeps rounding from ever writing past a gene's slots.
    if (o >= 0 && (sameAtom || weightSoFar + w <= limit || o === lastSlot)) {
      const merged = outWeights[o]! + w;
      outWeights[o] = merged;
      if (!sameAtom) {
        outMeans[o]! += ((m - outMeans[o]!) * w) / merged;
        outPure[o] = 0;
      }
    } else {
      o++;
      outMeans[o] = m;
      outWeights[o] = w;
      outPure[o] = pure ? 1 : 0;
      limit =
        weightSoFar >= lastStart
          ? Number.POSITIVE_INFINITY
          : (total -
              (total - 2 * weightSoFar) * cosDelta +
              2 * Math.sqrt(weightSoFar * (total - weightSoFar)) * sinDelta) /
            2;
    }
    weightSoFar += w;
  }
  return o + 1;
}
