// Pretrained Hugging Face BertForMaskedLM checkpoints (e.g. the published Geneformer models) as a
// Geneformer: the config.json fields map onto the constructor arguments, the tensors onto the
// parameters (Hugging Face's key k becomes upstream Geneformer's `bert.` + k), and the gene token
// dictionary (gene id -> token id) gives var_names_g: our vocabulary puts gene g at token g + 2,
// so the model's genes are the dictionary's entries ordered by token id, from token 2 on. Tokens 0
// and 1 must be PAD and MASK (Geneformer's "<pad>" and "<mask>"); any other special token of the
// dictionary (e.g. "<cls>", "<eos>" of later Geneformer releases) stays a pseudo-gene of that name,
// which no data set has, so it is never in a cell's input.
//
// Data reach the model through a Filter to its genes (allow_missing: genes the data lack become
// zero columns, never attended) and a DivideByScale by the gene median dictionary, after
// NormalizeTotal, as Geneformer's own tokenizer does.

import type { JsonValue } from "../data/batch.js";
import { CheckpointError, FileFormatError } from "../errors.js";
import { Tensor } from "../tensor/tensor.js";
import { Geneformer, type GeneformerOptions } from "./geneformer.js";
import { FIRST_GENE_TOKEN } from "./geneformer-tokens.js";
import type { BertActivation, PositionEmbeddingType } from "./layers/bert.js";

export interface PretrainedGeneformer {
  readonly model: Geneformer;
  /** The model's genes in token order (token id - 2). */
  readonly var_names_g: readonly string[];
  /** Entries of the checkpoint that have no place in BertForMaskedLM's inference, skipped. */
  readonly skippedKeys: readonly string[];
}

/** Keys Hugging Face files may hold that BertForMaskedLM does not need (buffers, other heads). */
const SKIPPED = [/^bert\.embeddings\.position_ids$/, /^bert\.pooler\./, /^cls\.seq_relationship\./];

function configNumber(config: Record<string, JsonValue>, key: string, source: string): number | undefined {
  const value = config[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "number")
    throw new FileFormatError(`${source}: "${key}" must be a number, got ${JSON.stringify(value)}`);
  return value;
}

/** The dictionary's genes by token id; throws unless tokens 0 and 1 are special and 2.. are dense. */
export function genesFromTokenDictionary(dictionary: ReadonlyMap<string, number>, source: string): string[] {
  const byToken = new Map<number, string>();
  for (const [gene, token] of dictionary) {
    if (!Number.isInteger(token) || token < 0)
      throw new FileFormatError(`${source}: token of "${gene}" is ${token}`);
    const other = byToken.get(token);
    if (other !== undefined)
      throw new FileFormatError(`${source}: "${other}" and "${gene}" share token ${token}`);
    byToken.set(token, gene);
  }
  for (const token of [0, 1]) {
    if (!byToken.has(token))
      throw new FileFormatError(`${source}: no entry for token ${token} (PAD is 0, MASK is 1)`);
  }
  const genes: string[] = [];
  for (let token = FIRST_GENE_TOKEN; token < byToken.size; token++) {
    const gene = byToken.get(token);
    if (gene === undefined)
      throw new FileFormatError(`${source}: token ids are not 0..${byToken.size - 1}: ${token} is missing`);
    genes.push(gene);
  }
  return genes;
}

/**
 * Builds a Geneformer from a Hugging Face config (config.json parsed), its tensors by Hugging
 * Face's names and the token dictionary. `source` names the checkpoint in errors.
 */
