#!/usr/bin/python3
"""The exact PCA reference for bench/ipca-devices.ts, in float64 with numpy.

Reads a JSON request on stdin: {"files": [...h5ad], "csv": onepass CSV (var_names_g, mean_g, std_g),
"k": int, "runs": [{"S_k": float64 binary, "V_kg": float64 binary}, ...]}. Builds the matrix the
example config feeds IncrementalPCA (normalize_total with the obs column total_mrna_umis, target
10,000, eps 1e-6; log1p; z-score with the CSV's mean and std as float32, eps 1e-6), centers it and
takes its exact SVD. Prints one JSON line: the exact singular values, J (the largest j <= 10 whose
eigenvalue exceeds the next by >= 15%) and, for each run, the largest relative error of S_k over
all k and over the top J, and the largest principal angle (degrees) between the top-J subspaces.
"""
import json
import sys

import anndata
import numpy as np
import scipy.sparse as sp

request = json.load(sys.stdin)
k = int(request["k"])
adatas = [anndata.read_h5ad(f) for f in request["files"]]
x = sp.vstack([sp.csr_matrix(a.X) for a in adatas], format="csr").toarray().astype(np.float64)
totals = np.concatenate([np.asarray(a.obs["total_mrna_umis"], dtype=np.float64) for a in adatas])
csv = np.genfromtxt(request["csv"], delimiter=",", skip_header=1, usecols=(1, 3))
mean_g = csv[:, 0].astype(np.float32).astype(np.float64)
std_g = csv[:, 1].astype(np.float32).astype(np.float64)
z = np.log1p(1e4 * x / (totals[:, None] + 1e-6))
z = (z - mean_g) / (std_g + 1e-6)
z -= z.mean(axis=0)
_, s, vt = np.linalg.svd(z, full_matrices=False)
ev = s**2
J = max([j for j in range(1, 11) if ev[j - 1] >= 1.15 * ev[j]], default=1)


def angle(v_a, v_b):
    cos = np.linalg.svd(v_a @ v_b.T, compute_uv=False)
    return float(np.degrees(np.arccos(np.clip(cos.min(), -1.0, 1.0))))


runs = []
for run in request["runs"]:
    S = np.fromfile(run["S_k"], dtype=np.float64)
    V = np.fromfile(run["V_kg"], dtype=np.float64).reshape(k, -1)
    rel = np.abs(S / s[:k] - 1)
    runs.append(
        {
            "max_S_error": float(rel.max()),
            "max_S_error_top_J": float(rel[:J].max()),
            "max_angle_top_J": angle(V[:J], vt[:J]),
            "max_angle_top_1": angle(V[:1], vt[:1]),
        }
    )
print(json.dumps({"n": z.shape[0], "g": z.shape[1], "J": J, "S": s[:12].tolist(), "S_k_last": float(s[k - 1]), "runs": runs}))
