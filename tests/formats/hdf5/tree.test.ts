import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { inspect, isDeepStrictEqual } from "node:util";
import { h5wasmLibrary, initH5wasm } from "../../../src/formats/h5ad/h5wasm.js";
import { type DirectDataset, type DirectGroup, openTree } from "../../../src/formats/hdf5/tree.js";
import { tempDir } from "../../helpers/temp.js";
import { withFd } from "./fixtures.js";
import { type TreeFixture, writeTreeFixtures } from "./tree-fixtures.js";

// The direct tree reader (src/formats/hdf5/tree.ts) against h5wasm on the same files written by h5py:
// every group's keys in order, every attribute's value, every dataset's metadata, value and slices
// must be h5wasm's; the layouts it does not read give undefined; damaged files never make it throw
// (openTree) nor read anything but h5wasm's values or an Error.

const dir = tempDir("hdf5-tree-");
const { fixtures } = writeTreeFixtures(dir);
await initH5wasm();
const h5 = h5wasmLibrary();

const fixture = (name: string): TreeFixture => fixtures.find((f) => f.name === name)!;

/** h5wasm's File for `path`, closed after `f`. */
function withH5wasm<T>(path: string, f: (file: InstanceType<typeof h5.File>) => T): T {
  const file = new h5.File(path, "r");
  try {
    return f(file);
  } finally {
    file.close();
  }
}

// ---- One walk for both readers: the API mirrors h5wasm's, so the same code reads either tree ----

interface AnyGroup {
  readonly path: string;
  readonly attrs: Record<string, { value: unknown }>;
  keys(): string[];
  get(path: string): unknown;
}

interface AnyDataset {
  readonly path: string;
  readonly attrs: Record<string, { value: unknown }>;
  readonly metadata: Record<string, unknown>;
  readonly shape: number[] | null;
  readonly value: unknown;
  slice(ranges: ([number, number] | [])[]): unknown;
}

function kindOf(node: unknown): string {
  if (node === null || node === undefined) return String(node);
  if (typeof (node as AnyGroup).keys === "function") return "group";
  if (typeof (node as AnyDataset).slice === "function" && "metadata" in (node as object)) return "dataset";
  return `other (${(node as object).constructor?.name})`;
}

/** The metadata fields the direct reader must give as h5wasm does. */
function pickMetadata(m: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {
    type: m.type,
    size: m.size,
    signed: m.signed,
    littleEndian: m.littleEndian,
    vlen: m.vlen,
    shape: m.shape,
    chunks: m.chunks,
  };
  if (m.type === 3) out.cset = m.cset;
  const e = m.enum_type as { type: number; members: Record<string, number> } | undefined;
  // h5wasm's enum_type is { type, nmembers, members } (no size nor signed): type and members compared.
  if (e !== undefined) out.enum_type = { type: e.type, members: { ...e.members } };
  return out;
}

/** A seeded generator of integers in [0, m). */
function generator(seed: number): (m: number) => number {
  let state = seed;
  return (m) => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state % m;
  };
}

/** The slices read from a dataset of `shape`, stored in chunks of `chunks`. */
function sliceRanges(shape: number[], chunks: number[] | null): ([number, number] | [])[][] {
  const out: ([number, number] | [])[][] = [];
  if (shape.length === 1) {
    const n = shape[0]!;
    out.push([[0, 0]], [[]]);
    if (n >= 3) {
      const c = chunks?.[0] ?? Math.ceil(n / 3);
      const next = generator(n * 7919 + c);
      // first (the one slice read from damaged files): across the first chunk boundary, else nearly all
      const pairs: [number, number][] = [
        [c - 1, c + 1],
        [1, n - 1],
        [n, n],
        [0, n],
        [0, 1],
        [n - 1, n],
        [c, 2 * c],
        [c - 3, 3 * c + 2],
        [Math.floor(n / 2), Math.floor(n / 2)],
      ];
      for (let i = 0; i < 3; i++) {
        const a = next(n + 1);
        const b = next(n + 1);
        pairs.push([Math.min(a, b), Math.max(a, b)]);
      }
      const seen = new Set<string>();
      for (const [a, b] of pairs) {
        const key = `${a},${b}`;
        if (a < 0 || b > n || a > b || seen.has(key)) continue;
        seen.add(key);
        out.push([[a, b]]);
      }
    }
  } else if (shape.length === 2) {
    const rows = shape[0]!;
    out.push([[0, 0], []]);
    if (rows >= 1) out.push([[0, 1], []], [[0, rows], []], [[rows - 1, rows], []]);
    if (rows >= 3) out.push([[1, rows - 1], []], [[1, 2], []]);
  }
  return out;
}

const ERROR = Symbol("error");

