// Filter (upstream cellarium/ml/transforms/filter.py): keeps the genes of filter_list.
// ordering = true: output columns follow filter_list; ordering = false: they follow the input's
// var_names_g. allow_missing (needs ordering): genes of filter_list absent from the batch become
// zero columns. Upstream densifies in that case; a CSR block stays CSR here, since an absent
// column is simply one without entries.

import type { Batch, Transform, TransformState } from "../data/batch.js";
import { inStoredForm, type Matrix } from "../data/matrix.js";
import { ArgumentError, SchemaMismatchError } from "../errors.js";
import { checkColumns } from "./gene-schema.js";
import { booleanArg, checkStateName, stringsArg } from "./state.js";

/** Which input column goes to which output column. */
export interface ColumnSelection {
  /** Input column of each kept gene; no column appears twice. */
  readonly src: Int32Array;
  /** Output column of each kept gene (same length as src). */
  readonly dst: Int32Array;
  /** Output width (filter_list's length when ordering, else src's length). */
  readonly nOut: number;
  readonly var_names_g: string[];
}

/** Upstream's Filter.filter, with errors naming the gene. */
export function selectColumns(
  var_names_g: readonly string[],
  filterList: readonly string[],
  ordering: boolean,
  allowMissing: boolean,
): ColumnSelection {
  if (!ordering) {
    const wanted = new Set(filterList);
    const src: number[] = [];
    for (let g = 0; g < var_names_g.length; g++) if (wanted.has(var_names_g[g]!)) src.push(g);
    if (src.length === 0) {
      throw new SchemaMismatchError(
        `Filter: none of the batch's ${var_names_g.length} var_names_g is in filter_list`,
      );
    }
    const dst = Int32Array.from(src, (_, j) => j);
    return { src: Int32Array.from(src), dst, nOut: src.length, var_names_g: src.map((g) => var_names_g[g]!) };
  }
  // Later duplicates win, as in upstream's dict comprehension.
  const position = new Map(var_names_g.map((name, g) => [name, g]));
  const src: number[] = [];
  const dst: number[] = [];
  let firstMissing = -1;
  for (let j = 0; j < filterList.length; j++) {
    const g = position.get(filterList[j]!);
    if (g === undefined) {
      if (firstMissing < 0) firstMissing = j;
    } else {
      src.push(g);
      dst.push(j);
    }
  }
  if (src.length === 0) {
    throw new SchemaMismatchError(
      `Filter: none of filter_list's ${filterList.length} genes is in the batch's var_names_g`,
    );
  }
  if (firstMissing >= 0 && !allowMissing) {
    const missing = filterList.length - src.length;
    throw new SchemaMismatchError(
      `Filter: filter_list[${firstMissing}] = ${JSON.stringify(filterList[firstMissing])} is not in the batch's ` +
        `var_names_g (${missing} missing genes; allow_missing zero-fills them)`,
    );
  }
  return {
    src: Int32Array.from(src),
    dst: Int32Array.from(dst),
    nOut: filterList.length,
    var_names_g: [...filterList],
  };
}

/**
 * The columns of x_ng chosen by `selection`, in x_ng's format; CSR (and a deferred dense block,
 * through its CSR form) costs O(nnz + columns).
 */
export function filterColumns(x_ng: Matrix, selection: ColumnSelection): Matrix {
  return inStoredForm(x_ng, (stored) => filterStored(stored, selection));
}

