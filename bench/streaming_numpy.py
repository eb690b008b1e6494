#!/usr/bin/python3
"""The numpy peers of bench/streaming-fit.ts, on the same file and pipeline.
mean_var: streams X in 1,000-row CSR blocks with h5py, normalize_total (target 10,000, totals from the
  row sums) + log1p with numpy/scipy, and accumulates per-gene float64 sums of x and x^2.
medians: the exact per-gene median of the non-zero normalized values (numpy; every non-zero value
  is kept in memory, then sorted by gene).
Prints one JSON line: cells, seconds, cells_per_s, vmhwm_kb, and a checksum of the result.
Usage: bench/streaming_numpy.py mean_var|medians FILE.h5ad [batch_size=1000]
"""
import json
import sys
import time

import h5py
import numpy as np
import scipy.sparse as sp

task, path = sys.argv[1], sys.argv[2]
batch = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
start = time.perf_counter()
cells = 0
with h5py.File(path, "r") as f:
    x = f["X"]
    n_obs, n_vars = (int(v) for v in x.attrs["shape"])
    indptr, indices, data = x["indptr"], x["indices"], x["data"]
    sums = np.zeros(n_vars)
    squares = np.zeros(n_vars)
    values, genes = [], []
    for s in range(0, n_obs, batch):
        e = min(s + batch, n_obs)
        ptr = indptr[s : e + 1].astype(np.int64)
        p0, p1 = int(ptr[0]), int(ptr[-1])
        block = sp.csr_matrix((data[p0:p1].astype(np.float32), indices[p0:p1], ptr - p0), shape=(e - s, n_vars))
        totals = np.asarray(block.sum(axis=1), dtype=np.float32).ravel()
        block.data *= np.repeat(np.float32(10_000) / (totals + np.float32(1e-6)), np.diff(block.indptr))
        if task == "mean_var":
            np.log1p(block.data, out=block.data)
            sums += np.asarray(block.sum(axis=0), dtype=np.float64).ravel()
            squares += np.asarray(block.multiply(block).sum(axis=0), dtype=np.float64).ravel()
        else:
            values.append(block.data.copy())
            genes.append(block.indices.copy())
        cells += e - s
if task == "mean_var":
    mean = sums / cells
    result = float(np.nansum(squares / cells - mean**2))
else:
    values = np.concatenate(values)
    genes = np.concatenate(genes)
    order = np.lexsort((values, genes))
    values, genes = values[order], genes[order]
    bounds = np.searchsorted(genes, np.arange(n_vars + 1))
    medians = np.array([np.median(values[a:b]) if b > a else np.nan for a, b in zip(bounds[:-1], bounds[1:])])
    result = float(np.nansum(medians))
seconds = time.perf_counter() - start
with open("/proc/self/status") as status:
    vmhwm = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(json.dumps({"cells": cells, "seconds": seconds, "cells_per_s": cells / seconds, "vmhwm_kb": vmhwm, "checksum": result}))
