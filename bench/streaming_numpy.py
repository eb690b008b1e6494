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

import numpy as np
from h5py_blocks import normalized_blocks, x_shape

task, path = sys.argv[1], sys.argv[2]
batch = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
n_vars = x_shape(path)[1]
start = time.perf_counter()
cells = 0
sums = np.zeros(n_vars)
squares = np.zeros(n_vars)
values, genes = [], []
for block in normalized_blocks(path, batch):
    if task == "mean_var":
        np.log1p(block.data, out=block.data)
        sums += np.asarray(block.sum(axis=0), dtype=np.float64).ravel()
        squares += np.asarray(block.multiply(block).sum(axis=0), dtype=np.float64).ravel()
    else:
        values.append(block.data.copy())
        genes.append(block.indices.copy())
    cells += block.shape[0]
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
