#!/usr/bin/python3
"""Writes the .h5ad conformance fixtures under tests/fixtures/h5ad/ with the real anndata.

Each `<name>.h5ad` gets a `<name>.json` holding the values the file must yield (made from the
AnnData object read back with anndata itself), so the TypeScript reader is checked against
anndata rather than against our own output. Run with Debian's python3-anndata:

    /usr/bin/python3 scripts/make-fixtures.py

The two anndata 0.7 archives that python3-anndata ships for its own tests are copied as they are
(LZF-compressed, categories as object references) and described the same way. Files under bad/
are deliberately broken inputs for the error tests.
"""

import json
import shutil
from pathlib import Path

import anndata
import h5py
import numpy as np
import pandas as pd
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "h5ad"
ARCHIVES = Path(anndata.__file__).parent / "tests" / "data" / "archives"
N_OBS, N_VARS = 13, 9


def json_number(x):
    """NaN has no JSON form: null stands for it."""
    x = x.item() if hasattr(x, "item") else x
    if isinstance(x, float) and np.isnan(x):
        return None
    return x


def describe_matrix(m):
    encoding = {"csr": "csr_matrix", "csc": "csc_matrix"}.get(m.format, "array") if sp.issparse(m) else "array"
    dense = m.toarray() if sp.issparse(m) else np.asarray(m)
    return {
        "encoding": encoding,
        "dtype": str(dense.dtype),
        "shape": list(dense.shape),
        "dense": [[json_number(v) for v in row] for row in dense],
    }


def describe_column(series):
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        cats = series.cat.categories
        categories = [str(c) for c in cats] if cats.dtype == object else [json_number(c) for c in cats]
        return {
            "kind": "categorical",
            "ordered": bool(dtype.ordered),
            "categories": categories,
            "codes": [int(c) for c in series.cat.codes],
        }
    if isinstance(dtype, pd.BooleanDtype) or isinstance(dtype, pd.api.extensions.ExtensionDtype) and dtype.kind in "iu":
        mask = series.isna().to_numpy()
        values = [None if m else (bool(v) if dtype.kind == "b" else int(v)) for v, m in zip(series, mask)]
        kind = "nullable-boolean" if dtype.kind == "b" else "nullable-integer"
        return {"kind": kind, "values": values, "mask": [bool(m) for m in mask]}
    if dtype == bool:
        return {"kind": "boolean", "values": [bool(v) for v in series]}
    if dtype == object:
        return {"kind": "string", "values": [str(v) for v in series]}
    return {"kind": "numeric", "dtype": str(dtype), "values": [json_number(v) for v in series]}


def describe_frame(df):
    return {
        "index": [str(i) for i in df.index],
        "column_order": [str(c) for c in df.columns],
        "columns": {str(c): describe_column(df[c]) for c in df.columns},
    }


def describe_uns(value):
    if isinstance(value, dict):
        return {k: describe_uns(v) for k, v in value.items()}
    if isinstance(value, (str, bool, int, float)):
        return json_number(value)
    if isinstance(value, np.generic):
        return json_number(value)
    if isinstance(value, np.ndarray) and value.dtype.names is None:
        if value.dtype == object or value.dtype.kind == "U":
            return [str(v) for v in value]
        if value.dtype == bool:
            return [bool(v) for v in value]
        return {"shape": list(value.shape), "data": [json_number(v) for v in value.ravel()]}
    return {"unsupported": type(value).__name__}


def describe(adata):
    return {
        "n_obs": adata.n_obs,
        "n_vars": adata.n_vars,
        "obs_names": [str(i) for i in adata.obs_names],
        "var_names": [str(i) for i in adata.var_names],
        "X": describe_matrix(adata.X),
        "obs": describe_frame(adata.obs),
        "var": describe_frame(adata.var),
        "obsm": {k: describe_matrix(v) for k, v in adata.obsm.items() if not isinstance(v, pd.DataFrame)},
        "layers": {k: describe_matrix(v) for k, v in adata.layers.items()},
        "uns": describe_uns(dict(adata.uns)),
    }


def save_expected(name):
    """The expected values come from anndata's own reading of the written file."""
    path = OUT / f"{name}.h5ad"
    expected = describe(anndata.read_h5ad(path))
    (OUT / f"{name}.json").write_text(json.dumps(expected, separators=(",", ":")) + "\n")


