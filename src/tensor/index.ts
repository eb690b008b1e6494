// The tensor module: Tensor, autograd controls, ops and gradcheck.

export { type GradcheckOptions, type GradcheckResult, gradcheck } from "./gradcheck.js";
export { type AttentionOptions, multiHeadAttention } from "./ops/attention.js";
export {
  arange,
  type CreateOptions,
  cast,
  eye,
  full,
  fullLike,
  ones,
  onesLike,
  rand,
  randn,
  type TensorOptions,
  tensor,
  zeros,
  zerosLike,
} from "./ops/creation.js";
export {
  laplaceLogProb,
  logNbPositive,
  logZinbPositive,
  negativeBinomialLogProb,
  normalKlDivergence,
  normalLogProb,
  poissonLogProb,
} from "./ops/distributions.js";
export { dropout } from "./ops/dropout.js";
export {
  abs,
  add,
  digamma,
  div,
  eq,
  erf,
  exp,
  ge,
  gt,
  le,
  lgamma,
  log,
  log1p,
  lt,
  maximum,
  minimum,
  mul,
  ne,
  neg,
  type Operand,
  pow,
  sigmoid,
  sqrt,
  square,
  sub,
  tanh,
} from "./ops/elementwise.js";
export { embedding } from "./ops/embedding.js";
export { gather, indexSelect, maskedFill, scatterAdd, where } from "./ops/indexing.js";
export { linear } from "./ops/linear.js";
export { type CrossEntropyOptions, crossEntropy, type Reduction } from "./ops/loss.js";
export { matmul } from "./ops/matmul.js";
export {
  type BatchNormOptions,
  batchNorm,
  gelu,
  geluNew,
  type LayerNormOptions,
  layerNorm,
  logSoftmax,
  relu,
  silu,
  softmax,
  softplus,
} from "./ops/nn.js";
export {
  type Axes,
  argmax,
  argmin,
  logsumexp,
  max,
  mean,
  min,
  type ReduceOptions,
  sum,
  variance,
} from "./ops/reduce.js";
export {
  concat,
  expand,
  flatten,
  permute,
  reshape,
  slice,
  squeeze,
  stack,
  transpose,
  unsqueeze,
  view,
} from "./ops/shape.js";
export { argsort, type SortOptions, type SortResult, sort, topk } from "./ops/sort.js";
export {
  type DType,
  type FloatDType,
  isGradEnabled,
  type NestedArray,
  noGrad,
  Tensor,
  type TypedArray,
} from "./tensor.js";
