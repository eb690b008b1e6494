// TypeScript fallbacks of the CSR products (see Kernels.csrMatmul and csrTransposeMatmul), and the
// conversion of the backends' raw form (which reports where it met a bad column index) into the
// throwing kernels. Sums run in double and are rounded to float32 once per output.

import { ArgumentError } from "../../errors.js";
import type { Kernels } from "./types.js";

/** The raw form: returns the position of the first stored value whose column index is outside [0, cols), or nnz. */
export type CsrProductRaw = (...args: Parameters<Kernels["csrMatmul"]>) => number;

/** A CSR product kernel from its raw form. */
export function throwingCsrProduct(kernel: string, raw: CsrProductRaw): Kernels["csrMatmul"] {
  return (rows, cols, indptr, indices, values, dense, l, c) => {
    const stop = raw(rows, cols, indptr, indices, values, dense, l, c);
    if (stop < (rows === 0 ? 0 : indptr[rows]!)) {
      throw new ArgumentError(
        `${kernel}: indices[${stop}] = ${indices[stop]} is outside the ${cols} columns`,
      );
    }
  };
}

export const csrMatmulTs: CsrProductRaw = (rows, cols, indptr, indices, values, b, l, c) => {
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
};

export const csrTransposeMatmulTs: CsrProductRaw = (rows, cols, indptr, indices, values, y, l, c) => {
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
};
