#!/usr/bin/python3
"""What any randomized or incremental PCA can reach on a small data set, in float64 with numpy, for
reading bench/ipca-accuracy.ts's figures on it (the same matrix: normalize_total with row sums and
target 10,000, log1p, z-score with the population std + 1e-6, centered):
  randomized   one Halko-Martinsson-Tropp randomized SVD of the whole matrix (Gaussian start of q
               columns, niter power iterations with QR), as torch.svd_lowrank computes it;
  incremental  exact SVDs of the stacked matrix [S V; batch - batch mean; mean-correction row] per
               batch, keeping `keep` directions after each: incremental PCA without randomization.
Prints, for each, the rank-k error ratio, the largest explained-variance error and the largest
principal angle over the top J components (J as in bench/ipca_exact.py).
The whole matrix is held dense: for data sets of a few thousand cells.
Usage: bench/ipca_limits.py FILE.h5ad [k=50]
"""
import sys

import anndata
import numpy as np

path = sys.argv[1]
k = int(sys.argv[2]) if len(sys.argv) > 2 else 50
x = anndata.read_h5ad(path).X
x = x.toarray() if hasattr(x, "toarray") else np.asarray(x)
x = x.astype(np.float64)
z = np.log1p(1e4 * x / (x.sum(axis=1, keepdims=True) + 1e-6))
z = (z - z.mean(axis=0)) / (z.std(axis=0) + 1e-6)
z -= z.mean(axis=0)
n = z.shape[0]
_, s, vt = np.linalg.svd(z, full_matrices=False)
eigenvalues = s**2 / n
ratios = eigenvalues[:10] / eigenvalues[1:11]
J = max([j + 1 for j in range(10) if ratios[j] >= 1.15] or [0])
total = float(np.sum(z * z)) / n
optimal = total - float(np.sum(eigenvalues[:k]))
print(f"{path}: {n} cells x {z.shape[1]} genes, k = {k}, J = {J}")
print("singular values 4, 50, 60, 100:", ", ".join(f"{s[i]:.1f}" for i in (3, 49, 59, 99) if i < len(s)))


def measures(v_kg, explained_k):
    q, _ = np.linalg.qr(v_kg.T)
    ratio = np.sqrt((total - float(np.sum((z @ q) ** 2)) / n) / optimal)
    error = np.max(np.abs(explained_k[:J] - eigenvalues[:J]) / eigenvalues[:J])
    top, _ = np.linalg.qr(v_kg[:J].T)
    cosines = np.linalg.svd(vt[:J] @ top, compute_uv=False)
    angle = np.degrees(np.arccos(min(1.0, float(cosines.min()))))
    return f"{ratio:.5f} | {100 * error:.3f}% | {angle:.3f} deg"


print("\n| method | setting | error ratio | max ev error (top J) | max angle (top J) |")
print("|---|---|---:|---:|---:|")
rng = np.random.default_rng(0)
for q in (k + 10, 2 * k):
    for niter in (2, 4):
        basis, _ = np.linalg.qr(z @ rng.standard_normal((z.shape[1], q)))
        for _ in range(niter):
            basis, _ = np.linalg.qr(z @ np.linalg.qr(z.T @ basis)[0])
        _, sb, vb = np.linalg.svd(basis.T @ z, full_matrices=False)
        print(f"| randomized | q = {q}, niter = {niter} | {measures(vb[:k], sb[:k] ** 2 / n)} |")

shifted = z + rng.standard_normal(z.shape[1])  # an uncentered stream exercises the mean correction
for batch in (50, 100):
    for keep in (k, k + 10, k + 25, 2 * k):
        S, V, mean, count = np.zeros(0), np.zeros((0, z.shape[1])), np.zeros(z.shape[1]), 0
        for start in range(0, n, batch):
            block = shifted[start : start + batch]
            size = block.shape[0]
            block_mean = block.mean(axis=0)
            rows = [S[:, None] * V, block - block_mean]
            if count > 0:
                rows.append(np.sqrt(count * size / (count + size)) * (mean - block_mean)[None])
            _, S, V = np.linalg.svd(np.vstack(rows), full_matrices=False)
            S, V = S[:keep], V[:keep]
            mean = (count * mean + size * block_mean) / (count + size)
            count += size
        print(f"| incremental, exact steps | batch {batch}, keep {keep} | {measures(V[:k], S[:k] ** 2 / n)} |")
