import { EncodingRegistry } from "../encodings.js";
import type { DataFrameColumn } from "./dataframe.js";
import { type H5Dataset, type H5File, type H5Group, isGroup, stringAttr } from "./element.js";
import type { MatrixReader, MatrixReaderOptions, RawFile } from "./matrix-reader.js";
import type { UnsValue } from "./uns.js";

// The h5ad reader's instance of the element-encoding registry (../encodings.ts): its roles, and
// an HDF5 group or dataset as an element.

/** What decodes an element, by the role the element plays. */
export interface DecoderRoles {
  /** X, a layer or an obsm entry: a row-block reader; `raw` the file open for direct reads. */
  matrix: (
    file: string,
    entity: H5Group | H5Dataset,
    options: MatrixReaderOptions,
    raw: RawFile | undefined,
  ) => MatrixReader;
  /** A column of obs or var; `h5` resolves anndata 0.7's object references. */
  column: (file: string, h5: H5File, entity: H5Group | H5Dataset) => DataFrameColumn;
  /** An entry of uns. */
  uns: (file: string, entity: H5Group | H5Dataset) => UnsValue;
  /** obs or var itself: the dataframe reader checks its layout. */
  dataframe: true;
}

export type Role = keyof DecoderRoles;

/** The registry of the h5ad reader's decoders. */
export const H5AD_ENCODINGS = new EncodingRegistry<DecoderRoles, H5Group | H5Dataset>((entity) => ({
  kind: isGroup(entity) ? "group" : "dataset",
  path: entity.path,
  attr: (name) => stringAttr(entity, name),
}));
