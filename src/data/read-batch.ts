import type { BatchValue } from "./batch.js";
import type { BatchKeyPlan } from "./batch-keys.js";
import type { ArrayAllocator } from "./buffer-pool.js";
import type { DistributedAnnDataCollection } from "./collection.js";
import {
  type CsrMatrix,
  deferCanonical,
  isDeferredDense,
  type Matrix,
  markCanonical,
  storedForm,
} from "./matrix.js";

// One batch's per-cell values, read from a collection: the same code in the main thread
// (numWorkers 0) and in each read-ahead worker.

export async function readBatch(
  collection: DistributedAnnDataCollection,
  plan: BatchKeyPlan,
  indices: Int32Array,
  allocate?: ArrayAllocator,
): Promise<Record<string, BatchValue>> {
  // The matrices' blocks were checked as they were read (check-block.ts).
  return markedCanonical(plan.cellValues(await collection.readRows(indices, plan.request, allocate)));
}

/** `values` with its CSR blocks marked canonical (they come from the data layer, which made them so). */
function markedCanonical(values: Record<string, BatchValue>): Record<string, BatchValue> {
  for (const value of Object.values(values))
    if (isMatrix(value) && value.format === "csr") markCanonical(value);
  return values;
}

/**
 * The buffers of a batch's matrices (values, and column indices of CSR blocks): the arrays
 * readBatch takes from its allocator, or allocates for this batch alone, so they can be given
 * back to a BufferPool once the batch is done with.
 */
export function matrixBuffers(values: Record<string, BatchValue>): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>();
  for (const entry of Object.values(values)) {
    if (!isMatrix(entry)) continue;
    // A deferred dense block's memory is its CSR form's (reading its data would densify it).
    const value = storedForm(entry);
    buffers.add(value.data.buffer as ArrayBuffer);
    if (value.format === "csr") buffers.add(value.indices.buffer as ArrayBuffer);
  }
  return [...buffers];
}

/** A batch's values as a worker posts them: deferred dense blocks as their CSR forms, and their keys. */
export function postedValues(values: Record<string, BatchValue>): {
  values: Record<string, BatchValue>;
  deferred: string[];
} {
  const posted = { ...values };
  const deferred: string[] = [];
  for (const [key, value] of Object.entries(values)) {
    if (isMatrix(value) && isDeferredDense(value)) {
      posted[key] = storedForm(value);
      deferred.push(key);
    }
  }
  return { values: posted, deferred };
}

/** The batch values a worker posted (postedValues), with their deferred dense blocks restored. */
export function receivedValues(
  values: Record<string, BatchValue>,
  deferred: readonly string[],
): Record<string, BatchValue> {
  // A posted block is a copy: the worker's marks do not travel with it.
  markedCanonical(values);
  if (deferred.length === 0) return values;
  const out = { ...values };
  // The worker's deferredDense checked these CSR forms.
  for (const key of deferred) out[key] = deferCanonical(values[key] as CsrMatrix);
  return out;
}

function isMatrix(value: BatchValue): value is Matrix {
  return typeof value === "object" && !Array.isArray(value) && !ArrayBuffer.isView(value);
}
