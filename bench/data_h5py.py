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

import numpy as np
from h5py_blocks import normalized_blocks, x_shape

path = sys.argv[1]
batch = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
n_obs = x_shape(path)[0]
start = time.perf_counter()
cells = 0
batches = 0
steady_at, steady_cells = None, 0
checksum = 0.0
for block in normalized_blocks(path, batch):
    np.log1p(block.data, out=block.data)
    checksum += float(block.data[:1].sum()) if block.nnz else 0.0
    cells += block.shape[0]
    batches += 1
    if batches == max(1, min(10, -(-n_obs // batch) // 2)):
        steady_at, steady_cells = time.perf_counter(), cells
end = time.perf_counter()
seconds = end - start
steady = (cells - steady_cells) / (end - steady_at)
with open("/proc/self/status") as status:
    vmhwm = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(json.dumps({"cells": cells, "seconds": seconds, "cells_per_s": steady, "vmhwm_kb": vmhwm}))
