import { Command, CommanderError } from "commander";
import { CellariumError } from "../errors.js";

const version = "0.1.0";

function buildProgram(): Command {
  const program = new Command("cellarium")
    .description(
      "Train and apply cellarium-ml's single-cell models on AnnData (.h5ad) files streamed in mini-batches.",
    )
    .version(version)
    .exitOverride()
    .configureOutput({ writeErr: (text) => process.stderr.write(text) });
  return program;
}

/** Runs the command line and returns the process exit code. Errors of the library print as one line. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: "user" });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode;
    if (error instanceof CellariumError) {
      process.stderr.write(`cellarium: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
}
