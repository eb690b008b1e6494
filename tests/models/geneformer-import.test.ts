import assert from "node:assert/strict";
import { test } from "node:test";
import { Geneformer } from "../../src/models/geneformer.js";
import { bertParameterCount, checkBertConfig } from "../../src/models/geneformer-import.js";

test("bertParameterCount counts the parameters the model builds, for every position type", () => {
  for (const type of ["absolute", "relative_key", "relative_key_query"] as const) {
    const config = {
      vocab_size: 12,
      hidden_size: 8,
      num_hidden_layers: 2,
      num_attention_heads: 2,
      intermediate_size: 16,
      max_position_embeddings: 16,
      type_vocab_size: 2,
      position_embedding_type: type,
    };
    const { args } = checkBertConfig(config, "config.json");
    const model = new Geneformer({ var_names_g: Array.from({ length: 10 }, (_, i) => `g${i}`), ...args });
    const built = model.parameters().reduce((total, p) => total + p.size, 0);
    assert.equal(bertParameterCount(config), built, type);
  }
});
