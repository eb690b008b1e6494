import type { BatchValue } from "./batch.js";
import type { BatchKeyPlan } from "./batch-keys.js";
import type { ArrayAllocator } from "./buffer-pool.js";
import { checkCounts } from "./check-counts.js";
import type { DistributedAnnDataCollection } from "./collection.js";

// One batch's per-cell values, read from a collection: the same code in the main thread
// (numWorkers 0) and in each read-ahead worker.

/** What to do with NaN or negative values in X: nothing, a warning per batch, or an error. */
export type CheckCountsMode = "off" | "warn" | "error";

export async function readBatch(
  collection: DistributedAnnDataCollection,
  plan: BatchKeyPlan,
  indices: Int32Array,
  mode: CheckCountsMode,
  allocate?: ArrayAllocator,
): Promise<Record<string, BatchValue>> {
  const rows = await collection.readRows(indices, plan.request, allocate);
  const x = rows.matrices.get("X");
  if (mode !== "off" && x !== undefined) {
    // Checked before any convert_fn: a CSR block costs O(non-zeros), its dense form O(n x g).
    const report = checkCounts(x, "X");
    if (report.first !== undefined) {
      const cell = indices[report.first.row]!;
      const shard = collection.shardOf(cell);
      const local = cell - (shard === 0 ? 0 : collection.limits[shard - 1]!);
      const where = `${collection.filenames[shard]} cell ${local} (row ${report.first.row} of the batch)`;
      try {
        checkCounts(x, where, { throwOnError: true });
      } catch (error) {
        if (mode === "error") throw error;
        process.emitWarning((error as Error).message);
      }
    }
  }
  return plan.cellValues(rows);
}

/**
 * The buffers of a batch's matrices (values, and column indices of CSR blocks): the arrays
 * readBatch takes from its allocator, or allocates for this batch alone, so they can be given
 * back to a BufferPool once the batch is done with.
 */
export function matrixBuffers(values: Record<string, BatchValue>): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>();
  for (const value of Object.values(values)) {
    if (typeof value !== "object" || Array.isArray(value) || ArrayBuffer.isView(value)) continue;
    buffers.add(value.data.buffer as ArrayBuffer);
    if (value.format === "csr") buffers.add(value.indices.buffer as ArrayBuffer);
  }
  return [...buffers];
}
