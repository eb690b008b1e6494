// HDF5 files for the direct reader's tests, written by h5py (Debian's, /usr/bin/python3) into a
// temporary folder: the same CSR matrix stored in each layout the reader takes or leaves to
// h5wasm, and the values h5py wrote, as raw little-endian files beside them.
import { closeSync, fstatSync, openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { runPython } from "../../helpers/python.js";

/** A fixture: its file, and the layout the direct reader should find for data (null: h5wasm reads it). */
export interface Variant {
  readonly name: string;
  readonly path: string;
  readonly layout: "contiguous" | "chunked" | "deflate" | null;
  /** The layout for indices, where it differs from data's. */
  readonly indicesLayout?: "contiguous" | "chunked" | "deflate" | null;
}

export const N_ROWS = 50;
export const N_COLS = 100;

const SCRIPT = `
import json, sys, h5py, numpy as np
out = sys.argv[1]
rng = np.random.default_rng(7)
nnz, n_rows, n_cols = 1000, ${N_ROWS}, ${N_COLS}
indptr = np.concatenate([[0], np.sort(rng.integers(0, nnz + 1, n_rows - 1)), [nnz]]).astype(np.int64)
indices = rng.integers(0, n_cols, nnz).astype(np.int32)
data = (rng.random(nnz) * 100).astype(np.float32)
indices.tofile(out + "/indices.bin"); data.tofile(out + "/data.bin"); indptr.tofile(out + "/indptr.bin")

def write(name, file_kw={}, data_dtype=np.float32, indices_dtype=np.int32, extra_links=0, attrs=0, late_links=0, **kw):
    path = out + "/" + name + ".h5"
    with h5py.File(path, "w", **file_kw) as f:
        f.create_group("obs")
        g = f.create_group("X")
        g.attrs["encoding-type"] = "csr_matrix"
        g.attrs["encoding-version"] = "0.1.0"
        g.attrs["shape"] = np.array([n_rows, n_cols], dtype=np.int64)
        for i in range(extra_links):
            g.create_dataset("extra_%03d" % i, data=np.arange(3))
        g.create_dataset("indptr", data=indptr)
        g.create_dataset("indices", data=indices.astype(indices_dtype), **kw)
        g.create_dataset("data", data=data.astype(data_dtype), **kw)
        f.create_dataset("empty", data=np.zeros(0, dtype=np.float32))
    # Attributes added once the headers are written: they go to continuation blocks.
    with h5py.File(path, "r+") as f:
        for i in range(late_links):
            f["X"].create_dataset("a_rather_long_link_name_to_fill_the_header_%d" % i, data=np.arange(3))
        for key in ["X/data", "X/indices"]:
            for i in range(attrs):
                f[key].attrs["note_%03d" % i] = np.arange(8) + i
    return path

write("contiguous")
write("chunked", chunks=(37,))
write("many-chunks", chunks=(7,))
write("gzip", chunks=(37,), compression="gzip")
write("gzip-many-chunks", chunks=(5,), compression="gzip", compression_opts=9)
write("shuffle-gzip", chunks=(37,), compression="gzip", shuffle=True)
write("latest-contiguous", file_kw={"libver": "latest"})
write("latest-chunked", file_kw={"libver": "latest"}, chunks=(37,))
write("userblock", file_kw={"userblock_size": 512}, chunks=(37,))
write("userblock-latest", file_kw={"userblock_size": 1024, "libver": "latest"})
write("many-links", extra_links=100, chunks=(37,))
write("dense-links", file_kw={"libver": "latest"}, extra_links=40)
write("continuation", attrs=40, chunks=(37,))
write("latest-continuation", file_kw={"libver": "latest"}, attrs=6, late_links=4)
write("float64", data_dtype=np.float64, chunks=(37,))
write("int64", indices_dtype=np.int64)
print(json.dumps(h5py.version.hdf5_version))
`;

/** Writes the fixtures into `dir`; returns them and the values h5py wrote. */
export function writeFixtures(dir: string): {
  variants: Variant[];
  data: Float32Array;
  indices: Int32Array;
  indptr: number[];
} {
  runPython(SCRIPT, null, [dir]);
  const at = (name: string) => join(dir, `${name}.h5`);
  const variants: Variant[] = [
    { name: "contiguous", path: at("contiguous"), layout: "contiguous" },
    { name: "chunked", path: at("chunked"), layout: "chunked" },
    // 143 chunks: a v1 B-tree of two levels.
    { name: "many-chunks", path: at("many-chunks"), layout: "chunked" },
    { name: "gzip", path: at("gzip"), layout: "deflate" },
    { name: "gzip-many-chunks", path: at("gzip-many-chunks"), layout: "deflate" },
    { name: "shuffle-gzip", path: at("shuffle-gzip"), layout: null },
    // Superblock v3, object headers v2, compact Link messages, layout message v3 or v4.
    { name: "latest-contiguous", path: at("latest-contiguous"), layout: "contiguous" },
    // Layout v4 with a fixed-array chunk index.
    { name: "latest-chunked", path: at("latest-chunked"), layout: null },
    { name: "userblock", path: at("userblock"), layout: "chunked" },
    { name: "userblock-latest", path: at("userblock-latest"), layout: "contiguous" },
    // An old-style group of 103 links: a symbol table of several SNOD nodes.
    { name: "many-links", path: at("many-links"), layout: "chunked" },
    // A new-style group of 43 links: dense storage in a fractal heap.
    { name: "dense-links", path: at("dense-links"), layout: null },
    // Object headers continued in further blocks: version 1 continuation messages; OCHK blocks
    // (the links and attributes added later stay compact, below HDF5's 8 before dense storage).
    { name: "continuation", path: at("continuation"), layout: "chunked" },
    { name: "latest-continuation", path: at("latest-continuation"), layout: "contiguous" },
    { name: "float64", path: at("float64"), layout: null, indicesLayout: "chunked" },
    { name: "int64", path: at("int64"), layout: "contiguous", indicesLayout: null },
  ];
  const read = (name: string) => readFileSync(join(dir, name));
  const bytes = (name: string) => {
    const b = read(name);
    return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
  };
  return {
    variants,
    data: new Float32Array(bytes("data.bin")),
    indices: new Int32Array(bytes("indices.bin")),
    indptr: Array.from(new BigInt64Array(bytes("indptr.bin")), Number),
  };
}

/** `f` with `path` open read-only: its descriptor and size. */
export function withFd<T>(path: string, f: (fd: number, size: number) => T): T {
  const fd = openSync(path, "r");
  try {
    return f(fd, fstatSync(fd).size);
  } finally {
    closeSync(fd);
  }
}
