// HDF5 files for the direct tree reader's tests (src/formats/hdf5/tree.ts), written by h5py (Debian's,
// /usr/bin/python3) into a temporary folder in one Python run: the layouts the reader takes (an
// AnnData-like file in several storage variants, every attribute and dataset type it reads, big
// old-style groups, continuation blocks), those it must leave to h5wasm, and some it may do either.
import { join } from "node:path";
import { runPython } from "../../helpers/python.js";

/** What openTree must make of a fixture: a tree, undefined (h5wasm reads it), or either (then a tree must match h5wasm). */
export type Expect = "taken" | "fallback" | "either";

export interface TreeFixture {
  readonly name: string;
  readonly path: string;
  readonly expect: Expect;
  /** What the fixture is, for the test names and the report. */
  readonly about: string;
}

const SCRIPT = `
import json, sys, h5py, numpy as np
out = sys.argv[1]
S = h5py.string_dtype()
A = h5py.string_dtype("ascii")

def strs(values, dtype=S):
    return np.array(values, dtype=dtype)

def anndata(f, n_obs=60, n_vars=25, x_kw={}, obs_kw={}):
    rng = np.random.default_rng(11)
    def frame(g, index, columns):
        g.attrs["encoding-type"] = "dataframe"
        g.attrs["encoding-version"] = "0.2.0"
        g.attrs["_index"] = "_index"
        if columns:
            g.attrs["column-order"] = strs(columns)
        else:
            # anndata writes an empty column order as an empty float64 array
            g.attrs["column-order"] = np.zeros(0, dtype=np.float64)
        d = g.create_dataset("_index", data=strs(index), **obs_kw)
        d.attrs["encoding-type"] = "string-array"
        d.attrs["encoding-version"] = "0.2.0"
    obs = f.create_group("obs")
    frame(obs, ["cell_%03d" % i for i in range(n_obs)], ["cell_type", "n_genes", "is_good", "counts"])
    cat = obs.create_group("cell_type")
    cat.attrs["encoding-type"] = "categorical"
    cat.attrs["encoding-version"] = "0.2.0"
    cat.attrs["ordered"] = np.bool_(False)
    codes = cat.create_dataset("codes", data=rng.integers(-1, 3, n_obs).astype(np.int8), **obs_kw)
    codes.attrs["encoding-type"] = "array"
    codes.attrs["encoding-version"] = "0.2.0"
    cats = cat.create_dataset("categories", data=strs(["B cell", "T cell", "NK \u00e9"]))
    cats.attrs["encoding-type"] = "string-array"
    cats.attrs["encoding-version"] = "0.2.0"
    num = obs.create_dataset("n_genes", data=rng.integers(0, 5000, n_obs).astype(np.int64), **obs_kw)
    num.attrs["encoding-type"] = "array"
    num.attrs["encoding-version"] = "0.2.0"
    good = obs.create_dataset("is_good", data=rng.random(n_obs) < 0.5, **obs_kw)
    good.attrs["encoding-type"] = "array"
    good.attrs["encoding-version"] = "0.2.0"
    nullable = obs.create_group("counts")
    nullable.attrs["encoding-type"] = "nullable-integer"
    nullable.attrs["encoding-version"] = "0.1.0"
    nullable.create_dataset("values", data=rng.integers(0, 100, n_obs).astype(np.int64), **obs_kw)
    nullable.create_dataset("mask", data=rng.random(n_obs) < 0.2, **obs_kw)
    var = f.create_group("var")
    frame(var, ["gene_%02d" % i for i in range(n_vars)], [])
    nnz = 300
    X = f.create_group("X")
    X.attrs["encoding-type"] = "csr_matrix"
    X.attrs["encoding-version"] = "0.1.0"
    X.attrs["shape"] = np.array([n_obs, n_vars], dtype=np.int64)
    indptr = np.concatenate([[0], np.sort(rng.integers(0, nnz + 1, n_obs - 1)), [nnz]]).astype(np.int64)
    X.create_dataset("indptr", data=indptr)
    X.create_dataset("indices", data=rng.integers(0, n_vars, nnz).astype(np.int32), **x_kw)
    X.create_dataset("data", data=(rng.random(nnz) * 10).astype(np.float32), **x_kw)
    obsm = f.create_group("obsm")
    obsm.attrs["encoding-type"] = "dict"
    obsm.attrs["encoding-version"] = "0.1.0"
    obsm.create_dataset("X_pca", data=rng.random((n_obs, 3)).astype(np.float32))
    uns = f.create_group("uns")
    uns.attrs["encoding-type"] = "dict"
    uns.attrs["encoding-version"] = "0.1.0"
    title = uns.create_dataset("title", data="A dataset \u00e9", dtype=S)
    title.attrs["encoding-type"] = "string"
    title.attrs["encoding-version"] = "0.2.0"
    alpha = uns.create_dataset("alpha", data=np.float64(0.25))
    alpha.attrs["encoding-type"] = "numeric-scalar"
    alpha.attrs["encoding-version"] = "0.2.0"
    params = uns.create_group("params")
    params.attrs["encoding-type"] = "dict"
    params.attrs["encoding-version"] = "0.1.0"
    params.create_dataset("n_comps", data=np.int64(3))
    params.create_dataset("flavor", data="seurat_v3", dtype=S)
    deeper = params.create_group("deeper")
    deeper.create_dataset("variance", data=rng.random((4, 3)))
    deeper.create_dataset("names", data=strs(["x", "y"]))
    f.create_group("layers")

def attributes(obj, which):
    rng = np.random.default_rng(5)
    a = obj.attrs
    if "str" in which:
        a["s_utf8"] = "h\u00e9llo"
        a.create("s_ascii", "plain", dtype=A)
        a["s_arr"] = strs(["a", "bb", "", "\u00e9\u00e9\u00e9"])
        a.create("s_arr_ascii", strs(["x", "yz"], A), dtype=A)
        a["s_empty"] = ""
    if "bytes" in which:
        a["b_scalar"] = np.bytes_("hello")
        a["b_arr"] = np.array([b"ab", b"cde", b""], dtype="S5")
        a["b_full"] = np.array([b"12345"], dtype="S5")
    if "int" in which:
        for t in ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"]:
            info = np.iinfo(t)
            a[t] = np.array([info.min, 0, 1, info.max], dtype=t)
            a[t + "_scalar"] = np.array(info.max if t.startswith("u") else info.min, dtype=t)[()]
    if "float" in which:
        a["float32"] = np.array([1.5, -0.0, np.inf, 3.4e38], dtype=np.float32)
        a["float64"] = np.array([np.pi, -1e-300, -np.inf, 1e300])
        a["float32_scalar"] = np.float32(0.1)
        a["float64_scalar"] = np.float64(2.5)
        a["f_empty"] = np.zeros(0)
        a["nan"] = np.array([np.nan, 1.0])
    if "bool" in which:
        a["bool_true"] = np.bool_(True)
        a["bool_false"] = np.bool_(False)
        a["bool_arr"] = np.array([True, False, True])
    if "name" in which:
        # a name in UTF-8 (h5py leaves the name's character set ASCII: a v1 message in an old-style header)
        a["\u03b2 name"] = np.int32(7)
        a["shape"] = np.array([3, 4], dtype=np.int64)

ALL = ["str", "bytes", "int", "float", "bool", "name"]

def datasets(f, big=False):
    rng = np.random.default_rng(3)
    g = f.create_group("d")
    for t in ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"]:
        info = np.iinfo(t)
        v = rng.integers(info.min, info.max, 20, dtype=t, endpoint=True)
        v[0], v[1] = info.min, info.max
        g.create_dataset(t, data=v)
    g.create_dataset("float32", data=rng.standard_normal(30).astype(np.float32))
    g.create_dataset("float64", data=np.concatenate([rng.standard_normal(30), [np.inf, -np.inf, -0.0, 5e-324]]))
    g.create_dataset("chunked_f64", data=rng.standard_normal(50), chunks=(7,))
    g.create_dataset("chunked_i32_exact", data=np.arange(40, dtype=np.int32), chunks=(8,))
    g.create_dataset("gzip_i64", data=rng.integers(-(2**62), 2**62, 100), chunks=(16,), compression="gzip")
    g.create_dataset("gzip_u64", data=rng.integers(0, 2**64 - 1, 33, dtype=np.uint64), chunks=(10,),
                     compression="gzip", compression_opts=9)
    g.create_dataset("gzip_f32", data=rng.standard_normal(64).astype(np.float32), chunks=(64,), compression="gzip")
    names = ["s%d_" % i + "x" * (i % 7) + ("\u00e9" if i % 3 == 0 else "") for i in range(45)]
    g.create_dataset("vlen", data=strs(names))
    g.create_dataset("vlen_ascii", data=np.array([b"abc", b"", b"de"], dtype=A), dtype=A)
    g.create_dataset("vlen_gzip", data=strs(names), chunks=(4,), compression="gzip")
    g.create_dataset("vlen_chunked", data=strs(names[:10]), chunks=(3,))
    g.create_dataset("fixed", data=np.array([b"abc", b"", b"defghijk", b"x"], dtype="S8"))
    g.create_dataset("fixed_gzip", data=np.array([b"r%d" % i for i in range(30)], dtype="S4"), chunks=(8,),
                     compression="gzip")
    g.create_dataset("fixed_utf8", data=np.array(["\u00e9t\u00e9".encode(), b"ok"], dtype=h5py.string_dtype("utf-8", 6)))
    g.create_dataset("bool", data=rng.random(23) < 0.5)
    g.create_dataset("bool_gzip", data=rng.random(41) < 0.5, chunks=(6,), compression="gzip")
    g.create_dataset("empty_f64", data=np.zeros(0))
    g.create_dataset("empty_i32", data=np.zeros(0, dtype=np.int32))
    g.create_dataset("empty_str", shape=(0,), dtype=S)
    g.create_dataset("empty_2d", data=np.zeros((0, 4)))
    g.create_dataset("two", data=np.array([1.0, 2.0]))
    g.create_dataset("one", data=np.array([7], dtype=np.int64))
    s = f.create_group("scalars")
    s.create_dataset("str", data="a scalar \u00e9", dtype=S)
    s.create_dataset("str_ascii", data="ascii", dtype=A)
    s.create_dataset("bytes", data=np.bytes_("fixed"))
    s.create_dataset("f64", data=np.float64(-3.5))
    s.create_dataset("f32", data=np.float32(1.25))
    s.create_dataset("i64", data=np.int64(-(2**40)))
    s.create_dataset("u64", data=np.uint64(2**64 - 2))
    s.create_dataset("i32", data=np.int32(-7))
    s.create_dataset("u8", data=np.uint8(200))
    s.create_dataset("bool", data=np.bool_(True))
    m = f.create_group("matrices")
    m.create_dataset("f32", data=rng.standard_normal((9, 4)).astype(np.float32))
    m.create_dataset("i64", data=rng.integers(-100, 100, (5, 6)))
    m.create_dataset("u8", data=rng.integers(0, 255, (3, 7)).astype(np.uint8))
    m.create_dataset("bool", data=rng.random((4, 5)) < 0.5)
    m.create_dataset("one_row", data=rng.standard_normal((1, 8)))
    if big:
        g.create_dataset("big_gzip", data=np.arange(20000, dtype=np.int64) % 977, chunks=(1000,), compression="gzip")

def many_links(g, n, prefix="d"):
    order = np.random.default_rng(1).permutation(n)
    for i in order:
        g.create_dataset("%s%03d" % (prefix, i), data=np.array([i], dtype=np.int32))

def tricky_names(g):
    # inserted out of name order; keys() is in byte order of the names (upper case, then "_", then lower case)
    for name in ["b", "Z", "_index", "a", "B1", "a0", "A"]:
        g.create_dataset(name, data=np.arange(3))

def file(name, **kw):
    return h5py.File(out + "/" + name + ".h5", "w", **kw)

L = {"libver": "latest"}

# ---- taken ----
with file("anndata") as f:
    anndata(f)
with file("anndata-latest", **L) as f:
    anndata(f)
with file("anndata-gzip") as f:
    anndata(f, x_kw=dict(chunks=(64,), compression="gzip"), obs_kw=dict(chunks=(16,), compression="gzip"))
with file("anndata-chunked") as f:
    anndata(f, x_kw=dict(chunks=(37,)), obs_kw=dict(chunks=(9,)))
with file("anndata-userblock", userblock_size=512) as f:
    anndata(f, x_kw=dict(chunks=(64,), compression="gzip"))
with file("anndata-userblock-latest", userblock_size=1024, **L) as f:
    anndata(f)
with file("attrs") as f:
    attributes(f, ALL)
    g = f.create_group("g")
    attributes(g, ALL)
    d = f.create_dataset("d", data=np.arange(5))
    attributes(d, ["str", "bool", "bytes"])
with file("attrs-latest", **L) as f:
    # at most 8 attributes an object: compact storage
    for part in ["str", "bytes", "float", "bool", "name"]:
        g = f.create_group(part)
        attributes(g, [part])
    ints = f.create_group("ints")
    for t in ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"]:
        g = ints.create_group(t)
        info = np.iinfo(t)
        g.attrs[t] = np.array([info.min, 0, info.max], dtype=t)
        g.attrs["scalar"] = np.array(info.max, dtype=t)[()]
    d = f.create_dataset("d", data=np.arange(5.0))
    attributes(d, ["bool"])
with file("datasets") as f:
    datasets(f, big=True)
with file("long-string") as f:
    # a string longer than the default global heap collection gets a collection of its own, here
    # beyond the 16 MiB that other metadata structures may take
    long = "".join(chr(97 + i % 26) for i in range(64)) * ((17 << 20) // 64)
    f.create_dataset("long", data=strs([long, "short"]))
    f.attrs["note"] = "a file with one long string"
    g = f.create_group("after")
    g.attrs["label"] = long[:100]
    g.create_dataset("names", data=strs(["gene_%d" % i for i in range(50)]))
    g.create_dataset("values", data=np.arange(50, dtype=np.float32))
with file("datasets-latest", **L) as f:
    # compact groups: at most 8 links a group
    rng = np.random.default_rng(4)
    f.create_dataset("vlen", data=strs(["p", "q\u00e9", ""]))
    f.create_dataset("fixed", data=np.array([b"ab", b"c"], dtype="S3"))
    f.create_dataset("bool", data=np.array([True, False, False]))
    f.create_dataset("u64", data=np.array([0, 2**64 - 1, 5], dtype=np.uint64))
    f.create_dataset("empty", data=np.zeros(0))
    f.create_dataset("matrix", data=rng.standard_normal((6, 3)))
    s = f.create_group("scalars")
    s.create_dataset("str", data="latest", dtype=S)
    s.create_dataset("f64", data=np.float64(9.5))
    s.create_dataset("i64", data=np.int64(-2))
    s.create_dataset("bool", data=np.bool_(False))
    n = f.create_group("names")
    tricky_names(n)
with file("many-links") as f:
    many_links(f.create_group("many"), 130)
    tricky_names(f.create_group("names"))
    big = f.create_group("groups")
    for i in np.random.default_rng(2).permutation(110):
        big.create_group("g%03d" % i).attrs["i"] = np.int64(i)
# attributes and links added once the headers are written: continuation blocks
with file("continuation") as f:
    anndata(f)
with h5py.File(out + "/continuation.h5", "r+") as f:
    attributes(f, ALL)
    attributes(f["X/data"], ALL)
    attributes(f["obs"], ["int"])
    f["obs"].create_dataset("late_column_with_a_rather_long_name", data=np.arange(60.0))
with file("continuation-latest", **L) as f:
    anndata(f)
with h5py.File(out + "/continuation-latest.h5", "r+") as f:
    attributes(f["X/data"], ["bool", "bytes"])
    f["X"].attrs["a_late_attribute_with_a_long_name"] = strs(["one", "two", "three"])
    f["X"].create_dataset("late_dataset_with_a_rather_long_name", data=np.arange(5))
    f["uns"].create_group("late_group_with_a_rather_long_name").attrs["x"] = np.float32(1)

# ---- fallback ----
with file("dense-links", **L) as f:
    f.create_dataset("x", data=np.arange(3))
    many_links(f.create_group("many"), 40)
with file("dense-attrs", **L) as f:
    d = f.create_dataset("x", data=np.arange(3))
    for i in range(20):
        d.attrs["attr_%02d" % i] = np.int64(i)
with file("ref-dataset") as f:
    a = f.create_dataset("a", data=np.arange(3))
    f.create_dataset("refs", data=np.array([a.ref, a.ref], dtype=h5py.ref_dtype), dtype=h5py.ref_dtype)
with file("ref-attr") as f:
    # anndata 0.7: categories as an object reference in an attribute
    cats = f.create_dataset("__categories/cell_type", data=strs(["a", "b"]))
    codes = f.create_dataset("obs/cell_type", data=np.array([0, 1, 1], dtype=np.int8))
    codes.attrs["categories"] = cats.ref
with file("compound") as f:
    f.create_dataset("c", data=np.array([(1, 2.0), (3, 4.0)], dtype=[("a", "i4"), ("b", "f8")]))
with file("compound-attr") as f:
    f.create_dataset("x", data=np.arange(3)).attrs["c"] = np.array([(1, 2.0)], dtype=[("a", "i4"), ("b", "f8")])
with file("float16") as f:
    f.create_dataset("h", data=np.arange(5, dtype=np.float16))
with file("float16-attr") as f:
    f.attrs["h"] = np.float16(1.5)
with file("shuffle") as f:
    f.create_dataset("x", data=np.arange(100), chunks=(10,), compression="gzip", shuffle=True)
with file("lzf") as f:
    f.create_dataset("x", data=np.arange(100), chunks=(10,), compression="lzf")
with file("chunked-2d") as f:
    f.create_dataset("m", data=np.arange(40.0).reshape(8, 5), chunks=(4, 5))
with file("soft-link") as f:
    f.create_dataset("a", data=np.arange(3))
    f["s"] = h5py.SoftLink("/a")
with file("external-link") as f:
    f.create_dataset("a", data=np.arange(3))
    f["e"] = h5py.ExternalLink("anndata.h5", "/X")
with file("named-type") as f:
    f["t"] = np.dtype("int32")
    f.create_dataset("x", data=np.arange(3, dtype=np.int32), dtype=f["t"])

# ---- either: not in the reader's list; a tree must match h5wasm ----
with file("latest-chunked", **L) as f:
    f.create_dataset("fixed_array", data=np.arange(50), chunks=(7,))
    f.create_dataset("extensible", data=np.arange(50), chunks=(7,), maxshape=(None,))
    f.create_dataset("single_chunk", data=np.arange(7.0), chunks=(7,), compression="gzip")
with file("track-order", track_order=True) as f:
    g = f.create_group("g", track_order=True)
    for name in ["b", "a", "c"]:
        g.create_dataset(name, data=np.arange(3))
    g.attrs["z"] = 1
    g.attrs["a"] = 2
    f.create_dataset("z", data=np.arange(3), track_order=True)
    f["z"].attrs["y"] = 1
    f["z"].attrs["x"] = 2
with file("attr-2d") as f:
    f.attrs["m"] = np.arange(6).reshape(2, 3)
with file("hard-link") as f:
    a = f.create_dataset("a", data=np.arange(4))
    f["g/alias"] = a
with file("fletcher32") as f:
    f.create_dataset("x", data=np.arange(30), chunks=(10,), fletcher32=True)
with file("chunked-partial") as f:
    # chunks beyond what was written: no chunk stored there, read as the fill value
    d = f.create_dataset("x", shape=(30,), dtype=np.int32, chunks=(4,), fillvalue=-1)
    d[4:8] = np.arange(4)
    e = f.create_dataset("y", shape=(10,), dtype=np.float64)
print(json.dumps(h5py.version.hdf5_version))
`;