def counts(rng, shape, density, dtype):
    m = rng.poisson(3.0, size=shape).astype(dtype) + 1
    m[rng.random(shape) > density] = 0
    m[2, :] = 0  # an empty cell: its row block has indptr[i] == indptr[i + 1]
    return m


def full_obs(rng):
    n = N_OBS
    return pd.DataFrame(
        {
            "cell_type": pd.Categorical(rng.choice(["T cell", "B cell", "NK", "unused"][:3], n), categories=["B cell", "NK", "T cell", "unused"]),
            "stage": pd.Categorical(rng.choice([1, 2, 3], n), ordered=True),
            "with_nan": pd.Categorical([None if i % 4 == 0 else "x" if i % 2 else "y" for i in range(n)]),
            # anndata turns a string column with repeated values into a categorical when writing
            "donor": [f"donor-{i % 3}-é" for i in range(n)],
            "barcode": [f"AC{i:03d}GT-é" for i in range(n)],
            "total": rng.random(n) * 1000,
            "n_genes": (rng.integers(0, 2**40, n)).astype(np.int64),
            "small": rng.integers(-5, 5, n).astype(np.int16),
            "ratio": np.where(np.arange(n) % 5 == 0, np.nan, rng.random(n)).astype(np.float32),
            "is_doublet": rng.random(n) > 0.5,
            "umi_nullable": pd.array([None if i % 3 == 0 else int(i * 7) for i in range(n)], dtype="Int64"),
            "qc_nullable": pd.array([None if i % 4 == 1 else bool(i % 2) for i in range(n)], dtype="boolean"),
        },
        index=[f"cell-{i:02d}" for i in range(n)],
    )


def full_var(rng):
    g = N_VARS
    return pd.DataFrame(
        {
            "gene_symbol": [f"SYM{j}" for j in range(g)],
            "highly_variable": np.arange(g) % 2 == 0,
            "mean": rng.random(g).astype(np.float32),
            "n_cells": rng.integers(0, 100, g).astype(np.int32),
            "feature_type": pd.Categorical(["Gene Expression"] * (g - 1) + ["Antibody"]),
        },
        index=[f"ENSG{j:05d}" for j in range(g)],
    )


def minimal_frames():
    obs = pd.DataFrame(index=[f"c{i}" for i in range(N_OBS)])
    var = pd.DataFrame(index=[f"g{j}" for j in range(N_VARS)])
    return obs, var


def write_full(rng):
    x = sp.csr_matrix(counts(rng, (N_OBS, N_VARS), 0.35, np.float32))
    adata = anndata.AnnData(x, obs=full_obs(rng), var=full_var(rng))
    adata.obsm["X_pca"] = rng.standard_normal((N_OBS, 3)).astype(np.float32)
    adata.obsm["X_umap"] = rng.standard_normal((N_OBS, 2))
    adata.obsm["sparse"] = sp.csr_matrix(counts(rng, (N_OBS, 4), 0.5, np.float64))
    adata.layers["counts"] = sp.csr_matrix(counts(rng, (N_OBS, N_VARS), 0.4, np.int64))
    adata.layers["dense"] = rng.standard_normal((N_OBS, N_VARS))
    adata.uns["title"] = "fixture é"
    adata.uns["n_pcs"] = 3
    adata.uns["big_int"] = np.int64(2**40 + 1)
    adata.uns["alpha"] = 0.25
    adata.uns["flag"] = True
    adata.uns["counts"] = np.arange(4, dtype=np.int64)
    adata.uns["matrix"] = np.arange(6, dtype=np.float64).reshape(2, 3) / 4
    adata.uns["names"] = np.array(["a", "b", "c"], dtype=object)
    adata.uns["nested"] = {"depth": 2, "inner": {"label": "deep", "weights": np.array([0.5, 1.5], np.float32)}}
    adata.write_h5ad(OUT / "full-csr.h5ad")
    save_expected("full-csr")


def write_x_variant(name, x, compression=None):
    obs, var = minimal_frames()
    anndata.AnnData(x, obs=obs, var=var, dtype=x.dtype).write_h5ad(OUT / f"{name}.h5ad", compression=compression)
    save_expected(name)


