import assert from "node:assert/strict";
import { test } from "node:test";
import { type DenseMatrix, sparsify } from "../../src/data/matrix.js";
import { ArgumentError, DataValueError, SchemaMismatchError } from "../../src/errors.js";
import { Geneformer, type GeneformerOptions } from "../../src/models/geneformer.js";
import { tokenize } from "../../src/models/geneformer-tokens.js";
import { Generator } from "../../src/tensor/random.js";
import { Tensor } from "../../src/tensor/tensor.js";
import { runPython } from "../helpers/python.js";

const GENES = Array.from({ length: 12 }, (_, g) => `g${g}`);

function tiny(extra: Partial<GeneformerOptions> = {}): Geneformer {
  return new Geneformer({
    var_names_g: GENES,
    hidden_size: 8,
    num_hidden_layers: 2,
    num_attention_heads: 2,
    intermediate_size: 16,
    max_position_embeddings: 10,
    ...extra,
  });
}

/** Random expression with ties, zeros and (optionally) negative values. */
function block(n: number, seed: number, negatives = false): DenseMatrix {
  const g = new Generator(seed);
  const data = new Float32Array(n * GENES.length);
  for (let i = 0; i < data.length; i++) {
    const u = g.nextDouble();
    data[i] = u < 0.35 ? 0 : negatives && u < 0.45 ? -g.randint(1, 4) : g.randint(1, 5);
  }
  return { format: "dense", nRows: n, nCols: GENES.length, data };
}

// Upstream's tokenize_with_perturbations in numpy, with ties broken by gene index (stable sort of
// the negated values; upstream's argsort leaves ties unspecified).
const UPSTREAM_TOKENIZE = `
import json, sys
import numpy as np
d = json.load(sys.stdin)
x = np.array(d["x"], dtype=np.float32).reshape(d["n"], d["g"])
names = np.array(d["names"])
if d["deletion"]:
    x[:, np.isin(names, d["deletion"])] = 0
if d["activation"]:
    top = x.max()
    for i, g in enumerate(d["activation"][::-1]):
        x[:, names == g] = top + i + 1
order = np.argsort(-x, axis=1, kind="stable")[:, : d["m"]]
ids = (order + 2).astype(np.int64)
mask = np.take_along_axis(x, order, axis=1) != 0
ids[~mask] = 0
for g, t in (d["map"] or {}).items():
    ids[ids == int(np.where(names == g)[0][0]) + 2] = t
print(json.dumps({"ids": ids.flatten().tolist(), "mask": mask.astype(int).flatten().tolist(), "s": ids.shape[1]}))
`;

function upstreamTokens(
  x: DenseMatrix,
  m: number,
  perturb: { deletion?: string[]; activation?: string[]; map?: Record<string, number> } = {},
) {
  return runPython(UPSTREAM_TOKENIZE, {
    x: Array.from(x.data),
    n: x.nRows,
    g: x.nCols,
    names: GENES,
    m,
    deletion: perturb.deletion ?? null,
    activation: perturb.activation ?? null,
    map: perturb.map ?? null,
  }) as { ids: number[]; mask: number[]; s: number };
}

test("Geneformer's parameters carry upstream's names and start as Hugging Face initialises BERT", () => {
  const model = tiny({ position_embedding_type: "relative_key", initializer_range: 0.05 });
  const names = model.namedParameters().map(([n]) => n);
  assert.equal(names[0], "bert.bert.embeddings.word_embeddings.weight");
  assert.ok(names.includes("bert.bert.encoder.layer.1.attention.self.distance_embedding.weight"));
  assert.ok(names.includes("bert.cls.predictions.bias"));
  assert.ok(names.includes("bert.cls.predictions.transform.LayerNorm.weight"));
  assert.ok(!names.some((n) => n.includes("decoder")), "the decoder is tied, not a parameter of its own");
  const word = model.bert.bert.embeddings.word_embeddings.weight;
  assert.deepEqual(word.shape, [GENES.length + 2, 8]);
  assert.ok(
    word.data.subarray(0, 8).every((v) => v === 0),
    "PAD row is 0",
  );
  for (const [name, p] of model.namedParameters()) {
    if (name.endsWith("LayerNorm.weight"))
      assert.ok(
        p.data.every((v) => v === 1),
        name,
      );
    else if (name.endsWith("bias"))
      assert.ok(
        p.data.every((v) => v === 0),
        name,
      );
  }
  // The weights together: mean 0, standard deviation initializer_range (about 1,300 draws).
  const draws = model
    .namedParameters()
    .filter(([n]) => n.endsWith("weight") && !n.includes("LayerNorm") && !n.includes("word_embeddings"))
    .flatMap(([, p]) => Array.from(p.data));
  const mean = draws.reduce((a, b) => a + b, 0) / draws.length;
  const std = Math.sqrt(draws.reduce((a, b) => a + (b - mean) ** 2, 0) / draws.length);
  assert.ok(draws.length > 1000 && Math.abs(mean) < 0.005 && Math.abs(std - 0.05) < 0.004, `${mean} ${std}`);
});

