// Loads a Hugging Face BertForMaskedLM directory (config.json + model.safetensors) with a gene
// token dictionary, and optionally a gene median dictionary, as a Geneformer (see
// src/models/geneformer-import.ts for the mapping).
//
// pytorch_model.bin is not read: it is a zip archive whose data.pkl rebuilds every tensor by calling
// torch functions (torch._utils._rebuild_tensor_v2, storage classes, collections.OrderedDict)
// named inside the pickle. Reading it honestly means a zip reader plus an interpreter that
// recognises those calls without running them (as src/data/pickle-dict.ts does for dicts of
// numbers); that is not written. Hugging Face converts such checkpoints to safetensors
// (save_pretrained(..., safe_serialization=True)).

import { access, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { JsonValue } from "../data/batch.js";
import { readGeneDictionary } from "../data/gene-dictionary.js";
import { FileFormatError } from "../errors.js";
import {
  float32Tensors,
  geneformerFromHuggingFace,
  medianScale,
  type PretrainedGeneformer,
} from "../models/geneformer-import.js";
import { readSafetensorsFile } from "./safetensors-file.js";

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

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

export async function loadPretrainedGeneformer(
  directory: string,
  options: LoadPretrainedOptions,
): Promise<LoadedPretrainedGeneformer> {
  const configPath = join(directory, "config.json");
  let config: Record<string, JsonValue>;
  try {
    config = JSON.parse(await readFile(configPath, "utf8"));
  } catch (error) {
    throw new FileFormatError(
      `${configPath}: cannot read the Hugging Face config (${(error as Error).message})`,
      {
        cause: error,
      },
    );
  }
  const weightsPath = join(directory, "model.safetensors");
  if (!(await exists(weightsPath))) {
    const bin = join(directory, "pytorch_model.bin");
    throw new FileFormatError(
      (await exists(bin))
        ? `${bin}: pickled torch checkpoints are not read (they rebuild tensors by calling torch code); convert it to model.safetensors with transformers' save_pretrained(safe_serialization=True)`
        : `${weightsPath}: no such file`,
    );
  }
  const file = await readSafetensorsFile(weightsPath, { int64AsNumber: true });
  const tokens = await readGeneDictionary(options.tokenDictionary);
  const loaded = geneformerFromHuggingFace(config, float32Tensors(file.tensors), tokens, directory);
  if (!options.geneMedians) return { ...loaded, scale_g: null, genesWithoutMedian: [] };
  const { scale_g, missing } = medianScale(loaded.var_names_g, await readGeneDictionary(options.geneMedians));
  return { ...loaded, scale_g, genesWithoutMedian: missing };
}
