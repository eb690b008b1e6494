"""X of an .h5ad file streamed with h5py, as the Python peers of the benchmarks read it
(bench/data_h5py.py, bench/streaming_numpy.py, bench/pca_peers.py): CSR row blocks whose indptr,
indices and data slices are read directly, normalize_total'ed in float32 as torch computes it
(totals from the row sums, target 10,000)."""
import h5py
import numpy as np
import scipy.sparse as sp


def x_shape(path):
    """(n_obs, n_vars) of X."""
    with h5py.File(path, "r") as f:
        return tuple(int(v) for v in f["X"].attrs["shape"])


def normalized_blocks(path, batch):
    """Yields rows [s, s + batch) of X as float32 CSR blocks scaled to row sums of 10,000."""
    with h5py.File(path, "r") as f:
        x = f["X"]
        n_obs, n_vars = (int(v) for v in x.attrs["shape"])
        indptr, indices, data = x["indptr"], x["indices"], x["data"]
        for s in range(0, n_obs, batch):
            e = min(s + batch, n_obs)
            ptr = indptr[s : e + 1].astype(np.int64)
            p0, p1 = int(ptr[0]), int(ptr[-1])
            block = sp.csr_matrix((data[p0:p1].astype(np.float32), indices[p0:p1], ptr - p0), shape=(e - s, n_vars))
            totals = np.asarray(block.sum(axis=1), dtype=np.float32).ravel()
            block.data *= np.repeat(np.float32(10_000) / (totals + np.float32(1e-6)), np.diff(block.indptr))
            yield block
