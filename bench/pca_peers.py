#!/usr/bin/python3
"""PyTorch and scikit-learn peers of bench/pca.ts on the same file and pipeline: X streamed in
1,000-row CSR blocks with h5py, normalize_total (target 10,000, row sums) + log1p, densified, then
  torch:   upstream's IncrementalPCA update (cellarium/ml/models/incremental_pca.py forward): per batch
           torch.svd_lowrank(x - mean, q=k, niter) and the merge of [S V; S' V'; mean row] by another
           torch.svd_lowrank(q=k, niter), float32, as upstream runs it on CPU;
  sklearn: sklearn.decomposition.IncrementalPCA(n_components=k).partial_fit per batch.
Prints one JSON line: cells, seconds, cells_per_s, vmhwm_kb, and the explained variances' sum.
Usage: bench/pca_peers.py torch|sklearn FILE [k=50] [niter=2] [batch=1000] [threads=2]
"""
import json
import math
import sys
import time

import numpy as np
from h5py_blocks import normalized_blocks, x_shape

method, path = sys.argv[1], sys.argv[2]
k = int(sys.argv[3]) if len(sys.argv) > 3 else 50
niter = int(sys.argv[4]) if len(sys.argv) > 4 else 2
batch = int(sys.argv[5]) if len(sys.argv) > 5 else 1000
threads = int(sys.argv[6]) if len(sys.argv) > 6 else 2

import torch  # noqa: E402

torch.set_num_threads(threads)
torch.manual_seed(0)
if method == "sklearn":
    from sklearn.decomposition import IncrementalPCA

    model = IncrementalPCA(n_components=k)
S_k = V_kg = mean_g = None
size = 0
n_obs = x_shape(path)[0]
start = time.perf_counter()
for block in normalized_blocks(path, batch):
    np.log1p(block.data, out=block.data)
    dense = block.toarray()
    if method == "sklearn":
        model.partial_fit(dense)
        continue
    x_ng = torch.from_numpy(dense)
    other_mean = x_ng.mean(dim=0)
    _, s_k, v_gk = torch.svd_lowrank(x_ng - other_mean, q=k, niter=niter)
    other = x_ng.shape[0]
    total = size + other
    if size > 0:
        joined = torch.cat(
            [
                S_k[:, None] * V_kg,
                s_k[:, None] * v_gk.T,
                math.sqrt(size * other / total) * (mean_g - other_mean)[None, :],
            ]
        )
        _, s_k, v_gk = torch.svd_lowrank(joined, q=k, niter=niter)
        mean_g = mean_g * size / total + other_mean * other / total
    else:
        mean_g = other_mean
    S_k, V_kg, size = s_k, v_gk.T, total
seconds = time.perf_counter() - start
variance = float(model.explained_variance_.sum()) if method == "sklearn" else float((S_k**2).sum() / size)
with open("/proc/self/status") as status:
    vmhwm = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(json.dumps({"cells": n_obs, "seconds": seconds, "cells_per_s": n_obs / seconds, "vmhwm_kb": vmhwm, "explained_variance_sum": variance}))
