// The code a user reads: the @example blocks of the public API's TSDoc and the ```ts blocks of the
// README's library section, extracted as text and run as a user would run them, in a directory of
// their own that imports "cellarium-ts" by name.

import { spawn } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { compiledIsCurrent } from "../helpers/cli-command.js";

export const root = new URL("../..", import.meta.url).pathname;

export interface Snippet {
  /** Where it was found, e.g. `src/models/tdigest.ts:40` or `README.md:398`. */
  readonly name: string;
  readonly code: string;
}

function* walk(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(path);
    else if (entry.name.endsWith(".ts")) yield path;
  }
}

const lineOf = (text: string, index: number): number => text.slice(0, index).split("\n").length;

/**
 * Every ```ts block that follows an `@example` tag in a doc comment under src/, with the comment's
 * leading ` * ` removed. An `@example` without a ```ts block is an error: nothing would run it.
 */
export function docExamples(): Snippet[] {
  const found: Snippet[] = [];
  for (const path of [...walk(join(root, "src"))].sort()) {
    const text = readFileSync(path, "utf8");
    for (const comment of text.matchAll(/\/\*\*[\s\S]*?\*\//g)) {
      const lines = comment[0].split("\n").map((line) => line.replace(/^\s*\*( |$)/, ""));
      const body = lines.join("\n");
      for (const tag of body.matchAll(/@example\b/g)) {
        const where = `${relative(root, path)}:${lineOf(text, comment.index + lineOf(body, tag.index) - 1)}`;
        const block = /^[^\n]*\n(?:[^\n@`]*\n)*?```ts\n([\s\S]*?)\n```/.exec(body.slice(tag.index));
        if (!block) throw new Error(`${where}: @example without a \`\`\`ts block`);
        found.push({ name: where, code: block[1]! });
      }
    }
  }
  return found;
}

/** The ```ts blocks of README.md's "## The library" section (up to the next "## " heading). */
export function readmeLibrarySnippets(): Snippet[] {
  const text = readFileSync(join(root, "README.md"), "utf8");
  const start = text.indexOf("\n## The library\n");
  if (start < 0) throw new Error("README.md has no '## The library' section");
  const end = text.indexOf("\n## ", start + 1);
  const section = text.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/\n```ts\n([\s\S]*?)\n```/g)].map((match) => ({
    name: `README.md:${lineOf(text, start + match.index + 1)}`,
    code: match[1]!,
  }));
}

/**
 * Makes `dir` a user's project that resolves "cellarium-ts" to this repository (a package in
 * node_modules linking to the compiled dist/ when it is current, else to src/, which tsx compiles
 * in every process: ~5 s each), with the demo data and the tiny pretrained Geneformer fixture where
 * the README's snippets look for them.
 */
export function userProject(dir: string): void {
  const [code, ext] = compiledIsCurrent() ? ["dist", ".js"] : ["src", ".ts"];
  writeFileSync(
    join(dir, "package.json"),
    JSON.stringify({ name: "user-project", type: "module", private: true }),
  );
  const pkg = join(dir, "node_modules", "cellarium-ts");
  mkdirSync(pkg, { recursive: true });
  writeFileSync(
    join(pkg, "package.json"),
    JSON.stringify({
      name: "cellarium-ts",
      type: "module",
      exports: { ".": `./${code}/index${ext}`, "./node": `./${code}/node${ext}` },
    }),
  );
  symlinkSync(join(root, code), join(pkg, code), "dir");
  linkFixtures(dir);
}

/** examples/data (the demo data set) and Geneformer/ (the tiny pretrained model) inside `dir`. */
export function linkFixtures(dir: string): void {
  mkdirSync(join(dir, "examples"));
  symlinkSync(join(root, "examples/data"), join(dir, "examples/data"), "dir");
  symlinkSync(join(root, "tests/fixtures/geneformer-pretrained"), join(dir, "Geneformer"), "dir");
}

export interface RunResult {
  readonly code: number | null;
  readonly output: string;
}

/**
 * Runs `file` with node in `cwd` (with `args` before it, e.g. a loader); resolves with its exit
 * code and output. The snippet's temporary folder (os.tmpdir(), where examples write their files)
 * is `cwd`/tmp, so that what it writes goes when the test's directory does.
 */
export function runNode(file: string, cwd: string, args: readonly string[] = []): Promise<RunResult> {
  const tmp = join(cwd, "tmp");
  mkdirSync(tmp, { recursive: true });
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...args, file], {
      cwd,
      env: { ...process.env, CELLARIUM_REPORT: "0", NODE_OPTIONS: "", TMPDIR: tmp },
    });
    let output = "";
    child.stdout.on("data", (chunk) => {
      output += chunk;
    });
    child.stderr.on("data", (chunk) => {
      output += chunk;
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, output }));
  });
}

/** The tsx loader of this repository, for `--import`, wherever the snippet's directory is. */
export const tsxLoader = import.meta.resolve("tsx");
