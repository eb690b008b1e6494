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

import { quote } from "../error-values.js";
import { CheckpointError, ConfigError, FileFormatError } from "../errors.js";
import { Tensor } from "../tensor/tensor.js";
import { GENEFORMER_DEFAULTS, Geneformer, type GeneformerOptions } from "./geneformer.js";
import { FIRST_GENE_TOKEN, MASK_TOKEN, PAD_TOKEN } from "./geneformer-tokens.js";
import { BERT_ACTIVATIONS } from "./layers/bert.js";
import { POSITION_EMBEDDING_TYPES, type PositionEmbeddingType } from "./layers/position-embedding.js";

export interface PretrainedGeneformer {
  readonly model: Geneformer;
  /** The model's genes in token order (token id - 2). */
  readonly var_names_g: readonly string[];
  /** Entries of the checkpoint that have no place in BertForMaskedLM's inference, skipped. */
  readonly skippedKeys: readonly string[];
}

/** Keys Hugging Face files may hold that BertForMaskedLM does not need (buffers, other heads). */
const SKIPPED = [/^bert\.embeddings\.position_ids$/, /^bert\.pooler\./, /^cls\.seq_relationship\./];

/**
 * Bounds on config.json's sizes, checked before anything is allocated. Each is far above any
 * published BERT or Geneformer (Geneformer's largest: hidden 1,152, 18 layers, 4,096 positions,
 * about 20,000-60,000 tokens) and far below sizes whose weights could not be held.
 */
export const BERT_CONFIG_LIMITS = {
  vocab_size: 2 ** 20,
  hidden_size: 2 ** 14,
  num_hidden_layers: 1024,
  num_attention_heads: 1024,
  intermediate_size: 2 ** 16,
  max_position_embeddings: 2 ** 16,
  type_vocab_size: 1024,
} as const;

/** The most parameters a config may describe: 2^30, 4 GiB of float32, three times Geneformer's largest. */
export const MAX_BERT_PARAMETERS = 2 ** 30;

type BertSizes = { -readonly [K in keyof typeof BERT_CONFIG_LIMITS]: number } & {
  position_embedding_type: PositionEmbeddingType;
};

/** The parameters of BertForMaskedLM with a tied decoder (no pooler), as layers/bert*.ts build it. */
export function bertParameterCount(s: BertSizes): number {
  const h = s.hidden_size;
  const embeddings = (s.vocab_size + s.max_position_embeddings + s.type_vocab_size) * h + 2 * h;
  const distance =
    s.position_embedding_type === "absolute"
      ? 0
      : (2 * s.max_position_embeddings - 1) * (h / s.num_attention_heads);
  const attention = 4 * (h * h + h) + 2 * h + distance;
  const feedForward = 2 * h * s.intermediate_size + s.intermediate_size + h + 2 * h;
  const head = h * h + h + 2 * h + s.vocab_size;
  return embeddings + s.num_hidden_layers * (attention + feedForward) + head;
}

/** A Hugging Face config.json checked: Geneformer's arguments and the vocabulary size. */
export interface CheckedBertConfig {
  readonly vocab_size: number;
  readonly args: Omit<GeneformerOptions, "var_names_g">;
}

/**
 * Checks a parsed Hugging Face BertConfig (config.json) before any model is built: each size an
 * integer within BERT_CONFIG_LIMITS, probabilities in [0, 1], known activation and position
 * types, heads dividing the hidden size, and at most MAX_BERT_PARAMETERS parameters in all.
 * Missing keys take Geneformer's defaults. Throws ConfigError naming `file`, the key and value.
 */
