// `cellarium merge --out merged.safetensors part-*.safetensors`: the partial checkpoints of a run
// split across processes, combined into the whole run's checkpoint (src/train/merge-partials.ts);
// then what fit does at its end (OnePassMeanVarStd writes its CSV) unless --no-write_outputs.

import { saveCheckpoint } from "../train/checkpoint.js";
import { mergePartials, wholeRunContext } from "../train/merge-partials.js";
import { loadAllModels, modelFactory } from "./registry.js";

export interface MergeOptions {
  readonly out: string;
  /** Run the model's end-of-fit step (its outputs); default true. */
  readonly writeOutputs?: boolean;
  readonly log?: (line: string) => void;
}

export async function mergeCommand(parts: readonly string[], options: MergeOptions): Promise<void> {
  const log = options.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  // The parts' model class is read with them: every model's module is loaded first.
  await loadAllModels();
  const { checkpoint, model } = await mergePartials(parts, modelFactory);
  await saveCheckpoint(options.out, checkpoint, { key: "--out" });
  log(`merge: ${parts.length} parts of ${model.className} -> ${options.out}`);
  if (model.fitComplete?.() === false) {
    // HVGSeuratV3 after a first pass that cannot give the second pass's sums: no outputs yet.
    log(`merge: ${model.className} needs another epoch: run the parts again with --ckpt_path ${options.out}`);
    return;
  }
  if (options.writeOutputs ?? true) {
    await model.onTrainEnd?.(wholeRunContext(checkpoint.position));
    const output = (model as { output_path?: string | null }).output_path;
    if (typeof output === "string") log(`output: ${output}`);
  }
}
