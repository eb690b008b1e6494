#!/usr/bin/python3
"""Writes the benchmark data set with Debian's python3-anndata (not committed: about 1 GB each).

bench/data/bench_100k_20k.h5ad (uncompressed) and bench/data/bench_100k_20k_gzip.h5ad: 100,000 cells
x 20,000 genes, CSR float32 counts, about 7% non-zeros. Counts are Poisson around a low-rank
log-rate (12 latent factors with decaying strength on a log-normal base profile, times a per-cell
library size), so PCA has structure to find and the spectrum has well separated leading values.
Usage: scripts/make-bench-data.py [n_cells] (default 100000; smaller for a quick check).
"""
import sys
from pathlib import Path

import anndata
import numpy as np
import pandas as pd
import scipy.sparse as sp

N_CELLS = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
N_GENES, N_FACTORS, CHUNK = 20_000, 12, 5_000

rng = np.random.default_rng(0)
log_base_g = rng.normal(-11.0, 1.6, size=N_GENES)
strength_k = 1.2 * 0.8 ** np.arange(N_FACTORS)
W_kg = rng.normal(0.0, 1.0, size=(N_FACTORS, N_GENES)) * strength_k[:, None] * 0.5

blocks = []
for start in range(0, N_CELLS, CHUNK):
    n = min(CHUNK, N_CELLS - start)
    z_nk = rng.normal(0.0, 1.0, size=(n, N_FACTORS))
    log_rate = log_base_g[None, :] + z_nk @ W_kg
    rate = np.exp(log_rate)
    rate /= rate.sum(axis=1, keepdims=True)
    library_n = rng.lognormal(np.log(2000.0), 0.4, size=n)
    counts = rng.poisson(rate * library_n[:, None]).astype(np.float32)
    blocks.append(sp.csr_matrix(counts))
x = sp.vstack(blocks, format="csr")
print(f"{x.shape[0]} x {x.shape[1]}, {x.nnz / (x.shape[0] * x.shape[1]):.2%} non-zero")

obs = pd.DataFrame(index=[f"cell_{i}" for i in range(N_CELLS)])
var = pd.DataFrame(index=[f"ENSG{g:011d}" for g in range(N_GENES)])
adata = anndata.AnnData(X=x, obs=obs, var=var)
out = Path(__file__).resolve().parent.parent / "bench" / "data"
out.mkdir(parents=True, exist_ok=True)
suffix = "" if N_CELLS == 100_000 else f"_{N_CELLS}"
adata.write_h5ad(out / f"bench_100k_20k{suffix}.h5ad")
adata.write_h5ad(out / f"bench_100k_20k{suffix}_gzip.h5ad", compression="gzip")
print(f"wrote {out}/bench_100k_20k{suffix}.h5ad and _gzip")
