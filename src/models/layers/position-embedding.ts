// The position embeddings a BERT layer takes (Hugging Face's position_embedding_type). Apart from
// bert.ts so that the command line's registry names them without loading the layers.

export type PositionEmbeddingType = "absolute" | "relative_key" | "relative_key_query";

export const POSITION_EMBEDDING_TYPES: readonly PositionEmbeddingType[] = [
  "absolute",
  "relative_key",
  "relative_key_query",
];
