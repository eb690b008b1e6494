#!/usr/bin/python3
"""The numpy peer of bench/hvg.ts: scanpy's seurat_v3 highly variable genes streamed over h5py row
blocks of raw counts in two passes, as scanpy computes them in memory: float64 per-gene sums of x and
x^2; R's loess (span 0.3, degree 2: the dloess that scikit-misc wraps; scikit-misc does not install
here) of log10 variance on log10 mean; float64 sums of min(x, clip) and its square (np.minimum and
np.bincount per block); normalized variances, ranks and the top n.
Prints one JSON line: cells, seconds (both passes and the fit), pass1_s, loess_s, pass2_s, vmhwm_kb,
and the selected genes' checksum (the sum of their indices).
Usage: bench/hvg_numpy.py FILE.h5ad [n_top_genes=2000] [batch_size=1000]
"""
import json
import os
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

path = sys.argv[1]
n_top = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
batch = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
R_LOESS = """
a <- commandArgs(trailingOnly = TRUE)
n <- as.integer(a[3])
x <- readBin(a[1], "double", n, size = 8, endian = "little")
y <- readBin(a[2], "double", n, size = 8, endian = "little")
writeBin(as.double(fitted(loess(y ~ x, span = 0.3, degree = 2))), a[4], size = 8, endian = "little")
"""


def blocks(f):
    x = f["X"]
    n_obs, n_vars = (int(v) for v in x.attrs["shape"])
    indptr, indices, data = x["indptr"], x["indices"], x["data"]
    for s in range(0, n_obs, batch):
        e = min(s + batch, n_obs)
        p0, p1 = int(indptr[s]), int(indptr[e])
        yield data[p0:p1].astype(np.float64), indices[p0:p1], n_vars


start = time.perf_counter()
with h5py.File(path, "r") as f:
    n, g = (int(v) for v in f["X"].attrs["shape"])
    sums, squares = np.zeros(g), np.zeros(g)
    for values, cols, _ in blocks(f):
        sums += np.bincount(cols, weights=values, minlength=g)
        squares += np.bincount(cols, weights=values * values, minlength=g)
    pass1 = time.perf_counter()
    mean = sums / n
    var = (squares - sums**2 / n) / (n - 1)
    not_const = var > 0
    fitted = np.zeros(g)
    with tempfile.TemporaryDirectory() as tmp:
        files = [os.path.join(tmp, name) for name in ("x", "y", "fit")]
        np.log10(mean[not_const]).astype("<f8").tofile(files[0])
        np.log10(var[not_const]).astype("<f8").tofile(files[1])
        subprocess.run(["Rscript", "-e", R_LOESS, files[0], files[1], str(int(not_const.sum())), files[2]], check=True)
        fitted[not_const] = np.fromfile(files[2], dtype="<f8")
    loess = time.perf_counter()
    reg_std = np.sqrt(10**fitted)
    clip = reg_std * np.sqrt(n) + mean
    csum, csq = np.zeros(g), np.zeros(g)
    for values, cols, _ in blocks(f):
        clipped = np.minimum(values, clip[cols])
        csum += np.bincount(cols, weights=clipped, minlength=g)
        csq += np.bincount(cols, weights=clipped * clipped, minlength=g)
    pass2 = time.perf_counter()
norm = (n * mean**2 + csq - 2 * mean * csum) / ((n - 1) * reg_std**2)
top = np.argsort(-norm, kind="stable")[:n_top]
seconds = time.perf_counter() - start
with open("/proc/self/status") as status:
    vmhwm = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(json.dumps({
    "cells": n, "seconds": seconds, "pass1_s": pass1 - start, "loess_s": loess - pass1, "pass2_s": pass2 - loess,
    "vmhwm_kb": vmhwm, "checksum": int(top.sum()),
}))
