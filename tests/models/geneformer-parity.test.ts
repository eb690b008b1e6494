// Numerical parity with PyTorch: scripts/bert_reference.py runs a plain-torch BertForMaskedLM
// (Hugging Face's wiring) on our weights and our token inputs, exchanged as safetensors files
// written by our encoder; hidden states, attentions, logits, the MLM loss and every parameter's
// gradient must agree within 1e-4 of the reference's largest magnitude (float32), for each
// position-embedding type and activation.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import type { DenseMatrix } from "../../src/data/matrix.js";
import { decodeSafetensors, encodeSafetensors } from "../../src/formats/safetensors.js";
import { Geneformer } from "../../src/models/geneformer.js";
import type { BertActivation } from "../../src/models/layers/bert.js";
import type { PositionEmbeddingType } from "../../src/models/layers/position-embedding.js";
import { Generator } from "../../src/tensor/random.js";
import { Tensor } from "../../src/tensor/tensor.js";
import { tempDir } from "../helpers/temp.js";
import { assertRelative, hasTorch } from "../tensor/helpers.js";

const SCRIPT = new URL("../../scripts/bert_reference.py", import.meta.url).pathname;
const TYPES: PositionEmbeddingType[] = ["absolute", "relative_key", "relative_key_query"];
const ACTS: BertActivation[] = ["relu", "gelu", "silu", "gelu_new"];
const GENES = Array.from({ length: 20 }, (_, g) => `gene${g}`);

interface Case {
  name: string;
  model: Geneformer;
  path: string;
  inputIds: Int32Array;
  mask: Int32Array;
  positions: Int32Array;
  labels: Int32Array;
  n: number;
  s: number;
}

function makeCase(dir: string, type: PositionEmbeddingType, act: BertActivation, seed: number): Case {
  const model = new Geneformer({
    var_names_g: GENES,
    hidden_size: 8,
    num_hidden_layers: 2,
    num_attention_heads: 2,
    intermediate_size: 12,
    hidden_act: act,
    hidden_dropout_prob: 0,
    attention_probs_dropout_prob: 0,
    max_position_embeddings: 16,
    position_embedding_type: type,
    layer_norm_eps: 1e-12,
    mlm_probability: 0.5,
    seed,
  });
  model.eval();
  // Trained-looking weights: every tensor random, LayerNorm scales around 1 (scales near 0 or
  // large weights saturate the softmax and leave gradients of pure rounding noise).
  const g = new Generator(100 + seed);
  for (const [name, p] of model.namedParameters()) {
    g.fillNormal(p.data, name.endsWith("LayerNorm.weight") ? 1 : 0, 0.3);
  }
  // Counts with ties and zeros; genes beyond max_position_embeddings are cut off.
  const x = new Float32Array(3 * GENES.length);
  for (let i = 0; i < x.length; i++) x[i] = g.nextDouble() < 0.4 ? 0 : 1 + g.randint(0, 6);
  x.fill(0, 2 * GENES.length + 5); // the last cell has at most 5 genes: PAD positions
  const x_ng: DenseMatrix = { format: "dense", nRows: 3, nCols: GENES.length, data: x };
  const tokens = model.tokenize({ x_ng, var_names_g: GENES });
  const masked = model.maskTokens(tokens);
  assert.ok(masked.positions.length > 0);
  const labels = new Int32Array(tokens.n * tokens.s).fill(-100);
  masked.positions.forEach((p, k) => {
    labels[p] = masked.labels[k]!;
  });
  const mask = Int32Array.from(tokens.attention_mask);
  const weights: Record<string, { dtype: "F32"; shape: number[]; data: Float32Array }> = {};
  for (const [name, p] of model.namedParameters()) {
    // Our keys are upstream Geneformer's (`bert.` + Hugging Face's BertForMaskedLM keys).
    weights[name.slice("bert.".length)] = { dtype: "F32", shape: [...p.shape], data: p.data as Float32Array };
  }
  const shape = [tokens.n, tokens.s];
  const config = {
    vocab_size: GENES.length + 2,
    hidden_size: 8,
    num_hidden_layers: 2,
    num_attention_heads: 2,
    intermediate_size: 12,
    hidden_act: act,
    max_position_embeddings: 16,
    type_vocab_size: 2,
    position_embedding_type: type,
    layer_norm_eps: 1e-12,
  };
  const name = `${type}-${act}`;
  const path = join(dir, `${name}.safetensors`);
  writeFileSync(
    path,
    encodeSafetensors(
      {
        ...weights,
        input_ids: { dtype: "I32", shape, data: masked.input_ids },
        attention_mask: { dtype: "I32", shape, data: mask },
        labels: { dtype: "I32", shape, data: labels },
      },
      { config: JSON.stringify(config) },
    ),
  );
  return {
    name,
    model,
    path,
    inputIds: masked.input_ids,
    mask,
    positions: masked.positions,
    labels: masked.labels,
    n: tokens.n,
    s: tokens.s,
  };
}

