#!/usr/bin/python3
"""Writes the bundled demo data set, examples/data/demo_{0..1}.h5ad, with Debian's python3-anndata.

2,000 synthetic cells x 1,000 genes in two shards of 1,000 cells, gzip-compressed CSR counts.
Each of five cell types has its own expression program (a log-normal base profile shared by all
cells, multiplied by a type-specific boost on 40 marker genes); counts are negative binomial around
library size x profile, so the matrix has the sparsity, over-dispersion and library-size spread
of real UMI data (about 80% zeros, like a panel of 1,000 expressed genes). obs carries cell_type (categorical), batch (categorical),
total_mrna_umis (float) and n_genes (int); var carries a gene symbol column. Deterministic (seed 0).
"""
from pathlib import Path

import anndata
import numpy as np
import pandas as pd
import scipy.sparse as sp

N_CELLS, N_GENES, N_SHARDS, N_MARKERS = 2000, 1000, 2, 40
CELL_TYPES = ["B cell", "T cell", "NK cell", "monocyte", "dendritic cell"]

rng = np.random.default_rng(0)
base_g = rng.lognormal(mean=-1.0, sigma=2.0, size=N_GENES)
base_g /= base_g.sum()
programs = np.tile(base_g, (len(CELL_TYPES), 1))
for t in range(len(CELL_TYPES)):
    markers = rng.choice(N_GENES, size=N_MARKERS, replace=False)
    programs[t, markers] *= rng.uniform(2.0, 5.0, size=N_MARKERS)
programs /= programs.sum(axis=1, keepdims=True)

type_n = rng.integers(0, len(CELL_TYPES), size=N_CELLS)
library_n = rng.lognormal(mean=np.log(600.0), sigma=0.5, size=N_CELLS)
mu_ng = library_n[:, None] * programs[type_n]
dispersion = 2.0  # negative binomial: variance = mu + mu^2 / dispersion
counts_ng = rng.negative_binomial(dispersion, dispersion / (dispersion + mu_ng)).astype(np.float32)

var = pd.DataFrame(
    {"gene_symbol": [f"GENE{g}" for g in range(N_GENES)]},
    index=[f"ENSG{g:011d}" for g in range(N_GENES)],
)
out = Path(__file__).resolve().parent.parent / "examples" / "data"
out.mkdir(parents=True, exist_ok=True)
per_shard = N_CELLS // N_SHARDS
for s in range(N_SHARDS):
    rows = slice(s * per_shard, (s + 1) * per_shard)
    x = sp.csr_matrix(counts_ng[rows])
    obs = pd.DataFrame(
        {
            "cell_type": pd.Categorical([CELL_TYPES[t] for t in type_n[rows]], categories=CELL_TYPES),
            "batch": pd.Categorical([f"donor{(i // 250) % 2}" for i in range(rows.start, rows.stop)]),
            "total_mrna_umis": np.asarray(x.sum(axis=1)).ravel().astype(np.float32),
            "n_genes": np.diff(x.indptr).astype(np.int64),
            # a technical covariate for scVI's example configs (crossed with the donors)
            "chemistry": pd.Categorical([f"10x_v{2 + (i // 500) % 2}" for i in range(rows.start, rows.stop)]),
        },
        index=[f"cell_{i:05d}" for i in range(rows.start, rows.stop)],
    )
    adata = anndata.AnnData(X=x, obs=obs, var=var)
    adata.write_h5ad(out / f"demo_{s}.h5ad", compression="gzip")
    print(f"wrote {out / f'demo_{s}.h5ad'}: {adata.n_obs} x {adata.n_vars}, {x.nnz / np.prod(x.shape):.1%} non-zero")
