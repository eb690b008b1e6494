// Multi-head scaled dot-product attention as one op, on queries, keys and values in their [b, s, h]
// layout (h = heads * d, head j owning columns j*d .. (j+1)*d). Each (batch item, head) product is
// a strided gemm that reads its head's columns in place (leading dimension h), so the usual
// reshape-and-permute copies to [b, heads, s, d] and back never happen, forward or backward. The
// additive mask, scale, softmax and dropout are fused loops over the [b, heads, sq, sk] scores.
//
// Forward (per batch item and head): S = scale Q K^T + mask, P = softmax(S), Pd = dropout(P),
// C = Pd V. Backward: dPd = dC V^T, dV = Pd^T dC, dP = dropout's mask and scale applied to dPd,
// dS = P (dP - rowsum(dP P)), dQ = scale dS K, dK = scale dS^T Q.
//
// Relative positions (Hugging Face's BertSelfAttention, position_embedding_type relative_key and
// relative_key_query, after Shaw et al. and Huang et al. method 4) add scale q_l . E[l - r] (and
// scale k_r . E[l - r]) to the score of query l and key r, with E a learned table over distances.
// Instead of materialising E[l - r] for every (l, r) pair ([sq, sk, d], as the einsum does), one
// gemm per batch item gives the products of every query row with every distance in use,
// T = Q E^T ([sq heads, sq + sk - 1]), and the scores pick T's entry at their distance. The
// backward scatters dS back onto the same entries: dQ += dT E, dE += dT^T Q (and likewise for K).

import { ArgumentError } from "../../errors.js";
import { kernels } from "../kernels/index.js";
import type { Generator } from "../random.js";
import { allocate, type FloatArray, formatShape, record, Tensor } from "../tensor.js";
import { checkDropoutP, dropoutMask } from "./dropout.js";

export interface AttentionOptions {
  /**
   * Added to every query's scores over the keys: [b, sk], e.g. 0 for tokens and a large negative
   * number for padding (Hugging Face's extended attention mask [b, 1, 1, sk] without its unit
   * axes). No gradient flows to it.
   */
  mask?: Tensor | null;
  /** Multiplies Q K^T; default 1 / sqrt(d). */
  scale?: number;
  /** Dropout on the attention probabilities (default 0); active only when training. */
  dropoutP?: number;
  training?: boolean;
  /** Draws the dropout mask; needed when dropout is active. */
  generator?: Generator | null;
  /** Relative-position scores (see the file comment); absent for absolute positions. */
  relative?: RelativePositionOptions | null;
}

export interface RelativePositionOptions {
  /**
   * Hugging Face's distance_embedding weight [2 M - 1, d] (d = h / heads): row l - r + M - 1 holds
   * the embedding of the distance between query l and key r; sq and sk must not exceed M. It
   * receives a gradient.
   */
  embedding: Tensor;
  /** relative_key_query: keys' products with the distance embeddings add to the scores too. */
  keyQuery: boolean;
}

export interface AttentionResult {
  /** The heads' contexts concatenated along h: [b, sq, h]. */
  context: Tensor;
  /**
   * softmax(scores) [b, heads, sq, sk] before dropout, without gradient (Hugging Face's
   * output_attentions; the same in evaluation mode, where there is no dropout). Read-only: the
   * backward of context uses the same buffer.
   */
  probs: Tensor;
}

/**
 * softmax(scale Q K^T + mask) V per head, for q [b, sq, h] and k, v [b, sk, h] split into `heads`
 * heads along h. Returns the heads' contexts concatenated back along h: [b, sq, h].
 */
export function multiHeadAttention(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  heads: number,
  options: AttentionOptions = {},
): Tensor {
  return multiHeadAttentionWithProbs(q, k, v, heads, options).context;
}

