// Pairwise, hierarchical merging of partial results (upstream's IncrementalPCA.on_train_epoch_end
// across ranks): at each level the part at an even position receives its odd neighbour, and the
// receivers move up one level, so N parts need ceil(log2 N) levels and every merge combines
// summaries of similar size.

import { ArgumentError } from "../errors.js";

/** Merges `parts` into parts[0] (mutated, and returned); the others are consumed. */
export function mergeHierarchically<T extends { merge(other: T): void }>(parts: readonly T[]): T {
  if (parts.length === 0) throw new ArgumentError("mergeHierarchically: no parts to merge");
  let level = [...parts];
  while (level.length > 1) {
    const next: T[] = [];
    for (let i = 0; i < level.length; i += 2) {
      const leading = level[i]!;
      const trailing = level[i + 1];
      if (trailing !== undefined) leading.merge(trailing);
      next.push(leading);
    }
    level = next;
  }
  return level[0]!;
}