export function checkBertConfig(config: unknown, file: string): CheckedBertConfig {
  const fail = (key: string, value: unknown, wanted: string): never => {
    throw new ConfigError(`${file}: ${quote(key)} is ${quote(value)}; ${wanted}`, { file, key, value });
  };
  if (typeof config !== "object" || config === null || Array.isArray(config))
    fail("config", config, "config.json must hold a JSON object");
  const c = config as Record<string, unknown>;
  const given = (key: string) => Object.hasOwn(c, key) && c[key] !== null;
  const integer = (key: keyof typeof BERT_CONFIG_LIMITS, fallback?: number): number => {
    const value = given(key) ? c[key] : fallback;
    const max = BERT_CONFIG_LIMITS[key];
    if (!Number.isInteger(value) || (value as number) < 1 || (value as number) > max)
      fail(key, value, `must be an integer in [1, ${max}]`);
    return value as number;
  };
  const real = (key: string, fallback: number, ok: (v: number) => boolean, wanted: string): number => {
    const value = given(key) ? c[key] : fallback;
    if (typeof value !== "number" || !ok(value)) fail(key, value, wanted);
    return value as number;
  };
  const oneOf = <T extends string>(key: string, fallback: T, allowed: readonly T[]): T => {
    const value = given(key) ? c[key] : fallback;
    if (!allowed.includes(value as T)) fail(key, value, `must be one of ${allowed.join(", ")}`);
    return value as T;
  };
  const probability = (key: string, fallback: number) =>
    real(key, fallback, (v) => v >= 0 && v <= 1, "must be a number in [0, 1]");
  const sizes: BertSizes = {
    vocab_size: integer("vocab_size"),
    hidden_size: integer("hidden_size", GENEFORMER_DEFAULTS.hidden_size),
    num_hidden_layers: integer("num_hidden_layers", GENEFORMER_DEFAULTS.num_hidden_layers),
    num_attention_heads: integer("num_attention_heads", GENEFORMER_DEFAULTS.num_attention_heads),
    intermediate_size: integer("intermediate_size", GENEFORMER_DEFAULTS.intermediate_size),
    max_position_embeddings: integer("max_position_embeddings", GENEFORMER_DEFAULTS.max_position_embeddings),
    type_vocab_size: integer("type_vocab_size", GENEFORMER_DEFAULTS.type_vocab_size),
    position_embedding_type: oneOf("position_embedding_type", "absolute", POSITION_EMBEDDING_TYPES),
  };
  if (sizes.hidden_size % sizes.num_attention_heads !== 0)
    fail(
      "hidden_size",
      sizes.hidden_size,
      `must be a multiple of num_attention_heads (${sizes.num_attention_heads})`,
    );
  const parameters = bertParameterCount(sizes);
  if (parameters > MAX_BERT_PARAMETERS) {
    throw new ConfigError(
      `${file}: the sizes describe ${parameters} parameters, more than the limit of ${MAX_BERT_PARAMETERS} (vocab_size ${sizes.vocab_size}, hidden_size ${sizes.hidden_size}, num_hidden_layers ${sizes.num_hidden_layers}, intermediate_size ${sizes.intermediate_size})`,
      { file, key: "parameters", value: parameters },
    );
  }
  const { vocab_size, ...structure } = sizes;
  return {
    vocab_size,
    args: {
      ...structure,
      hidden_act: oneOf("hidden_act", "relu", BERT_ACTIVATIONS),
      hidden_dropout_prob: probability("hidden_dropout_prob", 0.02),
      attention_probs_dropout_prob: probability("attention_probs_dropout_prob", 0.02),
      initializer_range: real(
        "initializer_range",
        0.02,
        (v) => v >= 0 && Number.isFinite(v),
        "must be a finite number >= 0",
      ),
      layer_norm_eps: real("layer_norm_eps", 1e-12, (v) => v > 0 && v <= 1, "must be a number in (0, 1]"),
    },
  };
}

/**
 * The dictionary's genes by token id; throws unless tokens 0 and 1 are special and 2.. are dense.
 * `file` names the dictionary in errors.
 */
export function genesFromTokenDictionary(dictionary: ReadonlyMap<string, number>, file: string): string[] {
  const fail = (message: string, key: string | undefined, value: unknown): never => {
    throw new FileFormatError(`${file}: ${message}`, { file, key, value });
  };
  const byToken = new Map<number, string>();
  for (const [gene, token] of dictionary) {
    if (!Number.isInteger(token) || token < 0)
      fail(`token of ${quote(gene)} is ${token}, not an integer >= 0`, gene, token);
    const other = byToken.get(token);
    if (other !== undefined) fail(`${quote(other)} and ${quote(gene)} share token ${token}`, gene, token);
    byToken.set(token, gene);
  }
  for (const token of [PAD_TOKEN, MASK_TOKEN]) {
    if (!byToken.has(token)) fail(`no entry for token ${token} (PAD is 0, MASK is 1)`, undefined, token);
  }
  const genes: string[] = [];
  for (let token = FIRST_GENE_TOKEN; token < byToken.size; token++) {
    const gene = byToken.get(token);
    if (gene === undefined)
      fail(`token ids are not 0..${byToken.size - 1}: ${token} is missing`, undefined, token);
    genes.push(gene!);
  }
  return genes;
}

