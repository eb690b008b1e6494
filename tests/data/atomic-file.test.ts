import assert from "node:assert/strict";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { withAtomicOutput, writeFileAtomic } from "../../src/data/atomic-file.js";
import { tempDir } from "../helpers/temp.js";

test("writeFileAtomic replaces the file and leaves no temporary behind", async () => {
  const dir = tempDir("atomic-");
  const path = join(dir, "out.bin");
  await writeFile(path, "old");
  await writeFileAtomic(path, "new");
  assert.equal(await readFile(path, "utf8"), "new");
  assert.deepEqual(await readdir(dir), ["out.bin"]);
});

test("a failed write keeps the previous file and removes the temporary", async () => {
  const dir = tempDir("atomic-");
  const path = join(dir, "out.bin");
  await writeFile(path, "old");
  await assert.rejects(
    withAtomicOutput(path, async (tmp) => {
      await writeFile(tmp, "half");
      throw new Error("disk full");
    }),
    /disk full/,
  );
  assert.equal(await readFile(path, "utf8"), "old");
  assert.deepEqual(await readdir(dir), ["out.bin"]);
});