test("tokenize ranks genes as upstream's argsort does, from dense or CSR, with negative values", () => {
  const model = tiny();
  for (const negatives of [false, true]) {
    const x = block(6, negatives ? 2 : 1, negatives);
    const ref = upstreamTokens(x, 10);
    for (const x_ng of [x, sparsify(x)]) {
      // The model takes counts only; the tokenizer itself ranks negative values as upstream does.
      if (negatives) assert.throws(() => model.tokenize({ x_ng, var_names_g: GENES }), DataValueError);
      const tokens = negatives
        ? tokenize(x_ng, { maxLength: 10, full: true })
        : model.tokenize({ x_ng, var_names_g: GENES });
      assert.equal(tokens.s, ref.s);
      assert.deepEqual(Array.from(tokens.input_ids), ref.ids);
      assert.deepEqual(Array.from(tokens.attention_mask), ref.mask);
    }
  }
  assert.throws(
    () => model.tokenize({ x_ng: block(1, 1), var_names_g: [...GENES].reverse() }),
    SchemaMismatchError,
  );
});

test("training sequences stop after the last attended position and give the same loss as full ones", () => {
  const model = tiny({ hidden_dropout_prob: 0, attention_probs_dropout_prob: 0, mlm_probability: 0.5 });
  const x = block(4, 3);
  x.data.fill(0, 0, 5); // fewer non-zeros than positions in every cell
  for (let i = 1; i < 4; i++) x.data.fill(0, i * 12, i * 12 + 6);
  const full = model.tokenize({ x_ng: x, var_names_g: GENES }, true);
  const short = model.tokenize({ x_ng: x, var_names_g: GENES }, false);
  assert.equal(full.s, 10);
  assert.ok(short.s < full.s);
  for (let i = 0; i < 4; i++) {
    for (let p = 0; p < full.s; p++) {
      const id = p < short.s ? short.input_ids[i * short.s + p] : 0;
      assert.equal(full.input_ids[i * full.s + p], id);
    }
  }
  const state = model.randomState();
  const masked = model.maskTokens(short);
  // The same choices placed in the full layout.
  const ids = new Int32Array(full.n * full.s);
  for (let i = 0; i < 4; i++) ids.set(masked.input_ids.subarray(i * short.s, (i + 1) * short.s), i * full.s);
  const positions = masked.positions.map((p) => Math.floor(p / short.s) * full.s + (p % short.s));
  const lossShort = model.maskedLmLoss(short, masked)!.item();
  const lossFull = model.maskedLmLoss(full, { input_ids: ids, positions, labels: masked.labels })!.item();
  assert.ok(Math.abs(lossShort - lossFull) < 1e-5 * Math.abs(lossFull), `${lossShort} vs ${lossFull}`);
  model.setRandomState(state);
  assert.deepEqual(model.maskTokens(short), masked, "the generator state replays the draw");
});