export function geneformerFromHuggingFace(
  config: Record<string, JsonValue>,
  tensors: Record<string, Tensor>,
  tokenDictionary: ReadonlyMap<string, number>,
  source: string,
): PretrainedGeneformer {
  const var_names_g = genesFromTokenDictionary(tokenDictionary, `${source} token dictionary`);
  const vocab = configNumber(config, "vocab_size", source);
  if (vocab !== var_names_g.length + FIRST_GENE_TOKEN) {
    throw new CheckpointError(
      `${source}: vocab_size ${vocab} does not match the token dictionary's ${var_names_g.length + FIRST_GENE_TOKEN} tokens`,
    );
  }
  const pad = configNumber(config, "pad_token_id", source) ?? 0;
  if (pad !== 0) throw new CheckpointError(`${source}: pad_token_id is ${pad}; Geneformer's PAD token is 0`);
  const options: GeneformerOptions = { var_names_g };
  const numbers = [
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "hidden_dropout_prob",
    "attention_probs_dropout_prob",
    "max_position_embeddings",
    "type_vocab_size",
    "initializer_range",
    "layer_norm_eps",
  ] as const;
  const args: Record<string, unknown> = { var_names_g };
  for (const key of numbers) {
    const value = configNumber(config, key, source);
    if (value !== undefined) args[key] = value;
  }
  if (typeof config.hidden_act === "string") args.hidden_act = config.hidden_act as BertActivation;
  if (typeof config.position_embedding_type === "string")
    args.position_embedding_type = config.position_embedding_type as PositionEmbeddingType;
  const model = new Geneformer({ ...options, ...(args as Partial<GeneformerOptions>) });

  const state: Record<string, Tensor> = {};
  const skippedKeys: string[] = [];
  for (const [key, tensor] of Object.entries(tensors)) {
    if (SKIPPED.some((pattern) => pattern.test(key))) skippedKeys.push(key);
    else if (key === "cls.predictions.decoder.weight") {
      const word = tensors["bert.embeddings.word_embeddings.weight"];
      if (!word?.data.every((v, i) => v === tensor.data[i])) {
        throw new CheckpointError(
          `${source}: cls.predictions.decoder.weight differs from the word embeddings; only tied decoders are supported`,
        );
      }
    } else if (key === "cls.predictions.decoder.bias") {
      if (!("cls.predictions.bias" in tensors)) state["bert.cls.predictions.bias"] = tensor;
    } else state[`bert.${key}`] = tensor;
  }
  try {
    model.loadStateDict(state);
  } catch (error) {
    throw new CheckpointError(
      `${source}: not a BertForMaskedLM checkpoint of this config: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  model.eval();
  return { model, var_names_g, skippedKeys };
}

/**
 * scale_g for DivideByScale from a gene median dictionary, in the model's gene order. Genes
 * without a median (special tokens, genes the dictionary lacks) get 1: their values are zero
 * columns from the Filter anyway, or would be left as they are.
 */
export function medianScale(
  var_names_g: readonly string[],
  medians: ReadonlyMap<string, number>,
): { scale_g: Float32Array; missing: string[] } {
  const missing: string[] = [];
  const scale_g = Float32Array.from(var_names_g, (gene) => {
    const median = medians.get(gene);
    if (median === undefined || Number.isNaN(median)) {
      missing.push(gene);
      return 1;
    }
    return median;
  });
  return { scale_g, missing };
}

export interface GeneCoverage {
  /** The data's genes the model does not know, in the data's order. */
  readonly unknown: readonly string[];
  /** Fraction of the data's genes the model knows. */
  readonly fraction: number;
}

/** Which of the data's genes the model knows. */
export function geneCoverage(modelGenes: readonly string[], dataGenes: readonly string[]): GeneCoverage {
  const known = new Set(modelGenes);
  const unknown = dataGenes.filter((g) => !known.has(g));
  return {
    unknown,
    fraction: dataGenes.length === 0 ? 0 : (dataGenes.length - unknown.length) / dataGenes.length,
  };
}

/**
 * float32 tensors from decoded safetensors entries (float16/bfloat16 arrive as float32; decode
 * 64-bit integers as numbers). Integer entries, such as the position_ids buffer, become float32
 * too; they are among the skipped keys.
 */
export function float32Tensors(
  decoded: Record<
    string,
    { shape: readonly number[]; data: ArrayLike<number> | BigInt64Array | BigUint64Array }
  >,
): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const [key, t] of Object.entries(decoded)) {
    const data =
      t.data instanceof Float32Array
        ? t.data.slice()
        : Float32Array.from(t.data as ArrayLike<number>, Number);
    out[key] = new Tensor(data, [...t.shape]);
  }
  return out;
}