test("Geneformer's BERT agrees with the PyTorch reference for every position type and activation", {
  skip: !hasTorch,
}, () => {
  const dir = tempDir("geneformer-parity-");
  try {
    const cases: Case[] = [];
    let seed = 0;
    for (const type of TYPES) for (const act of ACTS) cases.push(makeCase(dir, type, act, seed++));
    const run = spawnSync("/usr/bin/python3", [SCRIPT, "run", ...cases.map((c) => c.path)], {
      encoding: "utf8",
    });
    assert.equal(run.status, 0, run.stderr);
    const worst: Record<string, number> = {};
    const note = (what: string, r: number) => {
      worst[what] = Math.max(worst[what] ?? 0, r);
    };
    for (const c of cases) {
      const ref = decodeSafetensors(readFileSync(c.path.replace(".safetensors", ".out.safetensors"))).tensors;
      const refData = (key: string) => {
        const t = ref[key];
        assert.ok(t, `${c.name}: reference has no ${key}`);
        return t.data as Float32Array;
      };
      const bert = c.model.bert;
      const ids = new Tensor(c.inputIds, [c.n, c.s]);
      const mask = new Tensor(c.mask, [c.n, c.s]);
      const out = bert.bert.forward(ids, mask, { outputHiddenStates: true, outputAttentions: true });
      out.hiddenStates.forEach((h, i) => {
        note(
          "hidden_states",
          assertRelative(`${c.name} hidden_states.${i}`, h.data, refData(`hidden_states.${i}`)),
        );
      });
      out.attentions.forEach((a, i) => {
        note("attentions", assertRelative(`${c.name} attentions.${i}`, a.data, refData(`attentions.${i}`)));
      });
      note(
        "logits",
        assertRelative(
          `${c.name} logits`,
          bert.cls.predictions.forward(out.last_bsh).data,
          refData("logits"),
        ),
      );
      c.model.zeroGrad();
      const tokens = { n: c.n, s: c.s, input_ids: c.inputIds, attention_mask: Uint8Array.from(c.mask) };
      const loss = c.model.maskedLmLoss(tokens, {
        input_ids: c.inputIds,
        positions: c.positions,
        labels: c.labels,
      });
      assert.ok(loss);
      note("loss", assertRelative(`${c.name} loss`, loss.data, refData("loss")));
      loss.backward();
      // The key bias's gradient is zero in exact arithmetic without key-side relative terms (a
      // constant added to every score of a query cancels in the softmax): both sides hold rounding
      // noise there, so tensors whose reference is that small are checked against the largest
      // gradient of the case instead of their own scale.
      const named = c.model.namedParameters();
      let gradScale = 0;
      for (const [name] of named) {
        for (const v of refData(`grad.${name.slice("bert.".length)}`))
          gradScale = Math.max(gradScale, Math.abs(v));
      }
      for (const [name, p] of named) {
        const grad = p.grad?.data ?? new Float32Array(p.size);
        const refGrad = refData(`grad.${name.slice("bert.".length)}`);
        if (refGrad.every((v) => Math.abs(v) <= 1e-6 * gradScale)) {
          for (const v of grad)
            assert.ok(Math.abs(v) <= 1e-6 * gradScale, `${c.name} grad ${name}: ${v} is not ~0`);
          continue;
        }
        note("gradients", assertRelative(`${c.name} grad ${name}`, grad, refGrad));
      }
    }
    // The worst relative differences, for the record (node --test prints diagnostics).
    console.log(`geneformer parity, worst max|ours - torch| / max|torch|: ${JSON.stringify(worst)}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
