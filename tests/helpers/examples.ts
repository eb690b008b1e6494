// The example configs of examples/cli_workflow/ run from tests: their runs/ paths moved into a
// temporary directory, the demo data addressed from the repository.

import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { modelByCommand } from "../../src/cli/registry.js";
import { runModelCommand } from "../../src/cli/run.js";

const root = new URL("../..", import.meta.url).pathname;

/** Writes example `name` into `dir` (as `as`, default its own name) with `edit` applied; returns its path. */
export async function exampleConfig(
  name: string,
  dir: string,
  edit: (text: string) => string = (t) => t,
  as: string = name,
): Promise<string> {
  const text = (await readFile(join(root, "examples/cli_workflow", name), "utf8"))
    .replaceAll("runs/", `${dir}/`)
    .replaceAll("examples/data/", `${root}examples/data/`);
  const path = join(dir, as);
  await mkdir(dir, { recursive: true });
  await writeFile(path, edit(text));
  return path;
}

/** Runs `cellarium <command> <stage> --config <config>` without a progress bar; returns the lines it logged. */
export async function runCommand(
  command: string,
  stage: "fit" | "predict",
  config: string,
  overrides: [string, unknown][] = [],
): Promise<string[]> {
  const lines: string[] = [];
  await runModelCommand(modelByCommand(command)!, stage, {
    configs: [config],
    overrides: [["trainer.enable_progress_bar", false], ...overrides] as never,
    log: (line) => lines.push(line),
  });
  return lines;
}
