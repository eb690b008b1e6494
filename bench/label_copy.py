#!/usr/bin/python3
"""A copy of a benchmark .h5ad with an obs categorical column `label` (4 classes by each cell's
number of stored entries, quartiles), for logistic_regression's y_n in bench/config-styles.ts. The
benchmark file itself has no obs columns. X is copied byte for byte (shutil), then h5py adds the
column as anndata writes categoricals (encoding-type categorical, codes + categories).
Usage: bench/label_copy.py SOURCE.h5ad TARGET.h5ad
"""
import os
import shutil
import sys

import h5py
import numpy as np

source, target = sys.argv[1], sys.argv[2]
partial = target + ".partial"
shutil.copyfile(source, partial)
with h5py.File(partial, "r+") as f:
    indptr = f["X/indptr"][:]
    stored = np.diff(indptr)
    codes = np.searchsorted(np.quantile(stored, [0.25, 0.5, 0.75]), stored, side="right").astype(np.int8)
    obs = f["obs"]
    column = obs.create_group("label")
    column.attrs["encoding-type"] = "categorical"
    column.attrs["encoding-version"] = "0.2.0"
    column.attrs["ordered"] = False
    categories = column.create_dataset(
        "categories", data=np.array(["q1", "q2", "q3", "q4"], dtype=object), dtype=h5py.string_dtype()
    )
    categories.attrs["encoding-type"] = "string-array"
    categories.attrs["encoding-version"] = "0.2.0"
    codes_ds = column.create_dataset("codes", data=codes)
    codes_ds.attrs["encoding-type"] = "array"
    codes_ds.attrs["encoding-version"] = "0.2.0"
    order = [str(c) for c in obs.attrs.get("column-order", [])] + ["label"]
    obs.attrs["column-order"] = np.array(order, dtype=object)
os.replace(partial, target)
