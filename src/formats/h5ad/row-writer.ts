import type { Dataset, File, Group } from "h5wasm/node";
import type { DenseMatrix } from "../../data/matrix.js";
import { ArgumentError } from "../../errors.js";
import {
  type AnnDataRowWriter,
  checkBlock,
  checkColumnNames,
  codesArray,
  columnArray,
  obsmChunkRows,
  ROW_CHUNK,
  type RowBlock,
  type RowColumnSpec,
  type RowWriterRest,
  TYPED,
} from "../anndata-rows.js";
import {
  closeAndRename,
  createTemporaryAnnData,
  dictGroup,
  discard,
  H5AD_DATAFRAME_VERSION,
  linkCategories,
  setEncoding,
  wrap,
  writeMatrices,
  writeStrings,
  writeUns,
} from "./write-elements.js";
import { writeFrame } from "./writer.js";

// An .h5ad without X whose rows (obs columns and obsm matrices) are appended batch by batch, for
// outputs as long as a whole prediction run: each per-row dataset is chunked and resizable and
// grows with every append, so nothing per cell stays in memory except the strings. h5wasm 0.10
// cannot write a slice of a variable-length string dataset, so the obs index and string columns
// are kept and written by finish() (categorical columns, the usual form of text in obs, stream).
// anndata reads a file without X as X = None, its shape given by obs and var.

export type { NumericDtype, RowBlock, RowColumnSpec, RowColumnValues } from "../anndata-rows.js";

type Growing =
  | { held: true; values: string[] }
  | { held: false; spec: Exclude<RowColumnSpec, { kind: "string" }>; dataset: Dataset };

export class H5adRowWriter implements AnnDataRowWriter {
  private rows = 0;
  private done = false;
  private readonly index: string[] = [];
  private readonly obsm = new Map<string, Dataset>();

  private constructor(
    readonly path: string,
    private readonly tmp: string,
    private readonly h5: File,
    private readonly obsGroup: Group,
    private readonly obsmGroup: Group,
    private readonly columns: ReadonlyMap<string, Growing>,
  ) {}

  /** Starts the file under a temporary name, with the obs columns `columns` in that order. */
  static async create(path: string, columns: ReadonlyMap<string, RowColumnSpec>): Promise<H5adRowWriter> {
    checkColumnNames(path, columns.keys());
    const { tmp, h5 } = await createTemporaryAnnData(path);
    try {
      // The obs group's index and column order are written by finish(), with the strings.
      const obs = h5.create_group("obs");
      const growing = new Map<string, Growing>();
      for (const [name, spec] of columns) {
        if (spec.kind === "string") {
          growing.set(name, { held: true, values: [] });
          continue;
        }
        const data =
          spec.kind === "categorical"
            ? codesArray(spec.categories.length, 0)
            : spec.kind === "boolean"
              ? new Uint8Array(0)
              : spec.dtype === "int64"
                ? new BigInt64Array(0)
                : new TYPED[spec.dtype](0);
        const dataset = obs.create_dataset({
          name,
          data,
          shape: [0],
          maxshape: [null],
          chunks: [ROW_CHUNK],
        });
        setEncoding(dataset, "array");
        growing.set(name, { held: false, spec, dataset });
      }
      return new H5adRowWriter(path, tmp, h5, obs, dictGroup(h5, "obsm"), growing);
    } catch (error) {
      await discard(h5, tmp);
      throw wrap(path, "obs", error);
    }
  }

  /** Rows appended so far. */
  get nObs(): number {
    return this.rows;
  }

  /** Appends rows: their names, a value of every column, and their rows of every obsm matrix. */
  appendRows(block: RowBlock): void {
    this.checkOpen();
    const n = block.index.length;
    checkBlock(this.path, this.columns.keys(), block, this.rows > 0 ? new Set(this.obsm.keys()) : null);
    if (n === 0) return;
    const end = this.rows + n;
    try {
      for (const [name, column] of this.columns) {
        const values = block.columns.get(name)!;
        if (column.held) {
          for (let i = 0; i < n; i++) column.values.push(String(values[i]));
          continue;
        }
        column.dataset.resize([end]);
        column.dataset.write_slice(
          [[this.rows, end]],
          columnArray(this.path, name, column.spec, values, this.rows),
        );
      }
      for (const [key, m] of Object.entries(block.obsm)) this.appendObsm(key, m, n);
    } catch (error) {
      throw error instanceof ArgumentError ? error : wrap(this.path, "obs", error);
    }
    this.index.push(...block.index);
    this.rows = end;
  }

  /** Writes the index, string columns, var, varm and uns; closes the file and moves it to its name. */
  async finish(rest: RowWriterRest): Promise<void> {
    this.checkOpen();
    try {
      const g = rest.var.index.length;
      setEncoding(this.obsGroup, "dataframe", H5AD_DATAFRAME_VERSION);
      this.obsGroup.create_attribute("_index", "_index");
      const order = [...this.columns.keys()];
      this.obsGroup.create_attribute("column-order", order.length > 0 ? order : new Float64Array(0));
      writeStrings(this.obsGroup, "_index", this.index);
      for (const [name, column] of this.columns) {
        if (column.held) writeStrings(this.obsGroup, name, column.values);
        else if (column.spec.kind === "categorical")
          linkCategories(
            this.obsGroup,
            name,
            column.dataset,
            column.spec.categories,
            column.spec.ordered ?? false,
          );
      }
      writeFrame(this.path, this.h5, "var", rest.var);
      writeMatrices(this.path, this.h5, "varm", rest.varm ?? {}, g);
      writeUns(this.path, dictGroup(this.h5, "uns"), rest.uns ?? {});
      // Empty like anndata's own output, so every reader finds the usual groups.
      for (const key of ["layers", "obsp", "varp"]) dictGroup(this.h5, key);
    } catch (error) {
      await this.abort();
      throw error instanceof ArgumentError ? error : wrap(this.path, "metadata", error);
    }
    this.done = true;
    await closeAndRename(this.h5, this.tmp, this.path);
  }

  /** Closes and deletes the temporary file. */
  async abort(): Promise<void> {
    if (this.done) return;
    this.done = true;
    await discard(this.h5, this.tmp);
  }

  private checkOpen(): void {
    if (this.done)
      throw new ArgumentError(`writeH5ad ${this.path}: the writer is already finished or aborted`);
  }

  private appendObsm(key: string, m: DenseMatrix, n: number): void {
    let dataset = this.obsm.get(key);
    if (dataset === undefined) {
      if (this.rows > 0)
        throw new ArgumentError(`writeH5ad ${this.path}: obsm '${key}' is missing from earlier blocks`);
      dataset = this.obsmGroup.create_dataset({
        name: key,
        data: new Float32Array(0),
        shape: [0, m.nCols],
        maxshape: [null, m.nCols],
        chunks: [obsmChunkRows(m.nCols), Math.max(1, m.nCols)],
      });
      setEncoding(dataset, "array");
      this.obsm.set(key, dataset);
    }
    const width = dataset.shape![1]!;
    if (m.nCols !== width) {
      throw new ArgumentError(
        `writeH5ad ${this.path}: obsm '${key}' has ${m.nCols} columns, earlier blocks ${width}`,
      );
    }
    dataset.resize([this.rows + n, width]);
    dataset.write_slice([[this.rows, this.rows + n], []], m.data);
  }
}
