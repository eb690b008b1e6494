// Installing the package from outside the repository, as the README says: `npm pack` makes the
// tarball, a new project installs it with npm (offline, from the npm cache that `npm ci` filled,
// through a lockfile made from this repository's, since the cache holds tarballs but not the
// registry's package lists), npm runs the package's install script (which builds the native
// addon from the shipped C sources), and the README's library snippet runs there with plain node
// on the compiled JavaScript. The tarball is packed from dist/ as built (`npm run build` first,
// as the CLI tests need too), with --ignore-scripts so that packing does not rebuild it.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { tempDir } from "../helpers/temp.js";
import { linkFixtures, readmeLibrarySnippets, root, runNode } from "./snippets.js";

interface LockEntry {
  readonly dev?: boolean;
  readonly [field: string]: unknown;
}

function npm(args: readonly string[], cwd: string): string {
  const result = spawnSync("npm", args, { cwd, encoding: "utf8", env: { ...process.env, NODE_OPTIONS: "" } });
  const log = `${result.stdout}${result.stderr}`;
  assert.equal(result.status, 0, `npm ${args.join(" ")} failed in ${cwd}:\n${log}`);
  return result.stdout;
}

/** A user's project depending on the tarball, its lockfile pinning what this repository's pins. */
function userProject(dir: string, tarball: string): void {
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
  const lock = JSON.parse(readFileSync(join(root, "package-lock.json"), "utf8"));
  const spec = `file:${tarball}`;
  const own = lock.packages[""];
  const packages: Record<string, unknown> = {
    "": { name: "user-project", dependencies: { "cellarium-ts": spec } },
    "node_modules/cellarium-ts": {
      version: pkg.version,
      resolved: spec,
      license: own.license,
      hasInstallScript: true,
      dependencies: own.dependencies,
      bin: own.bin,
      engines: own.engines,
    },
  };
  for (const [path, entry] of Object.entries(lock.packages as Record<string, LockEntry>)) {
    if (path !== "" && !entry.dev) packages[path] = entry;
  }
  writeFileSync(
    join(dir, "package.json"),
    JSON.stringify({
      name: "user-project",
      private: true,
      type: "module",
      dependencies: { "cellarium-ts": spec },
      allowScripts: { "cellarium-ts": true },
    }),
  );
  writeFileSync(
    join(dir, "package-lock.json"),
    JSON.stringify({ name: "user-project", lockfileVersion: 3, requires: true, packages }),
  );
}

test("the packed tarball installs into a new project and runs the README's library snippet with node", async () => {
  const dir = tempDir("cellarium-install-");
  const packed = JSON.parse(npm(["pack", "--ignore-scripts", "--json", "--pack-destination", dir], root));
  const tarball = join(dir, packed[0].filename);
  const project = join(dir, "project");
  mkdirSync(project);
  userProject(project, tarball);
  npm(["ci", "--offline", "--no-audit", "--no-fund"], project);

  const installed = join(project, "node_modules/cellarium-ts");
  // where the repository's own build has the addon (OpenBLAS present), the install built it too
  for (const addon of [
    "src/native/build/Release/cellarium_native.node",
    "src/native/mpi/build/Release/cellarium_mpi.node",
  ]) {
    if (existsSync(join(root, addon)))
      assert.ok(existsSync(join(installed, addon)), `the install did not build ${addon}`);
  }

  // npm's link to the bin runs it through its shebang (env -S, which also sets glibc's huge-page
  // tunable): the command answers, as `npx cellarium` would.
  const bin = spawnSync(join(project, "node_modules/.bin/cellarium"), ["--version"], { encoding: "utf8" });
  assert.equal(bin.status, 0, `node_modules/.bin/cellarium --version failed: ${bin.stderr}`);
  const { version } = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string };
  assert.equal(bin.stdout.trim(), version);

  linkFixtures(project);
  const snippet = readmeLibrarySnippets()[0]!;
  const file = join(project, "snippet.mjs");
  writeFileSync(file, `${snippet.code}\n`);
  const { code, output } = await runNode(file, project);
  assert.equal(code, 0, `${snippet.name} failed in the installed project:\n${output}`);
  // it prints the first five genes' means, as a typed array
  assert.match(output, /Float64Array\(5\) \[/, output);
});