function filterStored(x_ng: Matrix, selection: ColumnSelection): Matrix {
  const { src, dst, nOut } = selection;
  const { nRows, nCols } = x_ng;
  if (x_ng.format === "dense") {
    const out = new Float32Array(nRows * nOut);
    const data = x_ng.data;
    for (let i = 0; i < nRows; i++) {
      const from = i * nCols;
      const to = i * nOut;
      for (let j = 0; j < src.length; j++) out[to + dst[j]!] = data[from + src[j]!]!;
    }
    return { format: "dense", nRows, nCols: nOut, data: out };
  }
  const outColumn = new Int32Array(nCols).fill(-1);
  for (let j = 0; j < src.length; j++) outColumn[src[j]!] = dst[j]!;
  // When output columns increase with input columns, rows keep their column order in one pass;
  // otherwise entries are bucketed by output column and then by row (two counting sorts), so
  // every row comes out with increasing columns without sorting.
  let increasing = true;
  for (let c = 0, last = -1; c < nCols; c++) {
    const d = outColumn[c]!;
    if (d < 0) continue;
    if (d < last) increasing = false;
    last = d;
  }
  const { indptr, indices, data } = x_ng;
  const outIndptr = new Int32Array(nRows + 1);
  for (let i = 0; i < nRows; i++) {
    let kept = 0;
    for (let p = indptr[i]!; p < indptr[i + 1]!; p++) if (outColumn[indices[p]!]! >= 0) kept++;
    outIndptr[i + 1] = outIndptr[i]! + kept;
  }
  const nnz = outIndptr[nRows]!;
  const outIndices = new Int32Array(nnz);
  const outData = new Float32Array(nnz);
  if (increasing) {
    for (let i = 0, q = 0; i < nRows; i++) {
      for (let p = indptr[i]!; p < indptr[i + 1]!; p++) {
        const d = outColumn[indices[p]!]!;
        if (d < 0) continue;
        outIndices[q] = d;
        outData[q++] = data[p]!;
      }
    }
  } else {
    const columnStart = new Int32Array(nOut + 1);
    for (let p = 0; p < indptr[nRows]!; p++) {
      const d = outColumn[indices[p]!]!;
      if (d >= 0) columnStart[d + 1]!++;
    }
    for (let d = 0; d < nOut; d++) columnStart[d + 1]! += columnStart[d]!;
    const columnFill = columnStart.slice(0, nOut);
    const byColumnRow = new Int32Array(nnz);
    const byColumnValue = new Float32Array(nnz);
    for (let i = 0; i < nRows; i++) {
      for (let p = indptr[i]!; p < indptr[i + 1]!; p++) {
        const d = outColumn[indices[p]!]!;
        if (d < 0) continue;
        const q = columnFill[d]!++;
        byColumnRow[q] = i;
        byColumnValue[q] = data[p]!;
      }
    }
    const rowFill = outIndptr.slice(0, nRows);
    for (let d = 0; d < nOut; d++) {
      for (let q = columnStart[d]!; q < columnStart[d + 1]!; q++) {
        const r = rowFill[byColumnRow[q]!]!++;
        outIndices[r] = d;
        outData[r] = byColumnValue[q]!;
      }
    }
  }
  return { format: "csr", nRows, nCols: nOut, indptr: outIndptr, indices: outIndices, data: outData };
}

export interface FilterOptions {
  readonly filter_list: readonly string[];
  /** Default true: output columns in filter_list's order. */
  readonly ordering?: boolean;
  /** Default false: every gene of filter_list must be in the batch. */
  readonly allow_missing?: boolean;
}

/**
 * Keeps the genes of `filter_list` (upstream's Filter): in `filter_list`'s order with `ordering`, and, with
 * `allow_missing`, absent genes as zero columns (how data meets a pretrained model's genes).
 */
export class Filter implements Transform {
  readonly name = "Filter";
  readonly filter_list: readonly string[];
  readonly ordering: boolean;
  readonly allow_missing: boolean;
  // Upstream caches the selection per var_names_g (functools.cache); batches of one data set
  // share their var_names_g, so remembering the last one is enough.
  private last: { names: readonly string[]; selection: ColumnSelection } | undefined;

  constructor(options: FilterOptions) {
    this.filter_list = [...options.filter_list];
    this.ordering = options.ordering ?? true;
    this.allow_missing = options.allow_missing ?? false;
    if (this.filter_list.length === 0) throw new ArgumentError("Filter: filter_list must not be empty");
    if (this.allow_missing && !this.ordering) {
      throw new ArgumentError("Filter: allow_missing = true requires ordering = true");
    }
    // Upstream would emit a duplicated gene twice; a gene name is a column's identity here.
    const seen = new Set<string>();
    for (const [j, gene] of this.filter_list.entries()) {
      if (seen.has(gene))
        throw new ArgumentError(`Filter: filter_list[${j}] = ${JSON.stringify(gene)} is a duplicate`);
      seen.add(gene);
    }
  }

  /**
   * Rebuilds the transform from what `state()` returned (a checkpoint's entry).
   * @throws {@link CheckpointError} when the state is not a Filter's.
   */
  static fromState(state: TransformState): Filter {
    checkStateName(state, "Filter");
    return new Filter({
      filter_list: stringsArg(state, "filter_list"),
      ordering: booleanArg(state, "ordering"),
      allow_missing: booleanArg(state, "allow_missing"),
    });
  }

  forward(batch: Batch): Partial<Batch> {
    const names = batch.var_names_g;
    checkColumns(this.name, batch.x_ng, names);
    let last = this.last;
    if (last === undefined || !sameNames(last.names, names)) {
      last = { names, selection: selectColumns(names, this.filter_list, this.ordering, this.allow_missing) };
      this.last = last;
    }
    return { x_ng: filterColumns(batch.x_ng, last.selection), var_names_g: last.selection.var_names_g };
  }

  state(): TransformState {
    return {
      name: this.name,
      args: {
        filter_list: [...this.filter_list],
        ordering: this.ordering,
        allow_missing: this.allow_missing,
      },
      tensors: {},
    };
  }
}

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  return a === b || (a.length === b.length && a.every((name, i) => name === b[i]));
}
