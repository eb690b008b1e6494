/**
 * The universal entry, `cellarium-ts`: tensors with autograd, nn layers, optimizers and schedulers,
 * the transforms and the models. It uses no Node.js APIs; files, collections, the loader and the
 * trainer are in `cellarium-ts/node`.
 *
 * @module cellarium-ts
 */

// The public API: hand-picked exports, pinned by tests/public-api.test.ts.

export type {
  Batch,
  BatchPosition,
  BatchValue,
  StepContext,
  Transform,
  TransformState,
} from "./data/batch.js";
export type { CsrMatrix, DenseMatrix, Matrix } from "./data/matrix.js";
export { densify, sparsify } from "./data/matrix.js";
export {
  ArgumentError,
  CellariumError,
  CheckpointError,
  ConfigError,
  DataValueError,
  DownloadError,
  type ErrorFields,
  FileFormatError,
  OutputError,
  SchemaMismatchError,
} from "./errors.js";
export { decodeSafetensors, encodeSafetensors } from "./formats/safetensors.js";
export { Geneformer } from "./models/geneformer.js";
export { geneCoverage } from "./models/geneformer-import.js";
export { IncrementalPCA } from "./models/incremental-pca.js";
export { AbcdParameter, abcdParameterOf, abcdParamGroups } from "./models/layers/abcd-parameter.js";
export { MuLinear } from "./models/layers/mu-linear.js";
export { LogisticRegression } from "./models/logistic-regression.js";
export type { CellariumModel, ModelOutput, PredictOutput, TrainerContext } from "./models/model.js";
export { OnePassMeanVarStd } from "./models/onepass-mean-var-std.js";
export { ProbabilisticPCA } from "./models/probabilistic-pca.js";
export { type SCVIOptions, SingleCellVariationalInference } from "./models/scvi.js";
export { TDigest } from "./models/tdigest.js";
export { BatchNorm1d, Dropout, Embedding, LayerNorm, Linear, Module, ModuleList } from "./nn/index.js";
export { type AdamOptions, adam, adamW } from "./optim/adam.js";
export { clipGradNorm, clipGradValue } from "./optim/clip.js";
export { Optimizer } from "./optim/optimizer.js";
export {
  constantSchedule,
  constantScheduleWithWarmup,
  cosineAnnealingLr,
  cosineScheduleWithWarmup,
  exponentialLr,
  LrScheduler,
  linearLr,
  linearScheduleWithWarmup,
  stepLr,
} from "./optim/schedulers.js";
export { type SgdOptions, sgd } from "./optim/sgd.js";
export {
  abs,
  add,
  arange,
  argmax,
  argmin,
  argsort,
  batchNorm,
  cast,
  concat,
  crossEntropy,
  digamma,
  div,
  dropout,
  eq,
  erf,
  exp,
  expand,
  eye,
  flatten,
  full,
  fullLike,
  gather,
  ge,
  gelu,
  geluNew,
  gradcheck,
  gt,
  indexSelect,
  isGradEnabled,
  laplaceLogProb,
  layerNorm,
  le,
  lgamma,
  log,
  log1p,
  logNbPositive,
  logSoftmax,
  logsumexp,
  logZinbPositive,
  lt,
  maskedFill,
  matmul,
  max,
  maximum,
  mean,
  min,
  minimum,
  mul,
  ne,
  neg,
  negativeBinomialLogProb,
  noGrad,
  normalKlDivergence,
  normalLogProb,
  ones,
  onesLike,
  permute,
  poissonLogProb,
  pow,
  rand,
  randn,
  relu,
  reshape,
  scatterAdd,
  sigmoid,
  silu,
  slice,
  softmax,
  softplus,
  sort,
  sqrt,
  square,
  squeeze,
  stack,
  sub,
  sum,
  Tensor,
  tanh,
  tensor,
  topk,
  transpose,
  unsqueeze,
  variance,
  view,
  where,
  zeros,
  zerosLike,
} from "./tensor/index.js";
/**
 * Linear algebra on raw row-major matrices (`Mat`: rows, cols and a float typed array) without
 * autograd: QR, SVD, randomized low-rank SVD, symmetric eigendecomposition, Cholesky and solve,
 * backed by OpenBLAS/LAPACK through the native addon or by TypeScript fallbacks.
 */
export * as linalg from "./tensor/linalg/index.js";
export { Generator, type GeneratorState } from "./tensor/random.js";
export { BinomialResample } from "./transforms/binomial-resample.js";
export { CenterPerCell } from "./transforms/center-per-cell.js";
export { composeTransforms } from "./transforms/compose.js";
export { Densify } from "./transforms/densify.js";
export { DivideByScale } from "./transforms/divide-by-scale.js";
// Upstream's cellarium.ml.transforms.Dropout; `Dropout` here is the nn layer (torch.nn.Dropout).
export { Dropout as DropoutTransform } from "./transforms/dropout.js";
export { Duplicate } from "./transforms/duplicate.js";
export { Filter } from "./transforms/filter.js";
export { GaussianNoise } from "./transforms/gaussian-noise.js";
export { Log1p } from "./transforms/log1p.js";
export { NormalizeTotal } from "./transforms/normalize-total.js";
export { PFlogPF } from "./transforms/pflogpf.js";
export { Randomize } from "./transforms/randomize.js";
export { ZScore } from "./transforms/z-score.js";