/** multiHeadAttention that also returns the attention probabilities. */
export function multiHeadAttentionWithProbs(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  heads: number,
  options: AttentionOptions = {},
): AttentionResult {
  const [b, sq, h] = q.shape as [number, number, number];
  const sk = k.shape[1]!;
  const describe = () =>
    `multiHeadAttention: q ${q.dtype}${formatShape(q.shape)}, k ${k.dtype}${formatShape(k.shape)}, v ${v.dtype}${formatShape(v.shape)}, ${heads} heads`;
  if (
    q.ndim !== 3 ||
    q.dtype === "int32" ||
    [k, v].some(
      (t) => t.ndim !== 3 || t.dtype !== q.dtype || t.shape[0] !== b || t.shape[1] !== sk || t.shape[2] !== h,
    ) ||
    !Number.isInteger(heads) ||
    heads < 1 ||
    h % heads !== 0
  ) {
    throw new ArgumentError(`${describe()} do not fit ([b, s, h] each, h divisible by heads)`);
  }
  const mask = options.mask ?? null;
  if (
    mask !== null &&
    (mask.ndim !== 2 || mask.shape[0] !== b || mask.shape[1] !== sk || mask.dtype !== q.dtype)
  ) {
    throw new ArgumentError(
      `multiHeadAttention: mask ${mask.dtype}${formatShape(mask.shape)} must be ${q.dtype}[${b}, ${sk}]`,
    );
  }
  const p = options.dropoutP ?? 0;
  checkDropoutP(p, "multiHeadAttention");
  const dropping = p > 0 && (options.training ?? false);
  if (dropping && !options.generator) {
    throw new ArgumentError("multiHeadAttention: dropout needs a generator");
  }
  const d = h / heads;
  const relative = options.relative ?? null;
  const table = relative?.embedding ?? null;
  if (table !== null) {
    const rows = table.shape[0]!;
    const maxPositions = (rows + 1) / 2;
    if (
      table.ndim !== 2 ||
      table.dtype !== q.dtype ||
      table.shape[1] !== d ||
      !Number.isInteger(maxPositions) ||
      sq > maxPositions ||
      sk > maxPositions
    ) {
      throw new ArgumentError(
        `multiHeadAttention: relative embedding ${table.dtype}${formatShape(table.shape)} must be ${q.dtype}[2 M - 1, ${d}] with M >= ${Math.max(sq, sk)}`,
      );
    }
  }
  const scale = options.scale ?? 1 / Math.sqrt(d);
  const qd = q.data as FloatArray;
  const kd = k.data as FloatArray;
  const vd = v.data as FloatArray;
  const md = mask?.data as FloatArray | undefined;
  const plane = sq * sk;
  const perItem = heads * plane;
  // The per-head products, batch = heads. Q, K, V, the context and their gradients are [s, h]
  // blocks whose head j is d columns on (leading dimension h, stride d); the scores of one batch
  // item are [heads, sq, sk] planes (leading dimension sk, stride sq sk).
  // scores: S = alpha X Y^T for X [sq, h], Y [sk, h] (S = scale Q K^T, and dPd = dC V^T).
  const scores = (alpha: number, x: FloatArray, y: FloatArray, s: FloatArray) =>
    kernels().gemmBatched({
      transA: false,
      transB: true,
      m: sq,
      n: sk,
      k: d,
      alpha,
      a: x,
      lda: h,
      strideA: d,
      b: y,
      ldb: h,
      strideB: d,
      beta: 0,
      c: s,
      ldc: sk,
      strideC: plane,
      batch: heads,
    });
  // apply: out = alpha P Y (P^T Y with `transpose`) for score planes P: C = Pd V, dQ = scale dS K,
  // and transposed dV = Pd^T dC, dK = scale dS^T Q.
  const apply = (transpose: boolean, alpha: number, planes: FloatArray, y: FloatArray, out: FloatArray) =>
    kernels().gemmBatched({
      transA: transpose,
      transB: false,
      m: transpose ? sk : sq,
      n: d,
      k: transpose ? sq : sk,
      alpha,
      a: planes,
      lda: sk,
      strideA: plane,
      b: y,
      ldb: h,
      strideB: d,
      beta: 0,
      c: out,
      ldc: h,
      strideC: d,
      batch: heads,
    });

  const distances =
    relative && table ? new DistanceScores(q, k, table, heads, relative.keyQuery, scale) : null;
  const probs = allocate(q.dtype, b * perItem) as FloatArray;
  for (let i = 0; i < b; i++) {
    scores(scale, qd.subarray(i * sq * h), kd.subarray(i * sk * h), probs.subarray(i * perItem));
    if (distances) distances.addScores(i, probs.subarray(i * perItem));
    const maskRow = md ? md.subarray(i * sk, (i + 1) * sk) : null;
    kernels().softmaxRows({ rows: heads * sq, len: sk, x: probs.subarray(i * perItem), bias: maskRow });
  }
  distances?.release();
  // Pd is never stored whole: one batch item's plane at a time goes through `scratch` (forward,
  // and again for dV in backward), which saves a [b, heads, sq, sk] buffer per layer.
  const keep = dropping ? dropoutMask(options.generator!, probs.length, p) : null;
  const dropScale = p === 1 ? 0 : 1 / (1 - p);
  const scratch = keep ? (allocate(q.dtype, perItem) as FloatArray) : null;
  const droppedItem = (i: number): FloatArray => {
    const base = i * perItem;
    if (!keep || !scratch) return probs.subarray(base, base + perItem);
    const src = probs.subarray(base);
    kernels().maskedScale({ n: perItem, src, keep: keep.subarray(base), scale: dropScale, dst: scratch });
    return scratch;
  };
  const context = allocate(q.dtype, b * sq * h) as FloatArray;
  for (let i = 0; i < b; i++)
    apply(false, 1, droppedItem(i), vd.subarray(i * sk * h), context.subarray(i * sq * h));

  const inputs = table ? [q, k, v, table] : [q, k, v];
  const out = record("multiHeadAttention", new Tensor(context, q.shape), inputs, (g) => {
    const gd = g.data as FloatArray;
    const gq = q.requiresGrad ? (allocate(q.dtype, q.size) as FloatArray) : null;
    const gk = k.requiresGrad ? (allocate(q.dtype, k.size) as FloatArray) : null;
    const gv = v.requiresGrad ? (allocate(q.dtype, v.size) as FloatArray) : null;
    const gTable = table?.requiresGrad ? (allocate(q.dtype, table.size) as FloatArray) : null;
    // One batch item's plane of score gradients at a time: the buffer stays small and hot.
    const gs = allocate(q.dtype, perItem) as FloatArray;
    for (let i = 0; i < b; i++) {
      const gi = gd.subarray(i * sq * h);
      if (gv) apply(true, 1, droppedItem(i), gi, gv.subarray(i * sk * h));
      if (!gq && !gk && !gTable) continue;
      scores(1, gi, vd.subarray(i * sk * h), gs);
      const p = probs.subarray(i * perItem);
      const keepItem = keep ? keep.subarray(i * perItem) : null;
      kernels().softmaxBackwardRows({
        rows: heads * sq,
        len: sk,
        p,
        g: gs,
        keep: keepItem,
        keepScale: dropScale,
      });
      if (gq) apply(false, scale, gs, kd.subarray(i * sk * h), gq.subarray(i * sq * h));
      if (gk) apply(true, scale, gs, qd.subarray(i * sq * h), gk.subarray(i * sk * h));
      if (distances) distances.backward(i, gs, gq, gk, gTable);
    }
    distances?.release();
    const grads = [
      gq && new Tensor(gq, q.shape),
      gk && new Tensor(gk, k.shape),
      gv && new Tensor(gv, v.shape),
    ];
    return table ? [...grads, gTable && new Tensor(gTable, table.shape)] : grads;
  });
  return { context: out, probs: new Tensor(probs, [b, heads, sq, sk]) };
}