/**
 * Everything read from a tree, by what was read: "/obs keys", "/obs attribute _index", "/X/data value",
 * "/X/data slice [[0,5]]", ... `strict`: any throw propagates; otherwise an Error reads as ERROR (and
 * anything thrown that is not an Error fails). `slices`: how many of each dataset's slices are read.
 */
function snapshot(root: unknown, strict: boolean, slices = Number.POSITIVE_INFINITY): Map<string, unknown> {
  const entries = new Map<string, unknown>();
  const record = (key: string, read: () => unknown): void => {
    if (strict) {
      entries.set(key, read());
      return;
    }
    try {
      entries.set(key, read());
    } catch (error) {
      assert.ok(error instanceof Error, `${key}: threw ${inspect(error)}, not an Error`);
      entries.set(key, ERROR);
    }
  };
  const walk = (node: unknown, at: string): void => {
    const kind = kindOf(node);
    if (kind !== "group" && kind !== "dataset") return;
    const object = node as AnyGroup | AnyDataset;
    record(`${at} path`, () => object.path);
    let names: string[] = [];
    record(`${at} attribute names`, () => {
      names = Object.keys(object.attrs);
      return names;
    });
    for (const name of names) record(`${at} attribute ${name}`, () => object.attrs[name]!.value);
    if (kind === "group") {
      const group = node as AnyGroup;
      let keys: string[] = [];
      record(`${at} keys`, () => {
        keys = group.keys();
        return keys;
      });
      for (const key of keys) {
        const childAt = at === "/" ? `/${key}` : `${at}/${key}`;
        let child: unknown = ERROR;
        record(`${childAt} kind`, () => {
          child = group.get(key);
          return kindOf(child);
        });
        if (child !== ERROR) walk(child, childAt);
      }
      return;
    }
    const dataset = node as AnyDataset;
    let metadata: Record<string, unknown> | undefined;
    record(`${at} metadata`, () => {
      metadata = pickMetadata(dataset.metadata);
      return metadata;
    });
    record(`${at} shape`, () => dataset.shape);
    record(`${at} value`, () => dataset.value);
    if (metadata === undefined || !Array.isArray(metadata.shape)) return;
    const ranges = sliceRanges(metadata.shape as number[], metadata.chunks as number[] | null);
    for (const r of ranges.slice(0, slices)) {
      record(`${at} slice ${JSON.stringify(r)}`, () => dataset.slice(r));
    }
  };
  record("/ kind", () => kindOf(root));
  walk(root, "/");
  return entries;
}

function h5wasmSnapshot(path: string, strict: boolean, slices?: number): Map<string, unknown> {
  if (strict) return withH5wasm(path, (file) => snapshot(file, true, slices));
  let file: InstanceType<typeof h5.File>;
  try {
    file = new h5.File(path, "r");
  } catch {
    return new Map();
  }
  try {
    return snapshot(file, false, slices);
  } finally {
    try {
      file.close();
    } catch {
      // a damaged file: what closing it says does not matter here
    }
  }
}

/** Asserts that two snapshots hold the same entries, in the same order, naming the first that differs. */
function assertSameSnapshot(direct: Map<string, unknown>, theirs: Map<string, unknown>, name: string): void {
  for (const [key, value] of theirs) {
    assert.ok(direct.has(key), `${name}: the direct reader has no ${key}`);
    assert.deepStrictEqual(direct.get(key), value, `${name}: ${key}`);
  }
  assert.deepStrictEqual([...direct.keys()], [...theirs.keys()], `${name}: entries read`);
}

function directTree(path: string): DirectGroup | undefined {
  return withFd(path, (fd, size) => openTree(path, fd, size));
}

/** Opens `path` with the direct reader and reads everything from it while the file is open. */
function directSnapshot(path: string, strict: boolean, slices?: number): Map<string, unknown> | undefined {
  return withFd(path, (fd, size) => {
    const tree = openTree(path, fd, size);
    return tree === undefined ? undefined : snapshot(tree, strict, slices);
  });
}

// ---- The layouts the reader takes ----

for (const f of fixtures.filter((f) => f.expect === "taken")) {
  test(`${f.name} (${f.about}): read directly, as h5wasm reads it`, () => {
    const direct = directSnapshot(f.path, true);
    assert.ok(direct !== undefined, `${f.name}: openTree gave undefined`);
    const theirs = h5wasmSnapshot(f.path, true);
    // the snapshot reads something: not a walk that stopped at the root
    assert.ok(theirs.size > 20, `${f.name}: ${theirs.size} entries`);
    assertSameSnapshot(direct, theirs, f.name);
  });
}

