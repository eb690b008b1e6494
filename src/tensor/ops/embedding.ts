// Embedding lookup (torch.nn.functional.embedding): rows of a weight table picked by int32 ids.
// The gradient adds each output row back onto the row it came from, except for paddingIdx, whose
// row receives no gradient (torch: "the entries at padding_idx do not contribute to the gradient").

import { ArgumentError } from "../../errors.js";
import { allocate, formatShape, record, Tensor } from "../tensor.js";

/** weight[ids] for ids of any shape: the result is [...ids.shape, dim] for weight [num, dim]. */
export function embedding(weight: Tensor, ids: Tensor, paddingIdx: number | null = null): Tensor {
  if (weight.ndim !== 2 || weight.dtype === "int32" || ids.dtype !== "int32") {
    throw new ArgumentError(
      `embedding: needs a float weight [num, dim] and int32 ids, got ${weight.dtype}${formatShape(weight.shape)} and ${ids.dtype}${formatShape(ids.shape)}`,
    );
  }
  const [num, dim] = weight.shape as [number, number];
  const idx = ids.data as Int32Array;
  for (const k of idx) {
    if (k < 0 || k >= num) throw new ArgumentError(`embedding: id ${k} is out of range [0, ${num})`);
  }
  const src = weight.data;
  const out = allocate(weight.dtype, idx.length * dim);
  for (let i = 0; i < idx.length; i++) out.set(src.subarray(idx[i]! * dim, (idx[i]! + 1) * dim), i * dim);
  return record("embedding", new Tensor(out, [...ids.shape, dim]), [weight], (g) => {
    const gd = g.data;
    const gw = allocate(g.dtype, weight.size);
    for (let i = 0; i < idx.length; i++) {
      const k = idx[i]!;
      if (k === paddingIdx) continue;
      const to = k * dim;
      const from = i * dim;
      for (let j = 0; j < dim; j++) gw[to + j]! += gd[from + j]!;
    }
    return [new Tensor(gw, weight.shape)];
  });
}
