// The API reference in docs/api is typedoc's output for the public API (npm run docs:api), not
// written by hand: generated again into a temporary directory, it must come out without a
// warning (typedoc.json treats warnings as errors; `notDocumented` names every class, function,
// interface, type or namespace of the public API without a doc comment, `invalidLink` every
// broken {@link}) and identical to the committed docs/api.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { test } from "node:test";
import { tempDir } from "../helpers/temp.js";
import { root } from "./snippets.js";

function files(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      if (entry.isDirectory()) walk(join(d, entry.name));
      else out.push(relative(dir, join(d, entry.name)));
    }
  };
  walk(dir);
  return out.sort();
}

test("typedoc documents the public API without warnings, as docs/api holds it", () => {
  const out = join(tempDir("cellarium-api-docs-"), "api");
  const typedoc = join(root, "node_modules/typedoc/bin/typedoc");
  const result = spawnSync(process.execPath, [typedoc, "--out", out], { cwd: root, encoding: "utf8" });
  const log = `${result.stdout}${result.stderr}`;
  assert.equal(result.status, 0, `typedoc failed:\n${log}`);
  assert.doesNotMatch(log, /\[(warning|error)\]/, `typedoc warned:\n${log}`);

  const committed = join(root, "docs/api");
  const generated = files(out);
  assert.deepEqual(files(committed), generated, "docs/api is out of date: run `npm run docs:api`");
  for (const file of generated) {
    assert.equal(
      readFileSync(join(committed, file), "utf8"),
      readFileSync(join(out, file), "utf8"),
      `docs/api/${file} is out of date: run \`npm run docs:api\``,
    );
  }
});