def write_wide_indices(rng):
    """CSR with int64 indptr and indices and int64 data, as anndata writes for > 2^31 non-zeros."""
    x = sp.csr_matrix(counts(rng, (N_OBS, N_VARS), 0.4, np.int64))
    obs, var = minimal_frames()
    path = OUT / "csr-int64.h5ad"
    anndata.AnnData(x, obs=obs, var=var, dtype=x.dtype).write_h5ad(path)
    with h5py.File(path, "r+") as f:
        for key in ("indptr", "indices"):
            values = f["X"][key][()].astype(np.int64)
            del f["X"][key]
            f["X"].create_dataset(key, data=values)
    save_expected("csr-int64")


def write_bad_inputs(rng):
    bad = OUT / "bad"
    bad.mkdir(exist_ok=True)
    with h5py.File(bad / "not-anndata.h5", "w") as f:
        f.create_dataset("values", data=np.arange(3))
    obs, var = minimal_frames()
    x = sp.csr_matrix(counts(rng, (N_OBS, N_VARS), 0.4, np.float32))
    anndata.AnnData(x, obs=obs, var=var).write_h5ad(bad / "no-obs.h5ad")
    with h5py.File(bad / "no-obs.h5ad", "r+") as f:
        del f["obs"]
    anndata.AnnData(x, obs=obs, var=var).write_h5ad(bad / "unknown-encoding.h5ad")
    with h5py.File(bad / "unknown-encoding.h5ad", "r+") as f:
        f["X"].attrs["encoding-type"] = "awkward-array"
        f["obs"].attrs["column-order"] = np.array(["weird"], dtype=object)
        col = f["obs"].create_group("weird")
        col.attrs["encoding-type"] = "future-encoding"
        col.attrs["encoding-version"] = "9.9.9"
    unknown_filter(bad / "unknown-filter.h5ad")


def unknown_filter(path):
    """An X/data whose filter pipeline names filter 32099, which no HDF5 build provides.

    h5py can only write registered filters, so an LZF pipeline message is written and its filter
    id patched in place: in the pipeline message the 2-byte id sits 8 bytes before the filter name
    (HDF5 format spec, 'Data Storage - Filter Pipeline Message'); files written with libver
    'earliest' (h5py's default) have no object-header checksums to update.
    """
    with h5py.File(path, "w") as f:
        g = f.create_group("X")
        g.attrs["encoding-type"] = "csr_matrix"
        g.attrs["encoding-version"] = "0.1.0"
        g.attrs["shape"] = np.array([2, 64])
        # Compressible: an incompressible chunk would be stored unfiltered and read fine.
        g.create_dataset("data", data=np.ones(128, np.float32), compression="lzf")
        g.create_dataset("indices", data=np.tile(np.arange(64, dtype=np.int32), 2))
        g.create_dataset("indptr", data=np.array([0, 64, 128], np.int32))
    raw = bytearray(path.read_bytes())
    at = raw.find(b"lzf\x00")
    assert at > 8 and raw[at - 8 : at - 6] == (32000).to_bytes(2, "little"), "LZF pipeline message not found"
    raw[at - 8 : at - 6] = (32099).to_bytes(2, "little")
    path.write_bytes(bytes(raw))


def copy_archives():
    for version in ("v0.7.0", "v0.7.8"):
        name = f"anndata-{version}"
        shutil.copyfile(ARCHIVES / version / "adata.h5ad", OUT / f"{name}.h5ad")
        save_expected(name)


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20240611)
    write_full(rng)
    x = counts(rng, (N_OBS, N_VARS), 0.35, np.float32)
    x[:, 5] = 0  # an empty gene: its CSC column has indptr[j] == indptr[j + 1]
    write_x_variant("csc", sp.csc_matrix(x))
    write_x_variant("dense-float32", x)
    write_x_variant("dense-float64", rng.standard_normal((N_OBS, N_VARS)))
    write_x_variant("dense-int32", counts(rng, (N_OBS, N_VARS), 0.5, np.int32))
    write_x_variant("csr-gzip", sp.csr_matrix(x), compression="gzip")
    write_x_variant("csr-lzf", sp.csr_matrix(x), compression="lzf")
    write_x_variant("csc-gzip", sp.csc_matrix(x), compression="gzip")
    write_wide_indices(rng)
    write_bad_inputs(rng)
    copy_archives()
    print(f"anndata {anndata.__version__}: fixtures written to {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
