#!/usr/bin/python3
"""Writes a synthetic .h5ad of raw counts for scVI tests, with Debian's python3-anndata and numpy.

Counts are negative binomial (gamma-Poisson, inverse dispersion 5) around
    library_n * normalize_g(base_g * program[type_n]_g * batch_effect[batch_n]_g * chemistry[chem_n]_g):
  * K cell types (--types, default 6): each type multiplies a random 8% of the genes by 4 to 12 (its
    marker program), so the types have distinct expression profiles;
  * B batches (--batches, default 3): a strong multiplicative per-gene effect (log-normal, sigma 1),
    so that PCA of log1p-normalized data separates the batches;
  * a covariate `chemistry` with 2 levels (v2 / v3), drawn per cell, with a mild per-gene effect
    (log-normal, sigma 0.3) and 1.5x the library size for v3.
X is CSR float32 holding integers; obs: categorical `cell_type` (type_0...), `batch` (batch_0...),
`chemistry`; obs_names cell_0...; var_names ENSG ids. Deterministic for a seed.
Usage: scripts/make-scvi-data.py --cells N --genes G --seed S --out FILE.h5ad [--types K] [--batches B]
"""

import argparse

import anndata
import numpy as np
import pandas as pd
import scipy.sparse as sp


def main():
    parser = argparse.ArgumentParser(description="synthetic scVI counts")
    parser.add_argument("--cells", type=int, required=True)
    parser.add_argument("--genes", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True)
    parser.add_argument("--types", type=int, default=6)
    parser.add_argument("--batches", type=int, default=3)
    args = parser.parse_args()
    n, g, k, b = args.cells, args.genes, args.types, args.batches
    rng = np.random.default_rng(args.seed)

    base_g = rng.lognormal(0.0, 1.0, g)
    program_kg = np.ones((k, g))
    n_markers = max(1, int(round(0.08 * g)))
    for t in range(k):
        markers = rng.choice(g, n_markers, replace=False)
        program_kg[t, markers] = rng.uniform(4.0, 12.0, n_markers)
    batch_bg = rng.lognormal(0.0, 1.0, (b, g))
    chem_cg = np.stack([np.ones(g), rng.lognormal(0.0, 0.3, g)])

    type_n = rng.integers(0, k, n)
    batch_n = rng.integers(0, b, n)
    chem_n = rng.integers(0, 2, n)
    rate_ng = base_g * program_kg[type_n] * batch_bg[batch_n] * chem_cg[chem_n]
    rate_ng /= rate_ng.sum(axis=1, keepdims=True)
    library_n = rng.lognormal(np.log(1500.0), 0.35, n) * np.where(chem_n == 1, 1.5, 1.0)
    mean_ng = rate_ng * library_n[:, None]
    theta = 5.0
    counts = rng.poisson(rng.gamma(theta, mean_ng / theta)).astype(np.float32)
    empty = counts.sum(axis=1) == 0
    counts[empty, 0] = 1.0  # every cell has a library size

    category = lambda codes, names: pd.Categorical.from_codes(codes, categories=names)
    obs = pd.DataFrame(
        {
            "cell_type": category(type_n, [f"type_{t}" for t in range(k)]),
            "batch": category(batch_n, [f"batch_{i}" for i in range(b)]),
            "chemistry": category(chem_n, ["v2", "v3"]),
        },
        index=[f"cell_{i}" for i in range(n)],
    )
    var = pd.DataFrame(index=[f"ENSG{i:011d}" for i in range(g)])
    adata = anndata.AnnData(X=sp.csr_matrix(counts), obs=obs, var=var)
    adata.write_h5ad(args.out)


if __name__ == "__main__":
    main()
