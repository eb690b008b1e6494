// Neural-network modules: the Module base class and the layers built on it.

export { BatchNorm1d, type BatchNorm1dOptions } from "./batch-norm.js";
export { Dropout } from "./dropout.js";
export { Embedding, type EmbeddingOptions } from "./embedding.js";
export { kaimingUniformInit, normalInit, uniformInit, xavierNormalInit } from "./init.js";
export { LayerNorm, type LayerNormModuleOptions } from "./layer-norm.js";
export { Linear, type LinearOptions } from "./linear.js";
export {
  type LoadStateDictOptions,
  type LoadStateDictResult,
  Module,
  ModuleList,
  type Parameter,
} from "./module.js";
