import { ArgumentError } from "../../errors.js";
import { kernels } from "../kernels/index.js";
import type { FloatArray } from "../kernels/types.js";
import { checkMat, type Mat, zerosLike } from "./mat.js";

/** X with A X = B for a square A (n x n) and B (n x r), by LU with partial pivoting; a singular A throws ArgumentError. */
export function solve<T extends FloatArray>(a: Mat<T>, b: Mat<T>): Mat<T> {
  checkMat("solve", "a", a);
  checkMat("solve", "b", b);
  if (a.rows !== a.cols) throw new ArgumentError(`solve: a must be square, got ${a.rows} x ${a.cols}`);
  if (b.rows !== a.rows) {
    throw new ArgumentError(`solve: b has ${b.rows} rows, a is ${a.rows} x ${a.cols}`);
  }
  const x = zerosLike(a.data, b.rows, b.cols);
  kernels().solve({ n: a.rows, nrhs: b.cols, a: a.data, b: b.data, x: x.data });
  return x;
}
