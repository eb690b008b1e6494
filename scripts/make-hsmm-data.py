#!/usr/bin/python3
"""Writes a real single-cell data set as bench/data/hsmm.h5ad (not committed), for the IncrementalPCA
accuracy bench: the HSMM data of Trapnell et al. 2014 (Monocle; differentiating human skeletal muscle
myoblasts, SMART-seq, 271 cells x 47,192 genes, FPKM) from Debian's Bioconductor data package.

Needs R and the data package (bench only, not CI):
    apt-get install -y --no-install-recommends r-base-core r-bioc-hsmmsinglecell
Usage: /usr/bin/python3 scripts/make-hsmm-data.py [OUT.h5ad]
"""
import os
import subprocess
import sys
import tempfile

import anndata
import numpy as np
import pandas as pd
import scipy.sparse as sp

DATA = "/usr/lib/R/site-library/HSMMSingleCell/data"
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "bench", "data", "hsmm.h5ad")
if not os.path.isdir(DATA):
    sys.exit(f"{DATA} is missing: apt-get install -y --no-install-recommends r-base-core r-bioc-hsmmsinglecell")

with tempfile.TemporaryDirectory() as tmp:
    # R writes the genes x cells FPKM matrix column-major as float64, and the names and cell metadata
    # as text; no R package beyond base is needed.
    script = f"""
for (name in c("HSMM_expr_matrix", "HSMM_sample_sheet", "HSMM_gene_annotation"))
  load(file.path("{DATA}", paste0(name, ".rda")))
x <- HSMM_expr_matrix
writeBin(as.vector(x), file.path("{tmp}", "x.bin"), size = 8)
writeLines(as.character(dim(x)), file.path("{tmp}", "dim.txt"))
writeLines(rownames(x), file.path("{tmp}", "genes.txt"))
writeLines(colnames(x), file.path("{tmp}", "cells.txt"))
sheet <- HSMM_sample_sheet[colnames(x), c("Hours", "Media", "Pseudotime", "State")]
write.csv(sheet, file.path("{tmp}", "obs.csv"))
write.csv(HSMM_gene_annotation[rownames(x), c("gene_short_name", "biotype")], file.path("{tmp}", "var.csv"))
"""
    subprocess.run(["Rscript", "-e", script], check=True)
    n_genes, n_cells = (int(v) for v in open(os.path.join(tmp, "dim.txt")).read().split())
    x = np.fromfile(os.path.join(tmp, "x.bin"), dtype="<f8").reshape(n_cells, n_genes)
    genes = open(os.path.join(tmp, "genes.txt")).read().split("\n")[:n_genes]
    cells = open(os.path.join(tmp, "cells.txt")).read().split("\n")[:n_cells]
    obs = pd.read_csv(os.path.join(tmp, "obs.csv"), index_col=0)
    var = pd.read_csv(os.path.join(tmp, "var.csv"), index_col=0)

assert list(obs.index) == cells and list(var.index) == genes
obs["Media"] = obs["Media"].astype("category")
obs["State"] = obs["State"].astype(str).astype("category")
var["biotype"] = var["biotype"].astype("category")
adata = anndata.AnnData(X=sp.csr_matrix(x.astype(np.float32)), obs=obs, var=var)
os.makedirs(os.path.dirname(out), exist_ok=True)
adata.write_h5ad(out)
print(f"{out}: {adata.n_obs} cells x {adata.n_vars} genes, {adata.X.nnz / (adata.n_obs * adata.n_vars):.2%} non-zero")