test("MLM masking: attended positions chosen with mlm_probability, 80% MASK, 10% random gene, 10% kept", () => {
  const model = tiny({ mlm_probability: 0.3 });
  const x = block(400, 4);
  const tokens = model.tokenize({ x_ng: x, var_names_g: GENES });
  const { input_ids, positions, labels } = model.maskTokens(tokens);
  let attended = 0;
  for (const a of tokens.attention_mask) attended += a;
  const counts = { mask: 0, kept: 0, other: 0 };
  positions.forEach((p, k) => {
    assert.equal(tokens.attention_mask[p], 1, "only attended positions");
    assert.equal(labels[k], tokens.input_ids[p], "labels are the original tokens");
    const id = input_ids[p]!;
    if (id === 1) counts.mask++;
    else if (id === labels[k]) counts.kept++;
    else {
      assert.ok(id >= 2 && id < GENES.length + 2, `random token ${id} is a gene`);
      counts.other++;
    }
  });
  for (let p = 0; p < input_ids.length; p++) {
    if (!positions.includes(p)) assert.equal(input_ids[p], tokens.input_ids[p]);
  }
  const m = positions.length;
  // Binomial bounds at about 4 standard deviations. A random gene equals the label with
  // probability 1/12, so "kept" is 0.1 + 0.1/12 and "other" 0.1 * 11/12.
  const near = (observed: number, n: number, p: number, what: string) =>
    assert.ok(Math.abs(observed - n * p) < 4 * Math.sqrt(n * p * (1 - p)), `${what}: ${observed} of ${n}`);
  near(m, attended, 0.3, "chosen");
  near(counts.mask, m, 0.8, "MASK");
  near(counts.kept, m, 0.1 + 0.1 / 12, "kept");
  near(counts.other, m, 0.1 * (11 / 12), "random");
});

test("forward returns the masked-LM loss, and a resumed generator replays it exactly", () => {
  const model = tiny();
  const batch = { x_ng: sparsify(block(5, 5)), var_names_g: GENES };
  const state = model.randomState();
  const first = model.forward(batch).loss!.item();
  assert.ok(Number.isFinite(first) && first > 0);
  const second = model.forward(batch).loss!.item();
  assert.notEqual(first, second, "new masks and dropout on the next call");
  model.setRandomState(state);
  assert.equal(model.forward(batch).loss!.item(), first);
  // No attended position at all: nothing chosen, no loss.
  const empty: DenseMatrix = { format: "dense", nRows: 2, nCols: 12, data: new Float32Array(24) };
  assert.deepEqual(model.forward({ x_ng: empty, var_names_g: GENES }), {});
});

test("predict's in-silico perturbations follow upstream's tokenize_with_perturbations", () => {
  const model = tiny().eval();
  const x = block(5, 6);
  const cases: Array<{ deletion?: string[]; activation?: string[]; map?: Record<string, number> }> = [
    {},
    { deletion: ["g3", "g7"] },
    { activation: ["g5", "g0"] },
    { map: { g2: 1, g4: 0 } },
    { deletion: ["g5"], activation: ["g5", "g9"], map: { g9: 1 } },
  ];
  for (const perturb of cases) {
    const ref = upstreamTokens(x, 10, perturb);
    const out = model.predict(
      { x_ng: sparsify(x), var_names_g: GENES },
      {
        output_hidden_states: false,
        output_attentions: false,
        feature_deletion: perturb.deletion ?? null,
        feature_activation: perturb.activation ?? null,
        feature_map: perturb.map ?? null,
      },
    );
    assert.deepEqual(Array.from((out.input_ids as Tensor).data), ref.ids, JSON.stringify(perturb));
    assert.deepEqual(Array.from((out.attention_mask as Tensor).data), ref.mask, JSON.stringify(perturb));
  }
  const batch = { x_ng: x, var_names_g: GENES };
  assert.throws(() => model.predict(batch, { feature_deletion: ["nope"] }), /feature_deletion gene "nope"/);
  assert.throws(() => model.predict(batch, { feature_activation: ["nope"] }), ArgumentError);
  assert.throws(() => model.predict(batch, { feature_map: { nope: 1 } }), ArgumentError);
  assert.throws(() => model.predict(batch, { feature_map: { g1: 99 } }), /not a token id/);
});

