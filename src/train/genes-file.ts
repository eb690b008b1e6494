// A genes-only AnnData: no cells and no X, var holding one row per gene with its columns, as
// `adata.var` after scanpy's highly_variable_genes. Models hand the frame to TrainerContext.writeGenes;
// the file is written under a temporary name and renamed when complete (H5adRowWriter).

import { H5adRowWriter } from "../formats/h5ad/row-writer.js";
import type { DataFrameInput } from "../formats/h5ad/writer.js";

export async function writeGenesH5ad(path: string, genes: DataFrameInput): Promise<void> {
  const writer = await H5adRowWriter.create(path, new Map());
  try {
    await writer.finish({ var: genes });
  } catch (error) {
    await writer.abort();
    throw error;
  }
}
