// Predictions as an AnnData that scanpy, cellxgene and Vitessce open directly: the input cells' obs
// (every column, categoricals as categoricals) with the prediction under the layout's names
// (anndata-layout.ts), rows streamed to the file batch by batch, no X; an .h5ad (H5adRowWriter)
// or an AnnData-Zarr store (ZarrRowWriter), the same content either way.
//
// Cell names: anndata and cellxgene need a unique obs index. A name seen before is renamed as
// anndata's obs_names_make_unique does, `<name>-1`, `<name>-2`, ... (the first keeps its name);
// `renamed` counts them. The names seen are kept for this check (and by the .h5ad writer, as
// h5wasm writes strings only whole, until the end).

import type { DistributedAnnDataCollection } from "../data/collection.js";
import type { ObsColumnInfo } from "../data/collection-schema.js";
import type { DenseMatrix } from "../data/matrix.js";
import { ArgumentError } from "../errors.js";
import type {
  AnnDataRowWriter,
  NumericDtype,
  RowColumnSpec,
  RowColumnValues,
} from "../formats/anndata-rows.js";
import type { DataFrameColumn } from "../formats/h5ad/dataframe.js";
import { type AnnDataLayout, classProbabilities } from "./anndata-layout.js";

/** The input's obs, read for the cells of each batch. */
export interface ObsSource {
  /** The columns, in the input's order, with their kinds and categories. */
  readonly columns: readonly ObsColumnInfo[];
  /** The columns' values at the collection's rows `indices`. */
  read(indices: Int32Array): Promise<ReadonlyMap<string, DataFrameColumn>>;
}

/** The obs of a collection's cells: every column of shard 0's schema (each shard's codes mapped to its categories). */
export function collectionObs(collection: DistributedAnnDataCollection): ObsSource {
  const columns = collection.schema.obsColumns;
  const names = columns.map((c) => c.name);
  return {
    columns,
    read: async (indices) =>
      (await collection.readRows(indices, { matrices: [], obsColumns: names })).obsColumns,
  };
}

const DTYPES = new Set<string>([
  "float32",
  "float64",
  "int8",
  "int16",
  "int32",
  "int64",
  "uint8",
  "uint16",
  "uint32",
]);

/** The file formats of an AnnData output. */
export type AnnDataFormat = "h5ad" | "zarr";

/** How an input column is stored: nullable columns as float64 with NaN for missing values (h5wasm cannot write their boolean masks). */
function specOf(info: ObsColumnInfo): RowColumnSpec {
  switch (info.kind) {
    case "categorical":
      return {
        kind: "categorical",
        categories: (info.categories ?? []) as string[] | number[],
        ordered: info.ordered ?? false,
      };
    case "numeric":
      return {
        kind: "numeric",
        dtype: DTYPES.has(info.dtype ?? "") ? (info.dtype as NumericDtype) : "float64",
      };
    case "boolean":
      return { kind: "boolean" };
    case "string":
      return { kind: "string" };
    default:
      return { kind: "numeric", dtype: "float64" };
  }
}

function valuesOf(column: DataFrameColumn): RowColumnValues {
  switch (column.kind) {
    case "categorical":
      return column.codes;
    case "nullable-integer":
    case "nullable-boolean":
      return Float64Array.from(column.values, (v, i) => (column.mask[i] ? Number.NaN : v));
    default:
      return column.values;
  }
}

export class AnnDataPredictions {
  /** Cells whose name was taken and that were renamed. */
  renamed = 0;
  private readonly seen = new Set<string>();
  /** The next suffix to try per duplicated name (a name seen d times costs O(d) in all, not O(d^2)). */
  private readonly suffix = new Map<string, number>();
  private readonly inputColumns: readonly ObsColumnInfo[];

  private constructor(
    private readonly writer: AnnDataRowWriter,
    private readonly layout: AnnDataLayout,
    private readonly obs: ObsSource | null,
  ) {
    // A prediction column replaces an input column of its name (a file of earlier predictions).
    const taken = new Set(predictionColumns(layout).keys());
    this.inputColumns = (obs?.columns ?? []).filter((c) => !taken.has(c.name));
  }

  static async create(
    path: string,
    layout: AnnDataLayout,
    obs: ObsSource | null,
    format: AnnDataFormat = "h5ad",
  ): Promise<AnnDataPredictions> {
    const taken = predictionColumns(layout);
    const columns = new Map<string, RowColumnSpec>();
    for (const info of obs?.columns ?? []) if (!taken.has(info.name)) columns.set(info.name, specOf(info));
    for (const [name, spec] of taken) columns.set(name, spec);
    // Each writer is loaded when a run writes its format (zarrita alone is ~40 modules).
    const writer =
      format === "zarr"
        ? await (await import("../formats/zarr/row-writer.js")).ZarrRowWriter.create(path, columns)
        : await (await import("../formats/h5ad/row-writer.js")).H5adRowWriter.create(path, columns);
    return new AnnDataPredictions(writer, layout, obs);
  }

  /** Appends a batch: its cells' names, their rows of the prediction, and their obs (`cells`: the collection's rows). */
  async append(names: readonly string[], rows: DenseMatrix, cells: Int32Array | undefined): Promise<void> {
    const columns = new Map<string, RowColumnValues>();
    if (this.inputColumns.length > 0) {
      if (cells === undefined)
        throw new ArgumentError(
          `${this.writer.path}: the batch's rows in the collection are unknown, so their obs cannot be copied`,
        );
      const read = await this.obs!.read(cells);
      for (const info of this.inputColumns) columns.set(info.name, valuesOf(read.get(info.name)!));
    }
    const obsm: Record<string, DenseMatrix> = {};
    const labels = this.layout.labels;
    if (labels) {
      const { probabilities, codes, best } = classProbabilities(rows);
      columns.set(`${labels.name}_pred`, codes);
      columns.set(`${labels.name}_pred_probability`, best);
      obsm[this.layout.obsmKey] = probabilities;
    } else {
      obsm[this.layout.obsmKey] = rows;
    }
    await this.writer.appendRows({ index: names.map((name) => this.unique(name)), columns, obsm });
  }

  /** Writes var, varm and uns, and moves the file into place. */
  async close(): Promise<void> {
    const { labels, varNames, varm, uns } = this.layout;
    await this.writer.finish({
      var: { index: varm ? (varNames ?? []) : [] },
      ...(varm && { varm: { ...varm } }),
      uns: {
        ...uns,
        ...(labels && { [`${labels.name}_probabilities_categories`]: [...labels.categories] }),
      },
    });
  }

  async abort(): Promise<void> {
    await this.writer.abort();
  }

  private unique(name: string): string {
    if (!this.seen.has(name)) {
      this.seen.add(name);
      return name;
    }
    let k = this.suffix.get(name) ?? 1;
    while (this.seen.has(`${name}-${k}`)) k++;
    this.suffix.set(name, k + 1);
    this.renamed++;
    const out = `${name}-${k}`;
    this.seen.add(out);
    return out;
  }
}

/** The obs columns a layout adds: the predicted label (categorical) and its probability. */
function predictionColumns(layout: AnnDataLayout): Map<string, RowColumnSpec> {
  const labels = layout.labels;
  if (!labels) return new Map();
  return new Map<string, RowColumnSpec>([
    [`${labels.name}_pred`, { kind: "categorical", categories: labels.categories }],
    [`${labels.name}_pred_probability`, { kind: "numeric", dtype: "float32" }],
  ]);
}
