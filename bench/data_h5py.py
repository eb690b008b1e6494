#!/usr/bin/python3
"""The h5py + numpy reference for bench/data.ts: streams X of an .h5ad file in 1,000-row CSR blocks
(indptr, indices and data slices read with h5py), applies normalize_total (target 10,000) and log1p with
numpy/scipy, and prints one JSON line: cells, seconds, cells_per_s (steady: after the first 10 batches, as
bench/data-child.mjs measures), vmhwm_kb (peak resident memory).
Usage: bench/data_h5py.py FILE.h5ad [batch_size=1000]
"""
import json
import sys
import time

import h5py
import numpy as np
import scipy.sparse as sp

path = sys.argv[1]
batch = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
start = time.perf_counter()
cells = 0
batches = 0
steady_at, steady_cells = None, 0
checksum = 0.0
with h5py.File(path, "r") as f:
    x = f["X"]
    n_obs, n_vars = (int(v) for v in x.attrs["shape"])
    indptr, indices, data = x["indptr"], x["indices"], x["data"]
    for s in range(0, n_obs, batch):
        e = min(s + batch, n_obs)
        ptr = indptr[s : e + 1].astype(np.int64)
        p0, p1 = int(ptr[0]), int(ptr[-1])
        block = sp.csr_matrix(
            (data[p0:p1].astype(np.float32), indices[p0:p1], ptr - p0), shape=(e - s, n_vars)
        )
        totals = np.asarray(block.sum(axis=1), dtype=np.float32).ravel()
        scale = np.float32(10_000) / (totals + np.float32(1e-6))
        block.data *= np.repeat(scale, np.diff(block.indptr))
        np.log1p(block.data, out=block.data)
        checksum += float(block.data[:1].sum()) if block.nnz else 0.0
        cells += e - s
        batches += 1
        if batches == max(1, min(10, -(-n_obs // batch) // 2)):
            steady_at, steady_cells = time.perf_counter(), cells
end = time.perf_counter()
seconds = end - start
steady = (cells - steady_cells) / (end - steady_at)
with open("/proc/self/status") as status:
    vmhwm = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(json.dumps({"cells": cells, "seconds": seconds, "cells_per_s": steady, "vmhwm_kb": vmhwm}))