/** Where the parts of a pretrained checkpoint came from, for errors. */
export interface PretrainedFiles {
  /** config.json; default `<source>/config.json`. */
  readonly config?: string;
  /** The gene token dictionary; default `<source> token dictionary`. */
  readonly tokenDictionary?: string;
}

/**
 * Builds a Geneformer from a Hugging Face config (config.json parsed), its tensors by Hugging
 * Face's names and the token dictionary. `source` names the checkpoint in errors, `files` its
 * config and dictionary. The config is checked (checkBertConfig) before the model is built.
 */
export function geneformerFromHuggingFace(
  config: unknown,
  tensors: Record<string, Tensor>,
  tokenDictionary: ReadonlyMap<string, number>,
  source: string,
  files: PretrainedFiles = {},
): PretrainedGeneformer {
  const configFile = files.config ?? `${source}/config.json`;
  const { vocab_size, args } = checkBertConfig(config, configFile);
  const pad = (config as Record<string, unknown>).pad_token_id ?? PAD_TOKEN;
  if (pad !== PAD_TOKEN) {
    throw new CheckpointError(`${configFile}: pad_token_id is ${quote(pad)}; Geneformer's PAD token is 0`, {
      file: configFile,
      key: "pad_token_id",
      value: pad,
    });
  }
  const var_names_g = genesFromTokenDictionary(
    tokenDictionary,
    files.tokenDictionary ?? `${source} token dictionary`,
  );
  if (vocab_size !== var_names_g.length + FIRST_GENE_TOKEN) {
    throw new CheckpointError(
      `${configFile}: vocab_size ${vocab_size} does not match the token dictionary's ${var_names_g.length + FIRST_GENE_TOKEN} tokens`,
      { file: configFile, key: "vocab_size", value: vocab_size },
    );
  }
  const model = new Geneformer({ var_names_g, ...args });

  const { state, skippedKeys } = geneformerState(tensors, source);
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
 * A BertForMaskedLM's tensors by Hugging Face's names as a Geneformer's state: `bert.` + key; the
 * decoder weight must equal the word embeddings (tied); keys inference does not use are skipped.
 * `source` names the checkpoint in errors.
 */
export function geneformerState(
  tensors: Record<string, Tensor>,
  source: string,
): { state: Record<string, Tensor>; skippedKeys: string[] } {
  const state: Record<string, Tensor> = {};
  const skippedKeys: string[] = [];
  for (const [key, tensor] of Object.entries(tensors)) {
    if (SKIPPED.some((pattern) => pattern.test(key))) skippedKeys.push(key);
    else if (key === "cls.predictions.decoder.weight") {
      const word = tensors["bert.embeddings.word_embeddings.weight"];
      const tied =
        word !== undefined &&
        word.data.length === tensor.data.length &&
        word.data.every((v, i) => v === tensor.data[i]);
      if (!tied) {
        throw new CheckpointError(
          `${source}: cls.predictions.decoder.weight differs from the word embeddings; only tied decoders are supported`,
          { file: source, key },
        );
      }
    } else if (key === "cls.predictions.decoder.bias") {
      if (!("cls.predictions.bias" in tensors)) state["bert.cls.predictions.bias"] = tensor;
    } else state[`bert.${key}`] = tensor;
  }
  return { state, skippedKeys };
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
  // fromEntries keeps every name, "__proto__" included, as an own property.
  return Object.fromEntries(
    Object.entries(decoded).map(([key, t]) => {
      const data =
        t.data instanceof Float32Array
          ? t.data.slice()
          : Float32Array.from(t.data as ArrayLike<number>, Number);
      return [key, new Tensor(data, [...t.shape])];
    }),
  );
}