test("the fixtures have the structures they are meant to have", () => {
  const has = (name: string, signature: string) => readFileSync(fixture(name).path).includes(signature);
  // continuation blocks of v2 object headers
  assert.ok(has("continuation-latest", "OCHK"));
  assert.ok(has("anndata-latest", "OHDR") && !has("anndata-latest", "TREE"));
  // no fractal heap (dense storage) where the reader is meant to read
  for (const f of fixtures.filter((f) => f.expect === "taken")) assert.ok(!has(f.name, "FRHP"), f.name);
  assert.ok(has("dense-links", "FRHP") && has("dense-attrs", "FRHP"));
  // a userblock: the superblock is not at 0
  assert.equal(readFileSync(fixture("anndata-userblock").path).indexOf("\x89HDF", 0, "latin1"), 512);
});

test("get: relative and absolute paths of several segments, from the root and from a group; null when absent", () => {
  for (const name of ["anndata", "anndata-latest", "anndata-userblock", "continuation"]) {
    const { path } = fixture(name);
    withFd(path, (fd, size) => {
      const root = openTree(path, fd, size);
      assert.ok(root !== undefined, name);
      assert.equal(root.path, "/");
      withH5wasm(path, (file) => {
        const same = (node: DirectGroup | DirectDataset | null, at: string) => {
          assert.ok(node !== null, `${name}: ${at} not found`);
          const theirs = file.get(at) as unknown as AnyGroup | AnyDataset;
          assert.equal(node.path, theirs.path, `${name}: ${at}`);
          assert.equal(kindOf(node), kindOf(theirs), `${name}: ${at}`);
          if (kindOf(node) === "dataset") {
            assert.deepStrictEqual(
              (node as DirectDataset).value,
              (theirs as AnyDataset).value,
              `${name}: ${at}`,
            );
          } else {
            assert.deepStrictEqual(
              (node as DirectGroup).keys(),
              (theirs as AnyGroup).keys(),
              `${name}: ${at}`,
            );
          }
        };
        same(root.get("obs/cell_type/codes"), "/obs/cell_type/codes");
        same(root.get("/obs/cell_type/codes"), "/obs/cell_type/codes");
        same(root.get("X/data"), "/X/data");
        same(root.get("/uns/params/deeper"), "/uns/params/deeper");
        same(root.get("obs"), "/obs");
        const obs = root.get("obs") as DirectGroup;
        assert.equal(obs.path, "/obs");
        same(obs.get("cell_type/categories"), "/obs/cell_type/categories");
        same(obs.get("_index"), "/obs/_index");
        // an absolute path from a group other than the root
        same(obs.get("/uns/params/deeper/variance"), "/uns/params/deeper/variance");
        same(obs.get("/X"), "/X");
        const uns = root.get("uns") as DirectGroup;
        same(uns.get("params/deeper/names"), "/uns/params/deeper/names");
        const deeper = uns.get("params/deeper") as DirectGroup;
        assert.equal(deeper.path, "/uns/params/deeper");
        same(deeper.get("variance"), "/uns/params/deeper/variance");
        for (const [from, missing] of [
          [root, "missing"],
          [root, "/missing"],
          [root, "obs/missing"],
          [root, "/obs/missing/deeper"],
          [root, "missing/deeper"],
          [obs, "missing"],
          [obs, "cell_type/missing"],
          [obs, "/uns/missing"],
        ] as const) {
          assert.equal(from.get(missing), null, `${name}: ${from.path} get(${missing})`);
        }
      });
    });
  }
});

test("get: every link of old-style groups of more than 100 links, by absolute path", () => {
  const { path } = fixture("many-links");
  withFd(path, (fd, size) => {
    const root = openTree(path, fd, size);
    assert.ok(root !== undefined);
    withH5wasm(path, (file) => {
      for (const group of ["many", "groups"]) {
        const keys = (file.get(group) as unknown as AnyGroup).keys();
        assert.ok(keys.length > 100);
        assert.deepStrictEqual((root.get(group) as DirectGroup).keys(), keys);
        for (const key of keys) {
          const node = root.get(`/${group}/${key}`);
          assert.ok(node !== null, `/${group}/${key}`);
          assert.equal(node.path, `/${group}/${key}`);
          const theirs = file.get(`/${group}/${key}`) as unknown as AnyDataset;
          if (group === "many") assert.deepStrictEqual((node as DirectDataset).value, theirs.value);
          else assert.deepStrictEqual(node.attrs["i"]!.value, theirs.attrs["i"]!.value);
        }
        assert.equal(root.get(`/${group}/zzz`), null);
        assert.equal(root.get(`${group}/d000x`), null);
      }
    });
  });
});

// ---- The layouts h5wasm must read: the whole file falls back ----

for (const f of fixtures.filter((f) => f.expect === "fallback")) {
  test(`${f.name} (${f.about}): openTree gives undefined`, () => {
    assert.equal(directTree(f.path), undefined);
    // h5wasm reads these files (so that falling back is worth it)
    withH5wasm(f.path, (file) => assert.ok(file.keys().length > 0 || Object.keys(file.attrs).length > 0));
  });
}

