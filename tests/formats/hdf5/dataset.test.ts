import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { findRawStorage, type RawStorage } from "../../../src/formats/hdf5/dataset.js";
import { readRawInto } from "../../../src/formats/hdf5/read.js";
import { tempDir } from "../../helpers/temp.js";
import { withFd, writeFixtures } from "./fixtures.js";

const dir = tempDir("hdf5-direct-");
const { variants, data, indices } = writeFixtures(dir);

/** [start, end) ranges of an n-element dataset: empty, single, whole, across chunks, and seeded random ones. */
function ranges(n: number, chunk: number): [number, number][] {
  const out: [number, number][] = [
    [0, 0],
    [n, n],
    [0, 1],
    [n - 1, n],
    [0, n],
    [chunk - 1, chunk + 1],
    [chunk, 2 * chunk],
    [chunk - 3, 3 * chunk + 2],
  ];
  let state = 12345;
  const next = (m: number) => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state % m;
  };
  for (let i = 0; i < 40; i++) {
    const a = next(n + 1);
    const b = next(n + 1);
    out.push([Math.min(a, b), Math.max(a, b)]);
  }
  return out.filter(([a, b]) => 0 <= a && b <= n && a <= b);
}

function checkRead(fd: number, storage: RawStorage, want: Float32Array | Int32Array, name: string): void {
  for (const [start, end] of ranges(want.length, storage.chunkElements)) {
    const out = storage.type === "float32" ? new Float32Array(end - start) : new Int32Array(end - start);
    readRawInto(name, "/X", fd, storage, start, end, out);
    assert.deepEqual(out, want.subarray(start, end), `${name} [${start}, ${end})`);
  }
}

for (const variant of variants) {
  test(`${variant.name}: direct read ${variant.layout ?? "falls back"} and reads h5py's values`, () => {
    withFd(variant.path, (fd, size) => {
      for (const [key, want, layout] of [
        ["data", data, variant.layout],
        ["indices", indices, variant.indicesLayout === undefined ? variant.layout : variant.indicesLayout],
      ] as const) {
        const storage = findRawStorage(fd, size, `/X/${key}`);
        // Asserted, so that a reader that always fell back would fail here.
        assert.equal(storage?.layout ?? null, layout, `${variant.name} /X/${key}`);
        if (storage === undefined) continue;
        assert.equal(storage.type, key === "data" ? "float32" : "int32");
        assert.equal(storage.length, want.length);
        checkRead(fd, storage, want, `${variant.name} /X/${key}`);
      }
    });
  });
}

test("the latest-continuation fixture has continuation blocks (OCHK)", () => {
  const path = variants.find((v) => v.name === "latest-continuation")!.path;
  assert.ok(readFileSync(path).includes("OCHK"));
});

test("an empty dataset, a group, a missing path and a 64-bit dataset are not read directly, or read as empty", () => {
  const chunked = variants.find((v) => v.name === "chunked")!;
  withFd(chunked.path, (fd, size) => {
    const empty = findRawStorage(fd, size, "/empty");
    assert.equal(empty?.length, 0);
    readRawInto("chunked", "/empty", fd, empty!, 0, 0, new Float32Array(0));
    assert.equal(findRawStorage(fd, size, "/X"), undefined);
    assert.equal(findRawStorage(fd, size, "/X/absent"), undefined);
    assert.equal(findRawStorage(fd, size, "/X/indptr"), undefined);
  });
});

test("a pooled array: the read fills a view of a larger buffer at an offset", () => {
  const chunked = variants.find((v) => v.name === "gzip")!;
  withFd(chunked.path, (fd, size) => {
    const storage = findRawStorage(fd, size, "/X/data")!;
    const buffer = new ArrayBuffer(4096);
    const out = new Float32Array(buffer, 64, 100);
    new Float32Array(buffer).fill(-1);
    readRawInto("gzip", "/X/data", fd, storage, 30, 130, out);
    assert.deepEqual(out, data.subarray(30, 130));
    assert.equal(new Float32Array(buffer)[15], -1);
    assert.equal(new Float32Array(buffer)[16 + 100], -1);
  });
});

test("a range outside the dataset or an array of another length is an ArgumentError", () => {
  const chunked = variants.find((v) => v.name === "chunked")!;
  withFd(chunked.path, (fd, size) => {
    const storage = findRawStorage(fd, size, "/X/data")!;
    assert.throws(
      () => readRawInto("f", "/X/data", fd, storage, 990, 1001, new Float32Array(11)),
      /ArgumentError|outside/,
    );
    assert.throws(
      () => readRawInto("f", "/X/data", fd, storage, 0, 10, new Float32Array(9)),
      /into an array of 36 bytes/,
    );
  });
});
