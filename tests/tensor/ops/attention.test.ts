import assert from "node:assert/strict";
import { ArgumentError } from "../../../src/errors.js";
import {
  add,
  dropout,
  matmul,
  mul,
  permute,
  reshape,
  softmax,
  type Tensor,
  tensor,
} from "../../../src/tensor/index.js";
import { multiHeadAttention, multiHeadAttentionWithProbs } from "../../../src/tensor/ops/attention.js";
import { Generator } from "../../../src/tensor/random.js";
import { test } from "../../helpers/backends.js";
import { assertClose, assertGradients, input } from "../helpers.js";

// The textbook composition: split heads by reshape + permute, matmuls, softmax, merge heads back.
function composed(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  heads: number,
  mask: Tensor | null,
  p = 0,
  generator?: Generator,
): Tensor {
  const [b, sq, h] = q.shape as [number, number, number];
  const sk = k.shape[1]!;
  const d = h / heads;
  const split = (t: Tensor, s: number) => permute(reshape(t, [b, s, heads, d]), [0, 2, 1, 3]);
  let scores = mul(matmul(split(q, sq), permute(split(k, sk), [0, 1, 3, 2])), 1 / Math.sqrt(d));
  if (mask !== null) scores = add(scores, reshape(mask, [b, 1, 1, sk]));
  let probs = softmax(scores);
  if (p > 0) probs = dropout(probs, p, true, generator!);
  return reshape(permute(matmul(probs, split(v, sk)), [0, 2, 1, 3]), [b, sq, h]);
}

const mask = tensor(
  [
    [0, 0, 0, -1e9],
    [0, -1e9, 0, 0],
  ],
  { dtype: "float64" },
);

test("multiHeadAttention equals the reshape/permute/matmul/softmax composition, with and without a mask", () => {
  const q = input([2, 3, 6], 1);
  const k = input([2, 4, 6], 2);
  const v = input([2, 4, 6], 3);
  assertClose(multiHeadAttention(q, k, v, 2).data, composed(q, k, v, 2, null).data);
  assertClose(multiHeadAttention(q, k, v, 3, { mask }).data, composed(q, k, v, 3, mask).data);
  // masked keys get no weight: changing their values changes nothing
  const v2 = v.clone();
  v2.data.fill(100, 3 * 6, 4 * 6);
  assertClose(
    multiHeadAttention(q, k, v2, 2, { mask }).data.subarray(0, 18),
    multiHeadAttention(q, k, v, 2, { mask }).data.subarray(0, 18),
  );
});

test("attention dropout draws the same mask as dropout over [b, heads, sq, sk] probabilities; none in evaluation", () => {
  const q = input([2, 3, 4], 4);
  const k = input([2, 3, 4], 5);
  const v = input([2, 3, 4], 6);
  const options = { dropoutP: 0.3, training: true };
  const ours = multiHeadAttention(q, k, v, 2, { ...options, generator: new Generator(9) });
  assertClose(ours.data, composed(q, k, v, 2, null, 0.3, new Generator(9)).data);
  assertClose(
    multiHeadAttention(q, k, v, 2, { ...options, training: false }).data,
    composed(q, k, v, 2, null).data,
  );
  assert.throws(() => multiHeadAttention(q, k, v, 2, { dropoutP: 0.3, training: true }), ArgumentError);
});

test("gradients of multiHeadAttention in q, k and v, with a mask and with dropout", () => {
  const q = input([2, 3, 6], 7);
  const k = input([2, 4, 6], 8);
  const v = input([2, 4, 6], 9);
  assertGradients((a, b, c) => multiHeadAttention(a, b, c, 2, { mask }), [q, k, v]);
  const state = new Generator(10).getState();
  assertGradients(
    (a, b, c) =>
      multiHeadAttention(a, b, c, 3, {
        mask,
        dropoutP: 0.25,
        training: true,
        generator: Generator.fromState(state),
      }),
    [q, k, v],
  );
});