// ---- Layouts outside the reader's list: undefined, or a tree that reads as h5wasm ----

for (const f of fixtures.filter((f) => f.expect === "either")) {
  test(`${f.name} (${f.about}): undefined, or read as h5wasm reads it`, () => {
    const direct = directSnapshot(f.path, true);
    if (direct === undefined) return;
    assertSameSnapshot(direct, h5wasmSnapshot(f.path, true), f.name);
  });
}

// ---- Damaged files ----

/** The slices read from each dataset of a damaged file (empty, whole, one range): fewer reads, a shorter test. */
const DAMAGED_SLICES = 3;

const SIGNATURES = ["\x89HDF", "TREE", "SNOD", "HEAP", "OHDR", "OCHK", "GCOL"];

/** Damaged copies of `bytes`: truncations, and bytes overwritten at and around its structures. */
function damaged(bytes: Buffer): { what: string; bytes: Buffer }[] {
  const out: { what: string; bytes: Buffer }[] = [];
  const size = bytes.length;
  const cuts = [0, 8, 47, 300, 2000, size >> 2, size >> 1, size - 4096, size - 1];
  for (const cut of [...new Set(cuts)].filter((c) => c >= 0 && c < size)) {
    out.push({ what: `truncated to ${cut} bytes`, bytes: bytes.subarray(0, cut) });
  }
  const starts: number[] = [];
  for (const signature of SIGNATURES) {
    for (
      let at = bytes.indexOf(signature, 0, "latin1");
      at >= 0;
      at = bytes.indexOf(signature, at + 1, "latin1")
    ) {
      starts.push(at);
    }
  }
  starts.sort((a, b) => a - b);
  // at most 7 structures, spread over the file
  const step = Math.max(1, Math.ceil(starts.length / 7));
  const chosen = starts.filter((_, i) => i % step === 0);
  const patterns: [string, (b: number) => number][] = [
    ["0xff", () => 0xff],
    ["0x00", () => 0x00],
    ["xor 0x5a", (b) => b ^ 0x5a],
  ];
  const next = generator(size);
  let k = 0;
  for (const start of chosen) {
    for (const offset of [0, 6, 12, 20, 40]) {
      const at = start + offset;
      const [name, change] = patterns[k++ % patterns.length]!;
      const copy = Buffer.from(bytes);
      for (let i = at; i < Math.min(size, at + 4); i++) copy[i] = change(copy[i]!);
      out.push({ what: `4 bytes ${name} at ${at} (structure at ${start})`, bytes: copy });
    }
  }
  // anywhere in the first 4 KiB (superblock, root header and heap, in these files)
  for (let i = 0; i < 6; i++) {
    const at = next(Math.min(size, 4096));
    const copy = Buffer.from(bytes);
    copy[at] = copy[at]! ^ (1 + next(255));
    out.push({ what: `byte ${at} changed`, bytes: copy });
  }
  return out;
}

for (const name of ["anndata", "anndata-latest"]) {
  test(`${name}, damaged: openTree never throws; a tree reads h5wasm's values or throws an Error`, {
    timeout: 60_000,
  }, () => {
    const original = fixture(name).path;
    const before = h5wasmSnapshot(original, true, DAMAGED_SLICES);
    const cases = damaged(readFileSync(original));
    let trees = 0;
    for (const [i, c] of cases.entries()) {
      const path = join(dir, `damaged-${name}-${i}.h5`);
      writeFileSync(path, c.bytes);
      let direct: Map<string, unknown> | undefined;
      try {
        direct = directSnapshot(path, false, DAMAGED_SLICES);
      } catch (error) {
        assert.fail(`${name}, ${c.what}: openTree or a read threw ${inspect(error)}`);
      }
      if (direct === undefined) continue;
      trees++;
      const theirs = h5wasmSnapshot(path, false, DAMAGED_SLICES);
      for (const [key, value] of direct) {
        if (value === ERROR) continue;
        const h = theirs.get(key);
        if (theirs.has(key) && h !== ERROR) {
          // h5wasm reads it: the direct reader must read the same
          assert.ok(
            isDeepStrictEqual(value, h),
            `${name}, ${c.what}: ${key} reads ${inspect(value)}, h5wasm ${inspect(h)}`,
          );
        } else {
          // h5wasm refuses it (or the file): only the value written before the damage is accepted
          assert.ok(
            before.has(key) && isDeepStrictEqual(value, before.get(key)),
            `${name}, ${c.what}: ${key} reads ${inspect(value)}, which h5wasm does not read, nor was written`,
          );
        }
      }
    }
    // The damage is not all ignored: some of the cases give undefined or errors.
    assert.ok(trees < cases.length, `${name}: every damaged copy opened`);
  });
}
