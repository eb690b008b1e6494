// The order in which replicas' streaming states are combined: a pairwise tree over the ranks,
// log2(N) levels. At level l (stride s = 2^l) the replica at rank r with r % 2s == 0 receives
// the state of rank r + s (when it exists) and merges it into its own; rank r + s has already
// received everything of its own subtree at the lower levels. After the last level rank 0 holds
// the merge of all. Upstream's IncrementalPCA merges in this order across processes
// (cellarium/ml/models/incremental_pca.py, on_train_epoch_end); summing models do not care, but
// using one order everywhere (threads, `cellarium merge`) makes every path give the same result.

import { ArgumentError } from "../errors.js";
import type { CellariumModel } from "../models/model.js";

/** Where `rank` stands in the tree of `numReplicas`: the ranks it receives from (in order), and the one it sends to. */
export function treeRole(
  rank: number,
  numReplicas: number,
): { receivesFrom: number[]; sendsTo: number | null } {
  if (
    !Number.isInteger(numReplicas) ||
    numReplicas < 1 ||
    !Number.isInteger(rank) ||
    rank < 0 ||
    rank >= numReplicas
  ) {
    throw new ArgumentError(`treeRole: rank ${rank} is not in [0, ${numReplicas})`);
  }
  const receivesFrom: number[] = [];
  for (let stride = 1; stride < numReplicas; stride *= 2) {
    if (rank % (2 * stride) !== 0) return { receivesFrom, sendsTo: rank - stride };
    if (rank + stride < numReplicas) receivesFrom.push(rank + stride);
  }
  return { receivesFrom, sendsTo: null };
}

/**
 * Merges `models` (ordered by rank) in the tree's order into models[0], which it returns; the
 * others are left holding partial merges.
 */
export function mergeHierarchically(models: readonly CellariumModel[]): CellariumModel {
  const first = models[0];
  if (first === undefined) throw new ArgumentError("mergeHierarchically: no models to merge");
  if (!first.merge) throw new ArgumentError(`mergeHierarchically: ${first.className} has no merge`);
  for (let stride = 1; stride < models.length; stride *= 2) {
    for (let rank = 0; rank + stride < models.length; rank += 2 * stride) {
      models[rank]!.merge!(models[rank + stride]!);
    }
  }
  return first;
}
