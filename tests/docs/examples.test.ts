// Every @example of the public API's doc comments and every TypeScript snippet of the README's
// library section runs, as a user's file importing "cellarium-ts", and finishes without an error
// (the examples state their results with node:assert, so a wrong result fails too).

import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import ts from "typescript";
import { compiledIsCurrent } from "../helpers/cli-command.js";
import { tempDir } from "../helpers/temp.js";
import {
  docExamples,
  readmeLibrarySnippets,
  runNode,
  type Snippet,
  tsxLoader,
  userProject,
} from "./snippets.js";

const project = tempDir("cellarium-examples-");
userProject(project);

// With dist/ current the project imports the compiled package, and each snippet is compiled to
// JavaScript here (TypeScript's transpileModule, types stripped) and run by plain node: tsx's loader
// would run every module of cellarium-ts/node through its transform too (~4 s a process).
const compiled = compiledIsCurrent();

async function check(snippet: Snippet, index: number): Promise<void> {
  const file = join(project, `snippet-${index}.${compiled ? "mjs" : "ts"}`);
  const source = compiled
    ? ts.transpileModule(snippet.code, {
        compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
      }).outputText
    : snippet.code;
  writeFileSync(file, `${source}\n`);
  const { code, output } = await runNode(file, project, compiled ? [] : ["--import", tsxLoader]);
  assert.equal(code, 0, `${snippet.name} exited with ${code}:\n${snippet.code}\n---\n${output}`);
}

const examples = docExamples();
const readme = readmeLibrarySnippets();

test("the public API's doc comments carry examples, and the README its library snippets", () => {
  assert.ok(examples.length >= 20, `only ${examples.length} @example blocks found`);
  assert.ok(readme.length >= 2, `only ${readme.length} README snippets found`);
  for (const snippet of [...examples, ...readme])
    assert.match(
      snippet.code,
      /from "cellarium-ts(\/node)?"/,
      `${snippet.name} does not import cellarium-ts`,
    );
});

examples.forEach((snippet, i) => {
  test(`@example ${snippet.name} runs`, () => check(snippet, i));
});
readme.forEach((snippet, i) => {
  test(`README snippet ${snippet.name} runs`, () => check(snippet, examples.length + i));
});
