import { createRequire } from "node:module";
import { Command, CommanderError } from "commander";
// The commands' modules (the data layer with its wasm HDF5 library, the trainer) are imported
// when a command runs, so that --help and argument errors answer at once.
import { CellariumError, ConfigError } from "../errors.js";
import { activeMpiWorld } from "../train/mpi.js";
import { parseOverrides } from "./overrides.js";
import { MODELS, NOT_YET_AVAILABLE, type Stage } from "./registry.js";
import { describe } from "./spec/keys.js";
import type { ConfigMap } from "./yaml.js";

// package.json is two folders up from src/cli and from dist/cli alike.
const { version } = createRequire(import.meta.url)("../../package.json") as { version: string };

const STAGES: Record<Stage, string> = {
  fit: "train the model (resume with --ckpt_path)",
  validate: "compute the validation loss of a trained model",
  predict: "write per-cell predictions of a trained model (--ckpt_path)",
};

interface FitFlags {
  config?: string[];
  ckpt_path?: string;
  print_config?: boolean;
  replica_rank?: string;
  num_replicas?: string;
  partial_path?: string;
  no_report?: boolean;
  report_color?: string;
}

function integerFlag(flag: string, text: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value)) {
    throw new ConfigError(`${flag}: expected a non-negative integer, got "${text}"`);
  }
  return value;
}

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
      const sub = command
        .command(stage)
        .description(description)
        .option("-c, --config <file...>", "YAML config file(s); later files override earlier ones")
        .option("--ckpt_path <path>", "checkpoint to resume from (fit) or to load (validate, predict)")
        .option(
          "--print_config",
          "print the resolved config and exit (without --config: a complete default config to start from)",
        );
      if (stage === "fit" || stage === "predict") {
        sub.option(
          "--no_report",
          `write no report.html and plots ${stage === "fit" ? "into the run directory" : "beside an .h5ad/.zarr output"} at the end (also CELLARIUM_REPORT=0)`,
        );
      }
      if (stage === "predict")
        sub.option(
          "--report_color <column>",
          "the obs column colouring the report's embedding scatter (default: the first categorical)",
        );
      if (stage === "fit") {
        sub
          .option(
            "--replica_rank <r>",
            "this process's part of a run split across processes (default: RANK, JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID)",
          )
          .option(
            "--num_replicas <n>",
            "processes the run is split across; writes a partial checkpoint (default: WORLD_SIZE, CELLARIUM_NUM_REPLICAS or SLURM_ARRAY_TASK_COUNT)",
          )
          .option(
            "--partial_path <path>",
            "where a partial run writes its checkpoint; {rank} is replaced (default: <default_root_dir>/part-<rank>-of-<n>.safetensors)",
          );
      }
      sub
        .allowUnknownOption()
        .allowExcessArguments()
        .helpOption("-h, --help", "show this help")
        .addHelpText(
          "after",
          [
            "",
            `${entry.className} init arguments (model.model.init_args; ${entry.derived.join(", ")} filled in from the data):`,
            ...describe(entry.args),
            "",
            `trainer.max_epochs defaults to ${entry.maxEpochs ?? "Lightning's 1,000 (unless max_steps is set)"}.`,
            "Overrides: --trainer.max_epochs 2 --model.model.init_args.<argument> <value> ...",
          ].join("\n"),
        )
        .action(async (options: FitFlags, cmd: Command) => {
          const overrides = parseOverrides(cmd.args);
          if (options.ckpt_path) overrides.push(["ckpt_path", options.ckpt_path]);
          if (options.print_config !== true) {
            // One read-ahead worker (configs mostly ask for 1) starts loading its modules and
            // opening the data now, while this thread loads the command's; run.ts keeps it or stops it once
            // the config says how many the loader wants. (bin/cellarium.js has started it even
            // earlier; this is for main() called from code, and tops up to one.)
            const { prestartReadAheadWorkers } = await import("../data/prestarted-workers.js");
            prestartReadAheadWorkers(1);
          }
          const { runModelCommand } = await import("./run.js");
          await runModelCommand(entry, stage, {
            configs: options.config ?? [],
            overrides,
            printConfig: options.print_config === true,
            replica: {
              ...(options.replica_rank !== undefined && {
                replicaRank: integerFlag("--replica_rank", options.replica_rank),
              }),
              ...(options.num_replicas !== undefined && {
                numReplicas: integerFlag("--num_replicas", options.num_replicas),
              }),
            },
            ...(options.partial_path !== undefined && { partialPath: options.partial_path }),
            ...(options.no_report === true && { report: false }),
            ...(options.report_color !== undefined && { reportColor: options.report_color }),
          });
        });
    }
  }

  for (const [command, className] of Object.entries(NOT_YET_AVAILABLE)) {
    program
      .command(command)
      .description(`${className}: cellarium-ml has it; not available in cellarium-ts yet`)
      .allowUnknownOption()
      .allowExcessArguments()
      .helpOption(false)
      .action(() => {
        throw notYetAvailable(command, className);
      });
  }

  program
    .command("merge")
    .description(
      "combine the partial checkpoints of a run split across processes (fit --num_replicas) into the whole run's checkpoint, then write the model's outputs",
    )
    .argument("<parts...>", "partial checkpoints (.safetensors), one per rank, in any order")
    .requiredOption("--out <file>", "the merged checkpoint")
    .option("--no-write_outputs", "do not write what fit writes at its end (e.g. the OnePassMeanVarStd CSV)")
    .action(async (parts: string[], options: { out: string; write_outputs: boolean }) => {
      const { mergeCommand } = await import("./merge.js");
      await mergeCommand(parts, { out: options.out, writeOutputs: options.write_outputs });
    });

  program
    .command("inspect")
    .description(
      "summarise an .h5ad file or a checkpoint; --attr evaluates a model attribute of a checkpoint",
    )
    .argument("<file>", ".h5ad or .safetensors checkpoint")
    .option("--attr <name>", "model attribute, as !CheckpointLoader reads it (e.g. model.mean_g)")
    .option("--out <file>", "write the attribute to a .csv or .json file instead of printing it")
    .action(async (file: string, options: { attr?: string; out?: string }) => {
      const { inspectFile } = await import("./inspect.js");
      await inspectFile(file, options);
    });

  program
    .command("report")
    .description(
      "plot a run: report.html (self-contained) and one PNG per plot of its metrics.csv (loss, learning rate, cells/s, validation metrics) and of its checkpoint's model (PCA explained variance, HVG mean-variance, t-digest medians, a classifier's validation confusion matrix); or of a predictions .h5ad/.zarr (an embedding scatter, a classifier's confusion matrix)",
    )
    .argument(
      "<run>",
      "run directory (holding metrics.csv or lightning_logs/, and checkpoints/), a checkpoint, or a predictions .h5ad/.zarr",
    )
    .option(
      "--out <dir>",
      "folder for report.html and the PNGs (default: the run directory; for predictions <name>_report beside the file)",
    )
    .option("--no-png", "write report.html only")
    .option(
      "--color <column>",
      "predictions: the obs column colouring the embedding (default: the first categorical)",
    )
    .option("--embedding <key>", "predictions: the obsm embedding to plot (default: the first X_* key)")
    .option(
      "--umap",
      `predictions: plot a UMAP of the embedding (the default unless X_pca or 2 columns; at most 20,000 sampled cells)`,
    )
    .option("--no-umap", "predictions: plot the embedding's first two columns")
    .option("--seed <n>", "predictions: seed of the cell sample and the UMAP", "0")
    .action(
      async (
        run: string,
        options: {
          out?: string;
          png: boolean;
          color?: string;
          embedding?: string;
          umap?: boolean;
          seed: string;
        },
      ) => {
        const { reportCommand } = await import("./report.js");
        await reportCommand(run, {
          ...(options.out !== undefined && { out: options.out }),
          png: options.png,
          ...(options.color !== undefined && { color: options.color }),
          ...(options.embedding !== undefined && { embedding: options.embedding }),
          ...(options.umap !== undefined && { umap: options.umap }),
          seed: integerFlag("--seed", options.seed),
        });
      },
    );
  return program;
}