/**
 * The relative-position terms of one layer's scores. For batch item i, T = Q_i E_u^T with Q_i
 * read as [sq heads, d] rows (row l heads + j is query l of head j: q's [b, s, h] layout already
 * is that matrix) and E_u the J = sq + sk - 1 rows of the table in use, from distance -(sk - 1)
 * (row M - sk) to sq - 1; the score (j, l, r) takes T[l heads + j, l - r + sk - 1].
 */
class DistanceScores {
  private readonly sq: number;
  private readonly sk: number;
  private readonly h: number;
  private readonly d: number;
  private readonly span: number;
  private readonly first: number;
  // Scratch for T (or dT) of one batch item, [max(sq, sk) heads, J]: held only during the forward
  // loop and during the backward, not in between (it is as large as a score plane or two).
  private buffer: FloatArray | null = null;

  constructor(
    private readonly q: Tensor,
    private readonly k: Tensor,
    private readonly table: Tensor,
    private readonly heads: number,
    private readonly keyQuery: boolean,
    private readonly scale: number,
  ) {
    [, this.sq, this.h] = q.shape as [number, number, number];
    this.sk = k.shape[1]!;
    this.d = this.h / heads;
    this.span = this.sq + this.sk - 1;
    this.first = (table.shape[0]! + 1) / 2 - this.sk;
  }

  private scratch(size: number): FloatArray {
    this.buffer ??= allocate(this.q.dtype, Math.max(this.sq, this.sk) * this.heads * this.span) as FloatArray;
    return this.buffer.subarray(0, size);
  }

  /** Drops the scratch buffer (after the forward loop and after the backward). */
  release(): void {
    this.buffer = null;
  }