const FIXTURES: [string, Expect, string][] = [
  ["anndata", "taken", "AnnData-like, superblock 0, contiguous"],
  ["anndata-latest", "taken", "AnnData-like, libver latest (superblock 3, v2 headers, compact groups)"],
  ["anndata-gzip", "taken", "AnnData-like, X and obs columns chunked + gzip"],
  ["anndata-chunked", "taken", "AnnData-like, X and obs columns chunked, no filter"],
  ["anndata-userblock", "taken", "AnnData-like, 512-byte userblock, X chunked + gzip"],
  ["anndata-userblock-latest", "taken", "AnnData-like, 1024-byte userblock, libver latest"],
  ["attrs", "taken", "every attribute type, v1 headers (v1 attribute messages)"],
  [
    "attrs-latest",
    "taken",
    "every attribute type, libver latest (v3 attribute messages), <= 8 attributes and links an object",
  ],
  ["datasets", "taken", "1-D/2-D/scalar/empty datasets of every type, contiguous, chunked, gzip"],
  ["datasets-latest", "taken", "contiguous and scalar datasets, libver latest"],
  ["long-string", "taken", "a 17 MiB variable-length string (a global heap collection of its own)"],
  ["many-links", "taken", "old-style groups of 130 and 110 links (symbol table B-trees of several nodes)"],
  ["continuation", "taken", "attributes and links added after creation, v1 continuation blocks"],
  ["continuation-latest", "taken", "attributes and links added after creation, OCHK blocks"],
  ["dense-links", "fallback", "libver latest, a group of 40 links (dense link storage)"],
  ["dense-attrs", "fallback", "libver latest, 20 attributes on one dataset (dense attribute storage)"],
  ["ref-dataset", "fallback", "a dataset of object references"],
  ["ref-attr", "fallback", "an object reference attribute (anndata 0.7 categories)"],
  ["compound", "fallback", "a compound dataset"],
  ["compound-attr", "fallback", "a compound attribute"],
  ["float16", "fallback", "a float16 dataset"],
  ["float16-attr", "fallback", "a float16 attribute"],
  ["shuffle", "fallback", "shuffle + gzip"],
  ["lzf", "fallback", "lzf compression"],
  ["chunked-2d", "fallback", "a 2-D chunked dataset"],
  ["soft-link", "fallback", "a soft link"],
  ["external-link", "fallback", "an external link"],
  [
    "named-type",
    "fallback",
    "a committed datatype (h5wasm's get gives a Datatype, which the API has no class for)",
  ],
  [
    "latest-chunked",
    "either",
    "libver latest chunked 1-D (fixed array, extensible array, single chunk indexes)",
  ],
  ["track-order", "either", "track_order=True (creation order indexed links and attributes)"],
  ["attr-2d", "either", "a 2-D attribute"],
  ["hard-link", "either", "a second hard link to a dataset"],
  ["fletcher32", "either", "the fletcher32 filter"],
  ["chunked-partial", "either", "chunks never written (fill value), a dataset never written"],
];

/** Writes every fixture into `dir` (one Python run); returns them and the HDF5 version h5py wrote with. */
export function writeTreeFixtures(dir: string): { fixtures: TreeFixture[]; hdf5Version: string } {
  const hdf5Version = runPython(SCRIPT, null, [dir]) as string;
  const fixtures = FIXTURES.map(([name, expect, about]) => ({
    name,
    path: join(dir, `${name}.h5`),
    expect,
    about,
  }));
  return { fixtures, hdf5Version };
}
