// Loads a Hugging Face BertForMaskedLM directory (its files read by src/formats/huggingface.ts) with
// a gene token dictionary, and optionally a gene median dictionary, as a Geneformer (see
// src/models/geneformer-import.ts for the mapping).

import { readGeneDictionary } from "../formats/gene-dictionary.js";
import { readHuggingFaceConfig, readHuggingFaceWeights } from "../formats/huggingface.js";
import {
  checkBertConfig,
  float32Tensors,
  geneformerFromHuggingFace,
  medianScale,
  type PretrainedGeneformer,
} from "../models/geneformer-import.js";

export interface LoadPretrainedOptions {
  /** gene id -> token id: .pkl (Geneformer's token_dictionary.pkl), .json or .tsv. */
  readonly tokenDictionary: string;
  /** gene id -> non-zero median, for DivideByScale: .pkl (gene_median_dictionary.pkl), .json or .tsv. */
  readonly geneMedians?: string;
}

export interface LoadedPretrainedGeneformer extends PretrainedGeneformer {
  /** DivideByScale's scale_g over var_names_g, when a median dictionary was given. */
  readonly scale_g: Float32Array | null;
  /** Model genes without a median (scale 1). */
  readonly genesWithoutMedian: readonly string[];
}

/**
 * Loads a published Geneformer: a Hugging Face `BertForMaskedLM` directory (`config.json` with
 * `model.safetensors` or `pytorch_model.bin`) and Geneformer's token dictionary and gene medians
 * (.pkl, read as data and never executed; .json or .tsv work too). Returns the
 * {@link cellarium-ts!Geneformer | Geneformer} model, its genes `var_names_g` and `scale_g` (the medians, for DivideByScale).
 *
 * @param directory - the model directory.
 * @param options - `tokenDictionary` (gene id to token id) and `geneMedians` (gene id to median).
 * @throws {@link cellarium-ts!FileFormatError | FileFormatError} for missing or unreadable files;
 *   {@link cellarium-ts!ConfigError | ConfigError} for a config this port cannot run;
 *   {@link cellarium-ts!CheckpointError | CheckpointError} for weights or tokens that do not fit it.
 */
export async function loadPretrainedGeneformer(
  directory: string,
  options: LoadPretrainedOptions,
): Promise<LoadedPretrainedGeneformer> {
  const { path: configPath, config } = await readHuggingFaceConfig(directory);
  // The sizes are checked before the weights are read and before anything is built.
  checkBertConfig(config, configPath);
  const tensors = await readHuggingFaceWeights(directory);
  const tokens = await readGeneDictionary(options.tokenDictionary);
  const loaded = geneformerFromHuggingFace(config, float32Tensors(tensors), tokens, directory, {
    config: configPath,
    tokenDictionary: options.tokenDictionary,
  });
  if (!options.geneMedians) return { ...loaded, scale_g: null, genesWithoutMedian: [] };
  const { scale_g, missing } = medianScale(loaded.var_names_g, await readGeneDictionary(options.geneMedians));
  return { ...loaded, scale_g, genesWithoutMedian: missing };
}
