import type { BatchValue } from "./batch.js";
import type { BatchKeyPlan } from "./batch-keys.js";
import type { ArrayAllocator } from "./buffer-pool.js";
import type { DistributedAnnDataCollection } from "./collection.js";

// One batch's per-cell values, read from a collection: the same code in the main thread
// (numWorkers 0) and in each read-ahead worker.

export async function readBatch(
  collection: DistributedAnnDataCollection,
  plan: BatchKeyPlan,
  indices: Int32Array,
  allocate?: ArrayAllocator,
): Promise<Record<string, BatchValue>> {
  // The matrices' blocks were checked as they were read (check-block.ts).
  return plan.cellValues(await collection.readRows(indices, plan.request, allocate));
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
