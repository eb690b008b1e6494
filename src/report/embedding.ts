// The two coordinates of an embedding scatter: a seeded sample of the cells (at most
// MAX_EMBEDDING_CELLS, so that the plot and its UMAP stay bounded in time and size for any run),
// then either the embedding's first two columns or a 2-D UMAP (umap-js) of all its columns.

import { UMAP } from "umap-js";
import { ArgumentError } from "../errors.js";
import { Generator } from "../tensor/random.js";

/** Cells plotted at most; umap-js takes about 40 s for 20,000 cells on 2 cores. */
export const MAX_EMBEDDING_CELLS = 20_000;

/**
 * UMAP's optimisation epochs. umap-js (like umap-learn) picks 500 below 10,000 cells and 200 above;
 * 200 throughout keeps a report's UMAP at most ~40 s and separates clusters as well at this scale.
 */
export const UMAP_EPOCHS = 200;

/** umap-learn's default neighbourhood size. */
const UMAP_NEIGHBORS = 15;

/**
 * Sorted indices of min(n, max) of the cells 0..n-1, drawn without replacement by Floyd's
 * algorithm (max draws, whatever n), reproducible from `seed`.
 */
export function sampleCells(n: number, max: number, seed: number): Int32Array {
  if (n <= max) return Int32Array.from({ length: n }, (_, i) => i);
  const rng = new Generator(seed);
  const chosen = new Set<number>();
  for (let j = n - max; j < n; j++) {
    const t = rng.randint(0, j + 1);
    chosen.add(chosen.has(t) ? j : t);
  }
  return Int32Array.from(chosen).sort();
}

/** n points' coordinates in the plane. */
export interface Plane {
  readonly x: Float64Array;
  readonly y: Float64Array;
}

/** The first two columns of an n x k row-major matrix (k >= 2). */
export function firstTwoColumns(data: ArrayLike<number>, n: number, k: number): Plane {
  if (k < 2) throw new ArgumentError(`an embedding scatter needs 2 columns, the embedding has ${k}`);
  const x = new Float64Array(n);
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    x[i] = data[i * k]!;
    y[i] = data[i * k + 1]!;
  }
  return { x, y };
}

/**
 * A 2-D UMAP of the rows of an n x k row-major matrix. umap-js draws every random number (the
 * nearest-neighbour trees, NN-descent, the initial layout, the negative samples) from `random`:
 * our seeded generator makes the layout the same for the same seed.
 */
export function umapPlane(data: ArrayLike<number>, n: number, k: number, seed: number): Plane {
  if (n < 3) throw new ArgumentError(`UMAP needs at least 3 cells, got ${n}`);
  const rows = Array.from({ length: n }, (_, i) => Array.from({ length: k }, (_, j) => data[i * k + j]!));
  const rng = new Generator(seed);
  const umap = new UMAP({
    nComponents: 2,
    nEpochs: UMAP_EPOCHS,
    nNeighbors: Math.min(UMAP_NEIGHBORS, n - 1),
    random: () => rng.nextDouble(),
  });
  const layout = umap.fit(rows);
  return {
    x: Float64Array.from(layout, (p) => p[0]!),
    y: Float64Array.from(layout, (p) => p[1]!),
  };
}
