// Geneformer's rank-value encoding: a cell becomes its genes ordered by (median-scaled) expression,
// highest first, as tokens (gene g -> token g + 2; PAD = 0, MASK = 1). Upstream sorts the whole
// dense row (torch.argsort, descending) and keeps the first max_position_embeddings entries; the
// genes whose value is 0 stay in the sequence as PAD with attention_mask false. Here each row is
// ranked from its non-zero entries only (CSR rows are read without densifying): positive values,
// then the zeros (PAD), then negative values, each group by value descending and ties by gene
// index (upstream's argsort leaves ties unspecified). The zeros' identities never matter: they
// are PAD tokens either way.

import { type Matrix, storedForm } from "../data/matrix.js";

/** Token ids of the two special tokens (upstream's feature_ids start at 2). */
export const PAD_TOKEN = 0;
export const MASK_TOKEN = 1;
export const FIRST_GENE_TOKEN = 2;

export interface GeneformerTokens {
  /** Cells and sequence length. */
  readonly n: number;
  readonly s: number;
  /** [n, s] row-major token ids. */
  readonly input_ids: Int32Array;
  /** [n, s]: 1 where the gene's value is non-zero. */
  readonly attention_mask: Uint8Array;
}

export interface TokenizeOptions {
  /** max_position_embeddings: positions kept per cell. */
  readonly maxLength: number;
  /**
   * true: every cell gets min(genes, maxLength) positions, upstream's shape. false: the sequence
   * stops after the last attended position of the batch. Attended positions keep their places, and
   * PAD keys get no attention weight, so every attended position computes the same either way.
   */
  readonly full: boolean;
  /** Per gene, 1 when feature_deletion sets its value to 0 before ranking. */
  readonly deleted?: Uint8Array | null;
  /**
   * feature_activation as gene indices, in list order: each is set to max(x) + (list length -
   * list index) before ranking (upstream: max_val + i + 1 over the reversed list), so the first
   * listed gene ranks first. max(x) is over the whole batch after deletion, as upstream.
   */
  readonly activated?: readonly number[];
}

/** Calls visit(col, value) for every stored non-zero of row i. */
function forEachNonZero(x: Matrix, i: number, visit: (col: number, value: number) => void): void {
  if (x.format === "csr") {
    for (let p = x.indptr[i]!; p < x.indptr[i + 1]!; p++)
      if (x.data[p] !== 0) visit(x.indices[p]!, x.data[p]!);
  } else {
    const base = i * x.nCols;
    for (let j = 0; j < x.nCols; j++) if (x.data[base + j] !== 0) visit(j, x.data[base + j]!);
  }
}

function batchMax(x: Matrix, deleted: Uint8Array | null): number {
  // A row with fewer stored entries than genes holds zeros too.
  let max = -Infinity;
  for (let i = 0; i < x.nRows; i++) {
    let stored = 0;
    forEachNonZero(x, i, (col, value) => {
      stored++;
      if (deleted?.[col]) max = Math.max(max, 0);
      else if (value > max) max = value;
    });
    if (stored < x.nCols) max = Math.max(max, 0);
  }
  return max;
}

/** Ranks every row of x_ng (n x genes) into tokens. */
export function tokenize(x: Matrix, options: TokenizeOptions): GeneformerTokens {
  // A deferred dense block (matrix.ts) through its CSR form.
  const x_ng = storedForm(x);
  const { nRows: n, nCols: genes } = x_ng;
  const deleted = options.deleted ?? null;
  const activated = options.activated ?? [];
  const activatedValue = new Map<number, number>();
  if (activated.length > 0) {
    const max = batchMax(x_ng, deleted);
    // A gene listed twice takes the value of its first listing, as upstream's loop leaves it.
    for (let k = activated.length - 1; k >= 0; k--)
      activatedValue.set(activated[k]!, max + activated.length - k);
  }
  const limit = Math.min(genes, options.maxLength);

  // Per row: positive and negative entries (gene, value), ranked.
  const rows: Array<{ cols: Int32Array; positives: number }> = [];
  let extent = 0;
  const cols: number[] = [];
  const values: number[] = [];
  for (let i = 0; i < n; i++) {
    cols.length = 0;
    values.length = 0;
    forEachNonZero(x_ng, i, (col, value) => {
      if (deleted?.[col] || activatedValue.has(col)) return;
      cols.push(col);
      values.push(value);
    });
    for (const [col, value] of activatedValue) {
      if (value === 0) continue;
      cols.push(col);
      values.push(value);
    }
    const order = Int32Array.from(cols.keys());
    order.sort((a, b) => values[b]! - values[a]! || cols[a]! - cols[b]!);
    let positives = 0;
    while (positives < order.length && values[order[positives]!]! > 0) positives++;
    const negatives = order.length - positives;
    // Attended positions end after the positives, or after the negatives that follow the zeros.
    const last = negatives > 0 ? genes : positives;
    extent = Math.max(extent, Math.min(last, limit));
    rows.push({ cols: Int32Array.from(order, (k) => cols[k]!), positives });
  }
  const s = options.full ? limit : Math.max(1, extent);
  const input_ids = new Int32Array(n * s);
  const attention_mask = new Uint8Array(n * s);
  for (let i = 0; i < n; i++) {
    const row = rows[i]!;
    const base = i * s;
    const head = Math.min(row.positives, s);
    for (let p = 0; p < head; p++) {
      input_ids[base + p] = row.cols[p]! + FIRST_GENE_TOKEN;
      attention_mask[base + p] = 1;
    }
    // Negatives start after the zeros: genes - (number of negatives).
    const negatives = row.cols.length - row.positives;
    for (let q = 0; q < negatives; q++) {
      const p = genes - negatives + q;
      if (p >= s) break;
      input_ids[base + p] = row.cols[row.positives + q]! + FIRST_GENE_TOKEN;
      attention_mask[base + p] = 1;
    }
  }
  return { n, s, input_ids, attention_mask };
}