test("predict returns every layer's hidden states and attentions, and the mean embedding over attended positions", () => {
  const model = tiny({ num_hidden_layers: 3 }).eval();
  const x = block(3, 7);
  const out = model.predict({ x_ng: x, var_names_g: GENES }, { output_logits: true });
  const hidden = out.hidden_states as Tensor;
  const attentions = out.attentions as Tensor;
  const mask = (out.attention_mask as Tensor).data;
  assert.deepEqual(hidden.shape, [4, 3, 10, 8]);
  assert.deepEqual(attentions.shape, [3, 3, 2, 10, 10]);
  assert.deepEqual((out.logits as Tensor).shape, [3, 10, GENES.length + 2]);
  // Attention rows are distributions, with no weight on PAD keys.
  for (let r = 0; r < attentions.size / 10; r++) {
    let total = 0;
    const cell = Math.floor(r / 20) % 3;
    for (let k = 0; k < 10; k++) {
      const w = attentions.data[r * 10 + k]!;
      total += w;
      if (!mask[cell * 10 + k]) assert.equal(w, 0);
    }
    assert.ok(Math.abs(total - 1) < 1e-5);
  }
  const embedding = out.cell_embedding_nh as Tensor;
  assert.deepEqual(embedding.shape, [3, 8]);
  const last = hidden.data.subarray(3 * 3 * 10 * 8);
  for (let i = 0; i < 3; i++) {
    for (let e = 0; e < 8; e++) {
      let sum = 0;
      let count = 0;
      for (let p = 0; p < 10; p++) {
        if (!mask[i * 10 + p]) continue;
        sum += last[(i * 10 + p) * 8 + e]!;
        count++;
      }
      assert.ok(Math.abs(embedding.data[i * 8 + e]! - sum / count) < 1e-6);
    }
  }
  // Embeddings alone run on the shorter sequences and agree.
  const alone = model.predict(
    { x_ng: x, var_names_g: GENES },
    {
      output_hidden_states: false,
      output_attentions: false,
      output_input_ids: false,
      output_attention_mask: false,
    },
  );
  assert.deepEqual(Object.keys(alone), ["cell_embedding_nh"]);
  const a = (alone.cell_embedding_nh as Tensor).data;
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - embedding.data[i]!) < 1e-5);
});

test("Geneformer rejects invalid arguments with the argument's name", () => {
  assert.throws(
    () => tiny({ position_embedding_type: "rotary" as never }),
    /position_embedding_type "rotary"/,
  );
  assert.throws(() => tiny({ hidden_act: "tanh" as never }), /hiddenAct "tanh"/);
  assert.throws(() => tiny({ num_attention_heads: 3 }), /multiple of numAttentionHeads/);
  assert.throws(() => tiny({ mlm_probability: 1.5 }), /mlm_probability/);
});

test("validate: MLM loss and accuracy of argmax logits on the masked positions; the training draws untouched", () => {
  const model = tiny({ seed: 4 });
  model.train(false);
  const x = block(6, 21);
  const batch = { x_ng: x, var_names_g: GENES };
  const training = (state: unknown) => {
    const { validation: _, ...rest } = state as { validation: unknown };
    return JSON.stringify(rest);
  };
  const before = model.randomState();
  const out = model.validate(batch);
  assert.equal(training(model.randomState()), training(before));

  // Recomputed here: the same masks (validation draws seeded seed + 1), then the encoder and MLM head.
  const tokens = model.tokenize(batch, false);
  const masked = model.maskTokens(tokens, new Generator(5));
  const hidden = model.bert.bert.forward(
    new Tensor(masked.input_ids, [tokens.n, tokens.s]),
    new Tensor(Int32Array.from(tokens.attention_mask), [tokens.n, tokens.s]),
  ).last_bsh.data;
  const h = 8;
  let correct = 0;
  masked.positions.forEach((p, i) => {
    const row = new Tensor(hidden.slice(p * h, (p + 1) * h), [1, h]);
    const logits = model.bert.cls.predictions.forward(row).data;
    let best = 0;
    for (let v = 1; v < logits.length; v++) if (logits[v]! > logits[best]!) best = v;
    if (best === masked.labels[i]) correct++;
  });
  assert.ok(masked.labels.length > 3);
  // Some right and some wrong, so that a count off by one position would show.
  assert.ok(correct > 0 && correct < masked.labels.length, `${correct} of ${masked.labels.length}`);
  assert.equal(out.metrics?.val_mlm_accuracy, correct / masked.labels.length);
  assert.ok(Number.isFinite(out.loss?.item()));
  assert.deepEqual(model.validationMetrics, ["val_mlm_accuracy"]);

  // The validation draws are part of the random state: a model restored from it (a resumed run)
  // validates its next batch on the same masks as this one.
  const restored = tiny({ seed: 4 });
  restored.loadStateDict(model.stateDict());
  restored.train(false);
  restored.setRandomState(model.randomState());
  assert.deepEqual(restored.validate(batch).metrics, model.validate(batch).metrics);
  assert.notDeepEqual(restored.randomState(), before);
});
