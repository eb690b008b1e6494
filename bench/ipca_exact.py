#!/usr/bin/python3
"""The exact PCA reference for bench/ipca-accuracy.ts, in float64 with numpy/scipy.

Reads a JSON request on stdin: {"files": [...h5ad], "work": dir, "k": int, "settings": [{"file": V_kg
float64 binary, "explained": explained_variance_k float64 binary}, ...]}; the work dir also holds
mean_g.f32 and std_g.f32, the ZScore statistics the TypeScript side used. Builds the same matrix
(normalize_total with row sums and target 10,000, log1p, z-score with those statistics, eps 1e-6),
centers it, and computes its exact spectrum: from the n x n Gram matrix when n <= g, else from the
g x g scatter matrix accumulated over row blocks (dsyrk; 3.2 GB for 20,000 genes) and scipy's eigh
restricted to the top eigenpairs. Prints one JSON line with J, the top eigenvalues and, for each
setting, the rank-k error ratio, the largest explained-variance error and principal angle (top J).
"""
import json
import sys

import anndata
import numpy as np
import scipy.linalg as la
import scipy.sparse as sp
from scipy.linalg import blas

request = json.load(sys.stdin)
k = int(request["k"])
work = request["work"]
x = sp.vstack([sp.csr_matrix(anndata.read_h5ad(f).X) for f in request["files"]], format="csr")
n, g = x.shape
mean_g = np.fromfile(f"{work}/mean_g.f32", dtype=np.float32).astype(np.float64)
std_g = np.fromfile(f"{work}/std_g.f32", dtype=np.float32).astype(np.float64)
totals = np.asarray(x.sum(axis=1), dtype=np.float64).ravel()
n_top = max(k, 11)


def zscored(start, end):
    block = x[start:end].toarray().astype(np.float64)
    block = np.log1p(1e4 * block / (totals[start:end, None] + 1e-6))
    return (block - mean_g) / (std_g + 1e-6)


if n <= g:
    z = zscored(0, n)
    z -= z.mean(axis=0)
    w, u = np.linalg.eigh(z @ z.T)
    order = np.argsort(w)[::-1][:n_top]
    eigenvalues = w[order] / n
    components = (z.T @ u[:, order]) / np.sqrt(w[order])  # g x n_top, orthonormal columns
    total = float(np.sum(z * z)) / n

    def captured(v_kg):
        return float(np.sum((z @ v_kg.T) ** 2)) / n
else:
    scatter = np.zeros((g, g), order="F")
    sums = np.zeros(g)
    for start in range(0, n, 2000):
        block = zscored(start, min(start + 2000, n))
        sums += block.sum(axis=0)
        # Upper triangle of block^T block added in place (block.T is Fortran-ordered g x rows).
        scatter = blas.dsyrk(1.0, block.T, beta=1.0, c=scatter, trans=0, lower=0, overwrite_c=1)
    # Center: scatter - n m m^T with m = sums / n.
    scatter = blas.dsyr(-1.0 / n, sums, a=scatter, lower=0, overwrite_a=1)
    scatter /= n
    w, v = la.eigh(scatter, lower=False, subset_by_index=[g - n_top, g - 1])
    order = np.argsort(w)[::-1]
    eigenvalues = w[order]
    components = v[:, order]
    total = float(np.trace(scatter))

    def captured(v_kg):
        return float(np.sum(v_kg.T * blas.dsymm(1.0, scatter, v_kg.T, lower=0)))

ratios = eigenvalues[:10] / eigenvalues[1:11]
separated = [j + 1 for j in range(10) if ratios[j] >= 1.15]
J = max(separated) if separated else 0
optimal = total - float(np.sum(eigenvalues[:k]))

results = []
for setting in request["settings"]:
    v_kg = np.fromfile(setting["file"], dtype=np.float64).reshape(k, g)
    explained = np.fromfile(setting["explained"], dtype=np.float64)
    q, _ = np.linalg.qr(v_kg.T)  # the projection onto the row span, even if V is slightly off
    ratio = np.sqrt((total - captured(q.T)) / optimal)
    if J > 0:
        ev_error = float(np.max(np.abs(explained[:J] - eigenvalues[:J]) / eigenvalues[:J]))
        cosines = np.linalg.svd(v_kg[:J] @ components[:, :J], compute_uv=False)
        angle = float(np.degrees(np.arccos(np.clip(cosines.min(), -1.0, 1.0))))
    else:
        ev_error = angle = None
    results.append({"error_ratio": float(ratio), "max_ev_error": ev_error, "max_angle_deg": angle})

print(json.dumps({"n": n, "g": g, "J": J, "eigenvalues": eigenvalues[:11].tolist(), "settings": results}))