test("multiHeadAttention rejects shapes that do not fit", () => {
  const q = input([2, 3, 6], 1);
  assert.throws(() => multiHeadAttention(q, q, q, 4), ArgumentError);
  assert.throws(() => multiHeadAttention(q, input([2, 3, 4], 2), q, 2), ArgumentError);
  assert.throws(
    () => multiHeadAttention(q, q, q, 2, { mask: tensor([[0, 0]], { dtype: "float64" }) }),
    ArgumentError,
  );
});

// Hugging Face's relative scores written out term by term: score(j, l, r) = scale (q_l . k_r +
// q_l . E[l - r + M - 1] (+ k_r . E[l - r + M - 1])) + mask_r, then softmax over r.
function relativeReference(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  table: Tensor,
  heads: number,
  keyQuery: boolean,
  maskRows: Tensor | null,
): { context: number[]; probs: number[] } {
  const [b, sq, h] = q.shape as [number, number, number];
  const sk = k.shape[1]!;
  const d = h / heads;
  const m = (table.shape[0]! + 1) / 2;
  const at = (t: Tensor, i: number, s: number, j: number, e: number) => t.data[(i * s + j) * h + e]!;
  const context = new Array<number>(b * sq * h).fill(0);
  const probs: number[] = [];
  for (let i = 0; i < b; i++) {
    for (let hh = 0; hh < heads; hh++) {
      for (let l = 0; l < sq; l++) {
        const scores: number[] = [];
        for (let r = 0; r < sk; r++) {
          let s = 0;
          for (let e = 0; e < d; e++) {
            const dist = table.data[(l - r + m - 1) * d + e]!;
            const qe = at(q, i, sq, l, hh * d + e);
            const ke = at(k, i, sk, r, hh * d + e);
            s += qe * ke + qe * dist + (keyQuery ? ke * dist : 0);
          }
          scores.push(s / Math.sqrt(d) + (maskRows ? maskRows.data[i * sk + r]! : 0));
        }
        const top = Math.max(...scores);
        const w = scores.map((x) => Math.exp(x - top));
        const total = w.reduce((x, y) => x + y, 0);
        for (let r = 0; r < sk; r++) {
          probs.push(w[r]! / total);
          for (let e = 0; e < d; e++)
            context[(i * sq + l) * h + hh * d + e]! += (w[r]! / total) * at(v, i, sk, r, hh * d + e);
        }
      }
    }
  }
  return { context, probs };
}

test("relative_key and relative_key_query scores match the term-by-term definition; probabilities are returned", () => {
  const q = input([2, 3, 6], 11);
  const k = input([2, 4, 6], 12);
  const v = input([2, 4, 6], 13);
  const table = input([9, 3], 14); // M = 5
  for (const keyQuery of [false, true]) {
    const ours = multiHeadAttentionWithProbs(q, k, v, 2, { mask, relative: { embedding: table, keyQuery } });
    const ref = relativeReference(q, k, v, table, 2, keyQuery, mask);
    assertClose(ours.context.data, ref.context, 1e-12);
    assert.deepEqual(ours.probs.shape, [2, 2, 3, 4]);
    assertClose(ours.probs.data, ref.probs, 1e-12);
  }
  assert.throws(
    () => multiHeadAttention(q, k, v, 2, { relative: { embedding: input([5, 3], 1), keyQuery: false } }),
    ArgumentError,
  );
});

test("gradients of relative-position attention in q, k, v and the distance table", () => {
  const q = input([2, 3, 4], 15);
  const k = input([2, 3, 4], 16);
  const v = input([2, 3, 4], 17);
  const table = input([7, 2], 18);
  const rowMask = tensor(
    [
      [0, 0, -1e9],
      [0, 0, 0],
    ],
    { dtype: "float64" },
  );
  for (const keyQuery of [false, true]) {
    assertGradients(
      (a, b, c, e) => multiHeadAttention(a, b, c, 2, { mask: rowMask, relative: { embedding: e, keyQuery } }),
      [q, k, v, table],
    );
  }
});
