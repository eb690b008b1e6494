#!/usr/bin/python3
"""A numpy port of scanpy's highly_variable_genes(flavor="seurat_v3" | "seurat_v3_paper")
(scanpy/preprocessing/_highly_variable_genes.py, _highly_variable_genes_seurat_v3), independent of
cellarium-ts, with R's loess (Rscript, the netlib dloess that scikit-misc also wraps) for the fit,
since neither scanpy nor scikit-misc installs here.

Reads JSON on stdin: {"h5ad": path, "n_top_genes": n, "flavor": ..., "batch_key": obs column or null,
"span": 0.3}. Prints JSON: the var columns in gene order (means, variances, variances_norm,
highly_variable_rank with null for NaN, highly_variable_nbatches, highly_variable).

One deliberate difference: ranks within a batch come from a stable argsort, so equal normalized
variances rank by gene position (numpy's default quicksort leaves their order unspecified).
"""
import json
import os
import subprocess
import sys
import tempfile

import anndata
import numpy as np
import pandas as pd
import scipy.sparse as sp

R_LOESS = """
args <- commandArgs(trailingOnly = TRUE)
n <- as.integer(args[3]); span <- as.numeric(args[4])
x <- readBin(args[1], "double", n, size = 8, endian = "little")
y <- readBin(args[2], "double", n, size = 8, endian = "little")
fit <- loess(y ~ x, span = span, degree = 2)
writeBin(as.double(fitted(fit)), args[5], size = 8, endian = "little")
"""


def r_loess(x, y, span):
    with tempfile.TemporaryDirectory() as tmp:
        paths = [os.path.join(tmp, name) for name in ("x", "y", "fit")]
        x.astype("<f8").tofile(paths[0])
        y.astype("<f8").tofile(paths[1])
        subprocess.run(
            ["Rscript", "-e", R_LOESS, paths[0], paths[1], str(len(x)), repr(span), paths[2]],
            check=True,
            capture_output=True,
        )
        return np.fromfile(paths[2], dtype="<f8")


def mean_var(x):
    """scanpy's mean and variance with correction 1 (fast_array_utils.stats.mean_var: the column
    sums divided by n). The mean must be the correctly rounded sum / n, not scipy's x.mean(), which
    scales before it sums: dloess's neighbourhoods change when distances between x values tie, so a
    log10 mean one ulp off can move a fitted value by ~1e-4."""
    n = x.shape[0]
    mean = np.asarray(x.sum(axis=0), dtype=np.float64).ravel() / n
    mean_sq = np.asarray(x.multiply(x).sum(axis=0), dtype=np.float64).ravel() / n
    return mean, (mean_sq - mean**2) * (n / (n - 1))


def main():
    spec = json.load(sys.stdin)
    adata = anndata.read_h5ad(spec["h5ad"])
    x = sp.csr_matrix(adata.X, dtype=np.float64)
    n_top = spec["n_top_genes"]
    span = spec.get("span", 0.3)
    means, variances = mean_var(x)
    key = spec.get("batch_key")
    batch = np.zeros(x.shape[0], dtype=int) if key is None else adata.obs[key].cat.codes.to_numpy()
    norm_gene_vars = []
    for b in np.unique(batch):
        xb = x[batch == b]
        n = xb.shape[0]
        mean, var = mean_var(xb)
        estimat_var = np.zeros(x.shape[1])
        not_const = var > 0
        if not_const.any():
            estimat_var[not_const] = r_loess(np.log10(mean[not_const]), np.log10(var[not_const]), span)
        reg_std = np.sqrt(10**estimat_var)
        clip_val = reg_std * np.sqrt(n) + mean
        clipped = xb.copy()
        clipped.data = np.minimum(clipped.data, clip_val[clipped.indices])
        sums = np.asarray(clipped.sum(axis=0)).ravel()
        squares = np.asarray(clipped.multiply(clipped).sum(axis=0)).ravel()
        norm_gene_vars.append((1 / ((n - 1) * np.square(reg_std))) * (n * np.square(mean) + squares - 2 * sums * mean))
    norm_gene_vars = np.vstack(norm_gene_vars)
    ranked = np.argsort(np.argsort(-norm_gene_vars, axis=1, kind="stable"), axis=1, kind="stable").astype(np.float32)
    nbatches = np.sum((ranked < n_top).astype(int), axis=0)
    ranked[ranked >= n_top] = np.nan
    median = np.ma.median(np.ma.masked_invalid(ranked), axis=0).filled(np.nan)
    df = pd.DataFrame(
        {
            "means": means,
            "variances": variances,
            "highly_variable_nbatches": nbatches,
            "highly_variable_rank": median,
            "variances_norm": np.mean(norm_gene_vars, axis=0),
        },
        index=adata.var_names,
    )
    if spec["flavor"] == "seurat_v3":
        cols, ascending = ["highly_variable_rank", "highly_variable_nbatches"], [True, False]
    else:
        cols, ascending = ["highly_variable_nbatches", "highly_variable_rank"], [False, True]
    order = df[cols].sort_values(cols, ascending=ascending, na_position="last").index
    df["highly_variable"] = False
    df.loc[order[:n_top], "highly_variable"] = True
    out = {c: [None if isinstance(v, float) and np.isnan(v) else v for v in df[c].tolist()] for c in df.columns}
    out["var_names"] = df.index.tolist()
    json.dump(out, sys.stdout)


main()