/**
 * upstream's `main({model_name, subcommand, fit: {...}})`: a config given as data, as cellarium-ml's
 * tests call its CLI. Numbers and booleans may be strings ("10_000", "false"), read as upstream's
 * jsonargparse reads them.
 */
export interface ConfigArgs {
  readonly model_name: string;
  readonly subcommand: Stage;
  readonly [stage: string]: unknown;
}

/** A model upstream has that cellarium-ts does not yet: said as such, not as a typo. */
function notYetAvailable(command: string, className: string): ConfigError {
  return new ConfigError(`${command} (${className}) is not available in cellarium-ts yet`, {
    value: command,
  });
}

async function runConfigArgs(args: ConfigArgs): Promise<void> {
  const { model_name: command, subcommand: stage } = args;
  const entry = MODELS.find((m) => m.command === command);
  if (!entry) {
    const later = NOT_YET_AVAILABLE[command];
    if (later) throw notYetAvailable(command, later);
    throw new ConfigError(
      `model_name: "${command}" is not a model; known: ${MODELS.map((m) => m.command).join(", ")}`,
      { key: "model_name", value: command },
    );
  }
  if (!entry.stages.includes(stage))
    throw new ConfigError(`subcommand: ${command} has no "${stage}"; it has ${entry.stages.join(", ")}`, {
      key: "subcommand",
      value: String(stage),
    });
  const config = args[stage];
  if (typeof config !== "object" || config === null || Array.isArray(config))
    throw new ConfigError(`the config of ${command} ${stage} must be a mapping under the key "${stage}"`, {
      key: stage,
    });
  const { runModelCommand } = await import("./run.js");
  await runModelCommand(entry, stage, { configs: [], overrides: [], config: config as ConfigMap });
}

