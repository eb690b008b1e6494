import assert from "node:assert/strict";
import { closeSync, fstatSync, openSync, readFileSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { openHdf5, readSlice } from "../../../src/formats/h5ad/h5wasm.js";
import { findRawStorage } from "../../../src/formats/hdf5/dataset.js";
import { readRawInto } from "../../../src/formats/hdf5/read.js";
import { runPython } from "../../helpers/python.js";
import { tempDir } from "../../helpers/temp.js";
import { writeFixtures } from "./fixtures.js";

// Damaged files: whatever byte of the structures on the way to /X/data is changed, the direct
// reader falls back (h5wasm decides), throws a FileFormatError, or reads what the HDF5 library
// reads from the same bytes — never hangs, never throws anything else.

const dir = tempDir("hdf5-corrupt-");
const { variants, data } = writeFixtures(dir);
const SIGNATURES = ["TREE", "SNOD", "HEAP", "OHDR", "OCHK"];

/** Where the structures of a file start: the superblock, signed structures, and the v1 object headers h5py names. */
function structures(path: string, bytes: Buffer): number[] {
  const starts = new Set<number>([bytes.indexOf("\x89HDF", 0, "latin1")]);
  for (const signature of SIGNATURES) {
    for (let at = bytes.indexOf(signature); at >= 0; at = bytes.indexOf(signature, at + 1)) starts.add(at);
  }
  const headers = runPython(
    `
import json, sys, h5py
with h5py.File(sys.argv[1], "r") as f:
    print(json.dumps([h5py.h5o.get_info(f[k].id).addr for k in ["/", "X", "X/data"]]))
`,
    null,
    [path],
  ) as number[];
  // h5py's addresses are relative to the base address (the userblock's size); these files have none.
  for (const at of headers) starts.add(at);
  return [...starts].sort((a, b) => a - b);
}

type Outcome = "fallback" | "error" | "same" | "as-hdf5" | string;

/** What the direct reader makes of `path`'s /X/data; another string says what is wrong. */
async function outcome(path: string): Promise<Outcome> {
  const fd = openSync(path, "r");
  let values: Float32Array;
  try {
    const storage = findRawStorage(fd, fstatSync(fd).size, "/X/data");
    if (storage === undefined) return "fallback";
    values = new Float32Array(storage.length);
    try {
      readRawInto(path, "/X/data", fd, storage, 0, storage.length, values);
    } catch (error) {
      assert.equal((error as Error).name, "FileFormatError", String(error));
      assert.ok((error as Error).message.includes(path) && (error as Error).message.includes("/X/data"));
      return "error";
    }
  } finally {
    closeSync(fd);
  }
  if (values.length === data.length && values.every((v, i) => Object.is(v, data[i]))) return "same";
  // Values other than those written: only where the HDF5 library reads the same from these bytes
  // (a changed chunk address, say, which no checksum of a v1 B-tree can tell).
  let theirs: unknown;
  try {
    const h5 = await openHdf5(path);
    try {
      theirs = readSlice(path, h5.get("/X/data") as never, []);
    } finally {
      h5.close();
    }
  } catch (error) {
    return `the HDF5 library refuses it (${(error as Error).message.split("\n").at(-1)}) but the direct reader reads other values`;
  }
  assert.deepEqual(values, theirs, `${path}: direct read differs from HDF5's`);
  return "as-hdf5";
}

for (const name of [
  "many-chunks",
  "gzip",
  "latest-contiguous",
  "many-links",
  "continuation",
  "latest-continuation",
]) {
  test(`${name}: every byte of the structures up to /X/data's chunks changed`, {
    timeout: 300_000,
  }, async (t) => {
    const path = variants.find((v) => v.name === name)!.path;
    const original = readFileSync(path);
    const counts: Record<Outcome, number> = { fallback: 0, error: 0, same: 0, "as-hdf5": 0 };
    const wrong: string[] = [];
    const target = join(dir, `${name}-damaged.h5`);
    for (const start of structures(path, original)) {
      for (let at = start; at < Math.min(start + 64, original.length); at++) {
        for (const flip of [0xff, 0x01]) {
          const bytes = Buffer.from(original);
          bytes[at]! ^= flip;
          writeFileSync(target, bytes);
          const found = await outcome(target);
          if (found in counts) counts[found]!++;
          else wrong.push(`byte ${at} ^ ${flip}: ${found}`);
        }
      }
    }
    t.diagnostic(JSON.stringify(counts));
    assert.deepEqual(wrong, []);
    // Some changes must be refused (signatures, versions), most harmless ones read the same.
    assert.ok(counts.fallback > 0 && counts.same > 0, JSON.stringify(counts));
  });
}

test("a chunk B-tree whose node points to itself falls back", () => {
  const path = variants.find((v) => v.name === "many-chunks")!.path;
  const bytes = readFileSync(path);
  // The root of the two-level chunk B-tree: "TREE", type 1, level 1; its first child's address
  // follows the header, the siblings and the first key (4 + 4 + 2 * 8 bytes).
  let root = -1;
  for (let at = bytes.indexOf("TREE"); at >= 0; at = bytes.indexOf("TREE", at + 1)) {
    if (bytes[at + 4] === 1 && bytes[at + 5] === 1) root = at;
  }
  assert.ok(root > 0, "a level-1 chunk B-tree node");
  bytes.writeBigUInt64LE(BigInt(root), root + 8 + 16 + 24);
  const target = join(dir, "self-loop.h5");
  writeFileSync(target, bytes);
  const fd = openSync(target, "r");
  try {
    assert.equal(findRawStorage(fd, fstatSync(fd).size, "/X/data"), undefined);
  } finally {
    closeSync(fd);
  }
});

test("a truncated file falls back; one truncated after it was opened is a FileFormatError", async () => {
  for (const name of ["chunked", "gzip", "contiguous"]) {
    const original = readFileSync(variants.find((v) => v.name === name)!.path);
    const target = join(dir, `${name}-truncated.h5`);
    for (let k = 1; k < 16; k++) {
      writeFileSync(target, original.subarray(0, Math.floor((original.length * k) / 16)));
      assert.ok(["fallback", "error", "same"].includes(await outcome(target)), `${name} cut at ${k}/16`);
    }
    writeFileSync(target, original);
    const fd = openSync(target, "r");
    try {
      const storage = findRawStorage(fd, fstatSync(fd).size, "/X/data")!;
      assert.ok(storage !== undefined);
      const last = storage.chunks.reduce((a, c) => Math.max(a, c.position), 0);
      truncateSync(target, last + 1);
      assert.throws(
        () =>
          readRawInto(target, "/X/data", fd, storage, 0, storage.length, new Float32Array(storage.length)),
        (error: Error) =>
          error.name === "FileFormatError" &&
          error.message.includes(target) &&
          error.message.includes("/X/data"),
      );
    } finally {
      closeSync(fd);
    }
  }
});