  private rows(): FloatArray {
    const data = this.table.data as FloatArray;
    return data.subarray(this.first * this.d, (this.first + this.span) * this.d);
  }

  /** products [s heads, J] of batch item i's rows of x (q or k, s positions) with the table rows in use */
  private products(x: Tensor, s: number, i: number): FloatArray {
    const out = this.scratch(s * this.heads * this.span);
    kernels().gemm({
      transA: false,
      transB: true,
      m: s * this.heads,
      n: this.span,
      k: this.d,
      alpha: 1,
      a: (x.data as FloatArray).subarray(i * s * this.h),
      lda: this.d,
      b: this.rows(),
      ldb: this.d,
      beta: 0,
      c: out,
      ldc: this.span,
    });
    return out;
  }

  /** Adds scale q . E (and scale k . E) to batch item i's scores [heads, sq, sk]. */
  addScores(i: number, scores: FloatArray): void {
    const { sq, sk, heads, span, scale } = this;
    const t = this.products(this.q, sq, i);
    for (let j = 0; j < heads; j++) {
      for (let l = 0; l < sq; l++) {
        const row = scores.subarray((j * sq + l) * sk, (j * sq + l + 1) * sk);
        const base = (l * heads + j) * span + l + sk - 1;
        for (let r = 0; r < sk; r++) row[r]! += scale * t[base - r]!;
      }
    }
    if (!this.keyQuery) return;
    const u = this.products(this.k, sk, i);
    for (let j = 0; j < heads; j++) {
      for (let l = 0; l < sq; l++) {
        const row = scores.subarray((j * sq + l) * sk, (j * sq + l + 1) * sk);
        for (let r = 0; r < sk; r++) row[r]! += scale * u[(r * heads + j) * span + l - r + sk - 1]!;
      }
    }
  }

  /** From batch item i's score gradients gs [heads, sq, sk]: adds into gq, gk (item i's rows) and gTable. */
  backward(
    i: number,
    gs: FloatArray,
    gq: FloatArray | null,
    gk: FloatArray | null,
    gTable: FloatArray | null,
  ): void {
    const { sq, sk, heads, span, scale, d } = this;
    const gRows = gTable?.subarray(this.first * d, (this.first + span) * d) ?? null;
    const dt = this.scratch(sq * heads * span).fill(0);
    for (let j = 0; j < heads; j++) {
      for (let l = 0; l < sq; l++) {
        const row = gs.subarray((j * sq + l) * sk, (j * sq + l + 1) * sk);
        const base = (l * heads + j) * span + l + sk - 1;
        for (let r = 0; r < sk; r++) dt[base - r]! += scale * row[r]!;
      }
    }
    this.scatter(dt, this.q, sq, i, gq, gRows);
    if (!this.keyQuery) return;
    const du = this.scratch(sk * heads * span).fill(0);
    for (let j = 0; j < heads; j++) {
      for (let l = 0; l < sq; l++) {
        const row = gs.subarray((j * sq + l) * sk, (j * sq + l + 1) * sk);
        for (let r = 0; r < sk; r++) du[(r * heads + j) * span + l - r + sk - 1]! += scale * row[r]!;
      }
    }
    this.scatter(du, this.k, sk, i, gk, gRows);
  }

  /**
   * From dT [s heads, J] of batch item i's rows of x (q or k, s positions): adds dT E into gx (its
   * item i rows; null: not needed) and dT^T x into the table's gradient rows in use.
   */
  private scatter(
    dt: FloatArray,
    x: Tensor,
    s: number,
    i: number,
    gx: FloatArray | null,
    gRows: FloatArray | null,
  ) {
    const { heads, span, d, h } = this;
    const gemm = kernels().gemm;
    const m = s * heads;
    const xi = (x.data as FloatArray).subarray(i * s * h);
    const rows = this.rows();
    if (gx) {
      const c = gx.subarray(i * s * h);
      gemm({
        transA: false,
        transB: false,
        m,
        n: d,
        k: span,
        alpha: 1,
        a: dt,
        lda: span,
        b: rows,
        ldb: d,
        beta: 1,
        c,
        ldc: d,
      });
    }
    if (gRows) {
      gemm({
        transA: true,
        transB: false,
        m: span,
        n: d,
        k: m,
        alpha: 1,
        a: dt,
        lda: span,
        b: xi,
        ldb: d,
        beta: 1,
        c: gRows,
        ldc: d,
      });
    }
  }
}
