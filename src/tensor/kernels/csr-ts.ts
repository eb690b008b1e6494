// TypeScript fallbacks of the CSR products (see KERNELS.csrMatmul and csrTransposeMatmul), in their
// raw form: they return where they met a bad column index, which the declaration's `finish` turns
// into an ArgumentError. Sums run in double and are rounded once per output.

import type { FloatArray, KernelArgs } from "./types.js";

/** Returns the position of the first stored value whose column index is outside [0, cols), or nnz. */
export function csrMatmulTs<T extends FloatArray>(args: KernelArgs<"csrMatmul", T>): number {
  const { rows, cols, indptr, indices, values, b, l, c } = args;
  const acc = new Float64Array(l);
  for (let i = 0; i < rows; i++) {
    acc.fill(0);
    for (let p = indptr[i]!; p < indptr[i + 1]!; p++) {
      const col = indices[p]!;
      if (!(col >= 0 && col < cols)) return p;
      const v = values[p]!;
      const from = col * l;
      for (let j = 0; j < l; j++) acc[j]! += v * b[from + j]!;
    }
    c.set(acc, i * l);
  }
  return rows === 0 ? 0 : indptr[rows]!;
}

export function csrTransposeMatmulTs<T extends FloatArray>(
  args: KernelArgs<"csrTransposeMatmul", T>,
): number {
  const { rows, cols, indptr, indices, values, y, l, c } = args;
  const acc = new Float64Array(cols * l);
  let stop = rows === 0 ? 0 : indptr[rows]!;
  scan: for (let i = 0; i < rows; i++) {
    const from = i * l;
    for (let p = indptr[i]!; p < indptr[i + 1]!; p++) {
      const col = indices[p]!;
      if (!(col >= 0 && col < cols)) {
        stop = p;
        break scan;
      }
      const v = values[p]!;
      const to = col * l;
      for (let j = 0; j < l; j++) acc[to + j]! += v * y[from + j]!;
    }
  }
  c.set(acc.subarray(0, cols * l));
  return stop;
}
