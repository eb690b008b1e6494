// A tiny Hugging Face-style checkpoint written by torch (scripts/bert_reference.py pretrained,
// committed under tests/fixtures/geneformer-pretrained) with Geneformer-style pickled dictionaries
// and the reference's outputs for a cell block: imported, it must tokenize and compute as torch did.

import assert from "node:assert/strict";
import { copyFileSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import type { Batch } from "../../src/data/batch.js";
import { CheckpointError, FileFormatError } from "../../src/errors.js";
import { decodeSafetensors } from "../../src/formats/safetensors.js";
import { loadPretrainedGeneformer } from "../../src/io/pretrained-geneformer.js";
import { geneCoverage } from "../../src/models/geneformer-import.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import { DivideByScale } from "../../src/transforms/divide-by-scale.js";
import { Filter } from "../../src/transforms/filter.js";
import { runPython } from "../helpers/python.js";
import { tempDir } from "../helpers/temp.js";
import { assertRelative, hasTorch } from "../tensor/helpers.js";

const DIR = new URL("../fixtures/geneformer-pretrained/", import.meta.url).pathname;

async function checkImport(dir: string): Promise<void> {
  const loaded = await loadPretrainedGeneformer(dir, {
    tokenDictionary: join(DIR, "token_dictionary.pkl"),
    geneMedians: join(DIR, "gene_median_dictionary.pkl"),
  });
  assert.equal(loaded.var_names_g.length, 24);
  assert.deepEqual(loaded.skippedKeys, ["bert.embeddings.position_ids"]);
  assert.deepEqual(loaded.genesWithoutMedian, []);
  const data = decodeSafetensors(readFileSync(join(DIR, "x.safetensors")));
  const dataGenes = JSON.parse(data.metadata.var_names_g!) as string[];
  const coverage = geneCoverage(loaded.var_names_g, dataGenes);
  assert.deepEqual(coverage.unknown, ["ENSG_UNKNOWN_1", "ENSG_UNKNOWN_2"]);
  assert.equal(coverage.fraction, 24 / 26);

  const x = data.tensors.x_ng!;
  let batch: Batch = {
    x_ng: { format: "dense", nRows: x.shape[0]!, nCols: x.shape[1]!, data: x.data as Float32Array },
    var_names_g: dataGenes,
  };
  const filter = new Filter({ filter_list: loaded.var_names_g, ordering: true, allow_missing: true });
  batch = { ...batch, ...filter.forward(batch) };
  // eps 0: the reference divides by the medians exactly.
  const scale = new DivideByScale({ scale_g: loaded.scale_g!, var_names_g: loaded.var_names_g, eps: 0 });
  batch = { ...batch, ...scale.forward(batch) };
  const out = loaded.model.predict(batch, { output_attentions: false, output_logits: true });
  const expected = decodeSafetensors(readFileSync(join(DIR, "expected.safetensors"))).tensors;
  assert.deepEqual(
    Array.from((out.input_ids as Tensor).data),
    Array.from(expected.input_ids!.data as Int32Array),
  );
  const hidden = out.hidden_states as Tensor;
  const layers = hidden.shape[0]!;
  const perLayer = hidden.size / layers;
  assertRelative(
    "last hidden state",
    hidden.data.subarray((layers - 1) * perLayer),
    expected.last_hidden_state!.data as Float32Array,
  );
  assertRelative("logits", (out.logits as Tensor).data, expected.logits!.data as Float32Array);
}

test("a Hugging Face BertForMaskedLM with pickled Geneformer dictionaries imports and computes as torch", async () => {
  await checkImport(DIR);
});

// The same weights as torch.save writes them (pytorch_model.bin), with the tied decoder stored
// too, as older transformers versions saved it.
test("the same checkpoint as pytorch_model.bin imports identically", { skip: !hasTorch }, async () => {
  const dir = tempDir("geneformer-bin-");
  try {
    for (const name of [
      "config.json",
      "token_dictionary.pkl",
      "gene_median_dictionary.pkl",
      "x.safetensors",
      "expected.safetensors",
    ]) {
      copyFileSync(join(DIR, name), join(dir, name));
    }
    runPython(
      `import collections, json, sys, torch
args = json.load(sys.stdin)
sys.path.insert(0, args["scripts"])
from safetensors_io import read_safetensors
tensors, _ = read_safetensors(args["source"])
sd = collections.OrderedDict((k, torch.from_numpy(v)) for k, v in tensors.items())
sd["cls.predictions.decoder.weight"] = sd["bert.embeddings.word_embeddings.weight"]
sd["cls.predictions.decoder.bias"] = sd["cls.predictions.bias"]
torch.save(sd, args["target"])
print("null")`,
      {
        scripts: new URL("../../scripts", import.meta.url).pathname,
        source: join(DIR, "model.safetensors"),
        target: join(dir, "pytorch_model.bin"),
      },
    );
    await checkImport(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("imports fail clearly: a broken pytorch_model.bin, mismatched vocabulary, bad dictionaries", async () => {
  const dir = tempDir("geneformer-import-");
  try {
    copyFileSync(join(DIR, "config.json"), join(dir, "config.json"));
    writeFileSync(join(dir, "pytorch_model.bin"), "PK");
    const tokens = join(dir, "tokens.json");
    writeFileSync(tokens, JSON.stringify({ "<pad>": 0, "<mask>": 1, A: 2 }));
    await assert.rejects(
      loadPretrainedGeneformer(dir, { tokenDictionary: tokens }),
      /pytorch_model.bin: end of central directory: not found/,
    );
    copyFileSync(join(DIR, "model.safetensors"), join(dir, "model.safetensors"));
    await assert.rejects(loadPretrainedGeneformer(dir, { tokenDictionary: tokens }), CheckpointError);
    writeFileSync(tokens, JSON.stringify({ "<pad>": 0, A: 2 }));
    await assert.rejects(loadPretrainedGeneformer(dir, { tokenDictionary: tokens }), FileFormatError);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
