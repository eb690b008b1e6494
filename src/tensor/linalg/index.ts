// Linear algebra on raw row-major matrices (Mat), backed by the kernel seam (OpenBLAS/LAPACK or the
// TypeScript fallbacks).

export { cholesky } from "./cholesky.js";
export { eigh } from "./eigh.js";
export { checkMat, type Mat, matmul, zerosLike } from "./mat.js";
export { denseOperator, type LinearOperator } from "./operator.js";
export { qr } from "./qr.js";
export { solve } from "./solve.js";
export { svd, svdvals } from "./svd.js";
export { svdLowrank } from "./svd-lowrank.js";
