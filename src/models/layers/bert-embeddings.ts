// Hugging Face's BertEmbeddings: word + token-type (+ absolute position) embeddings, LayerNorm,
// dropout, with its parameter names (`word_embeddings.weight`, `position_embeddings.weight`,
// `token_type_embeddings.weight`, `LayerNorm.weight`, ...). The position table exists for every
// position_embedding_type, as in Hugging Face, but only "absolute" adds it (the relative types
// put positions into the attention scores instead). Token types are all 0 here (Hugging Face's
// default when token_type_ids is not given), so one row of their table is added everywhere.

import { ArgumentError } from "../../errors.js";
import { Dropout } from "../../nn/dropout.js";
import { Embedding } from "../../nn/embedding.js";
import { LayerNorm } from "../../nn/layer-norm.js";
import { Module } from "../../nn/module.js";
import { add } from "../../tensor/ops/elementwise.js";
import { indexSelect } from "../../tensor/ops/indexing.js";
import { slice } from "../../tensor/ops/shape.js";
import { Tensor } from "../../tensor/tensor.js";
import type { BertLayerOptions } from "./bert.js";
import type { PositionEmbeddingType } from "./position-embedding.js";

export interface BertEmbeddingsConfig {
  vocabSize: number;
  hiddenSize: number;
  maxPositionEmbeddings: number;
  typeVocabSize: number;
  hiddenDropoutProb: number;
  layerNormEps: number;
  padTokenId: number;
  positionEmbeddingType: PositionEmbeddingType;
}

export class BertEmbeddings extends Module {
  readonly word_embeddings: Embedding;
  readonly position_embeddings: Embedding;
  readonly token_type_embeddings: Embedding;
  readonly LayerNorm: LayerNorm;
  readonly dropout: Dropout;
  readonly positionEmbeddingType: PositionEmbeddingType;

  constructor(config: BertEmbeddingsConfig, options: BertLayerOptions) {
    super();
    const h = config.hiddenSize;
    const embeddingOptions = { generator: options.generator, dtype: options.dtype ?? "float32" };
    this.word_embeddings = this.registerModule(
      "word_embeddings",
      new Embedding(config.vocabSize, h, { ...embeddingOptions, paddingIdx: config.padTokenId }),
    );
    this.position_embeddings = this.registerModule(
      "position_embeddings",
      new Embedding(config.maxPositionEmbeddings, h, embeddingOptions),
    );
    this.token_type_embeddings = this.registerModule(
      "token_type_embeddings",
      new Embedding(config.typeVocabSize, h, embeddingOptions),
    );
    this.LayerNorm = this.registerModule(
      "LayerNorm",
      new LayerNorm(h, { eps: config.layerNormEps, dtype: embeddingOptions.dtype }),
    );
    this.dropout = this.registerModule("dropout", new Dropout(config.hiddenDropoutProb, options.generator));
    this.positionEmbeddingType = config.positionEmbeddingType;
  }

  /** int32 token ids [b, s] -> [b, s, h]; positions are 0..s-1 and token types 0. */
  forward(inputIds_bs: Tensor): Tensor {
    const s = inputIds_bs.shape[1]!;
    const maxPositions = this.position_embeddings.numEmbeddings;
    if (inputIds_bs.ndim !== 2 || s > maxPositions) {
      throw new ArgumentError(
        `BertEmbeddings: input ids [${inputIds_bs.shape.join(", ")}] must be [b, s] with s <= max_position_embeddings ${maxPositions}`,
      );
    }
    // Per position [s, h]: the token-type row 0, plus the position row when absolute; broadcast over b.
    let perPosition = indexSelect(this.token_type_embeddings.weight, 0, new Tensor(new Int32Array(s), [s]));
    if (this.positionEmbeddingType === "absolute") {
      perPosition = add(perPosition, slice(this.position_embeddings.weight, 0, 0, s));
    }
    const embeddings = add(this.word_embeddings.forward(inputIds_bs), perPosition);
    return this.dropout.forward(this.LayerNorm.forward(embeddings));
  }
}