/**
 * Runs the command line (or, given an object, upstream's main(dict) call: ConfigArgs) and returns
 * the process exit code: 0, 2 for bad input (a CellariumError: one line naming the file, key or
 * value), 1 for a failure of the system (a full disk, a missing permission: one line with the
 * operation and the path) or of the program itself. Under MPI the line names the rank, and an error
 * aborts every rank of the job (MPI_Abort) with that code. `--debug` anywhere, or CELLARIUM_DEBUG=1, adds
 * the stack trace.
 */
export async function main(argv: string[] | ConfigArgs): Promise<number> {
  const debug = (Array.isArray(argv) && argv.includes("--debug")) || process.env.CELLARIUM_DEBUG === "1";
  try {
    if (!Array.isArray(argv)) await runConfigArgs(argv);
    else
      await buildProgram().parseAsync(
        argv.filter((arg) => arg !== "--debug"),
        { from: "user" },
      );
    activeMpiWorld()?.finalize();
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode;
    const { line, code } = describeFailure(error);
    const world = activeMpiWorld();
    const rank = world ? `rank ${world.rank} of ${world.size}: ` : "";
    process.stderr.write(`cellarium: ${rank}${line}\n`);
    if (debug && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
    // The other ranks would wait for this one at their next collective: end the whole job now.
    if (world) world.abort(code);
    return code;
  }
}

/** One line for an error that ended a command, and the exit code it gives. */
function describeFailure(error: unknown): { line: string; code: number } {
  if (error instanceof CellariumError) return { line: oneLine(error.message), code: 2 };
  const system = error as NodeJS.ErrnoException;
  if (typeof system?.code === "string" && typeof system.syscall === "string") {
    // Node's message names the operation and, for most calls, the path.
    const path =
      system.path !== undefined && !system.message.includes(system.path) ? ` (${system.path})` : "";
    return { line: `${oneLine(system.message)}${path}`, code: 1 };
  }
  const name = error instanceof Error ? error.name : typeof error;
  const message = error instanceof Error ? error.message : String(error);
  return {
    line: `internal error (${name}): ${oneLine(message)}; rerun with --debug for the stack trace and report it`,
    code: 1,
  };
}

function oneLine(message: string): string {
  return message.replace(/\s*\n\s*/g, " ").trim();
}
