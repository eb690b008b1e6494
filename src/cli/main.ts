import { Command, CommanderError } from "commander";
import { CellariumError } from "../errors.js";
import { inspectFile } from "./inspect.js";
import { parseOverrides } from "./overrides.js";
import { MODELS, type Stage } from "./registry.js";
import { runModelCommand } from "./run.js";

const version = "0.1.0";

const STAGES: Record<Stage, string> = {
  fit: "train the model (resume with --ckpt_path)",
  validate: "compute the validation loss of a trained model",
  predict: "write per-cell predictions of a trained model (--ckpt_path)",
};

function buildProgram(): Command {
  const program = new Command("cellarium")
    .description(
      "Train and apply cellarium-ml's single-cell models on AnnData (.h5ad) files streamed in mini-batches.\n" +
        "Configs use cellarium-ml's LightningCLI YAML layout; any config key can be overridden as --dotted.key value.",
    )
    .version(version)
    .exitOverride()
    .showHelpAfterError();

  for (const entry of MODELS) {
    const command = program.command(entry.command).description(`${entry.className}: ${entry.description}`);
    for (const [stage, description] of Object.entries(STAGES) as [Stage, string][]) {
      if (!entry.stages.includes(stage)) continue;
      command
        .command(stage)
        .description(description)
        .requiredOption("-c, --config <file...>", "YAML config file(s); later files override earlier ones")
        .option("--ckpt_path <path>", "checkpoint to resume from (fit) or to load (validate, predict)")
        .option("--print_config", "print the resolved config and exit")
        .allowUnknownOption()
        .allowExcessArguments()
        .helpOption("-h, --help", "show this help")
        .addHelpText(
          "after",
          "\nOverrides: --trainer.max_epochs 2 --model.model.init_args.algorithm shifted_data ...",
        )
        .action(
          async (options: { config: string[]; ckpt_path?: string; print_config?: boolean }, cmd: Command) => {
            const overrides = parseOverrides(cmd.args);
            if (options.ckpt_path) overrides.push(["ckpt_path", options.ckpt_path]);
            await runModelCommand(entry, stage, {
              configs: options.config,
              overrides,
              printConfig: options.print_config === true,
            });
          },
        );
    }
  }

  program
    .command("inspect")
    .description(
      "summarise an .h5ad file or a checkpoint; --attr evaluates a model attribute of a checkpoint",
    )
    .argument("<file>", ".h5ad or .safetensors checkpoint")
    .option("--attr <name>", "model attribute, as !CheckpointLoader reads it (e.g. model.mean_g)")
    .option("--out <file>", "write the attribute to a .csv or .json file instead of printing it")
    .action(async (file: string, options: { attr?: string; out?: string }) => {
      await inspectFile(file, options);
    });
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
