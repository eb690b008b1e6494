// `cellarium merge`: combines the partial checkpoints of one run split across processes (SPEC.md
// section 7) into the checkpoint of the whole run, with the models' own merge functions in the
// hierarchical order (hierarchical-merge.ts). Parts must come from one run: the same model class,
// config fingerprint, replica count, var_names_g and position, and each rank exactly once.

import { writeFileAtomic } from "../data/atomic-file.js";
import { ArgumentError, CheckpointError, SchemaMismatchError } from "../errors.js";
import type { JsonValue } from "../json.js";
import type { CellariumModel, TrainerContext } from "../models/model.js";
import { type Checkpoint, loadCheckpoint, type PartialInfo } from "./checkpoint.js";
import { writeGenesH5ad } from "./genes-file.js";
import { mergeHierarchically } from "./hierarchical-merge.js";

/** Builds a model from a checkpoint's class name and init arguments (the command line's registry). */
export type ModelFactory = (
  className: string,
  initArgs: Record<string, JsonValue>,
  where: string,
) => CellariumModel;

export interface MergedPartials {
  /** The checkpoint of the whole run: rank 0's metadata with the merged model state. */
  readonly checkpoint: Checkpoint;
  /** The merged model, ready for its end-of-fit step (onTrainEnd). */
  readonly model: CellariumModel;
}

interface Part {
  readonly path: string;
  readonly checkpoint: Checkpoint;
  readonly partial: PartialInfo;
  readonly model: CellariumModel;
}

function positionText(checkpoint: Checkpoint): string {
  const { epoch, batchesConsumed, globalStep } = checkpoint.position;
  return `epoch ${epoch}, batch ${batchesConsumed}, step ${globalStep}`;
}

function checkSamePart(part: Part, ref: Part): void {
  const at = (p: Part) => p.path;
  if (part.checkpoint.model.className !== ref.checkpoint.model.className) {
    throw new CheckpointError(
      `${at(part)}: a ${part.checkpoint.model.className} part, but ${at(ref)} is a ${ref.checkpoint.model.className} part`,
    );
  }
  if (part.partial.fingerprint !== ref.partial.fingerprint) {
    throw new CheckpointError(
      `${at(part)}: config fingerprint ${part.partial.fingerprint} differs from ${ref.partial.fingerprint} of ${at(ref)} (parts of different runs or configs)`,
    );
  }
  if (part.partial.numReplicas !== ref.partial.numReplicas) {
    throw new CheckpointError(
      `${at(part)}: a part of ${part.partial.numReplicas} replicas, but ${at(ref)} is a part of ${ref.partial.numReplicas}`,
    );
  }
  const genes = part.model.var_names_g;
  const refGenes = ref.model.var_names_g;
  const g = genes.findIndex((name, i) => name !== refGenes[i]);
  if (genes.length !== refGenes.length || g >= 0) {
    throw new SchemaMismatchError(
      genes.length !== refGenes.length
        ? `${at(part)}: var_names_g has ${genes.length} genes, ${at(ref)} has ${refGenes.length}`
        : `${at(part)}: var_names_g differs from ${at(ref)} at gene ${g} ("${genes[g]}" vs "${refGenes[g]}")`,
    );
  }
  if (positionText(part.checkpoint) !== positionText(ref.checkpoint)) {
    throw new CheckpointError(
      `${at(part)}: written at ${positionText(part.checkpoint)}, but ${at(ref)} at ${positionText(ref.checkpoint)} (an unfinished part?)`,
    );
  }
}

/** The hooks' context for a merged model: one process holding the whole run's state. */
export function wholeRunContext(at: { readonly epoch: number; readonly globalStep: number }): TrainerContext {
  return {
    ...at,
    numReplicas: 1,
    replicaRank: 0,
    wholeRun: true,
    writeTextFile: writeFileAtomic,
    writeGenes: writeGenesH5ad,
  };
}

/** Loads, checks and merges the partial checkpoints at `paths` (any order). */
export async function mergePartials(
  paths: readonly string[],
  createModel: ModelFactory,
): Promise<MergedPartials> {
  if (paths.length === 0) throw new ArgumentError("merge: no partial checkpoints given");
  const parts: Part[] = [];
  for (const path of paths) {
    const checkpoint = await loadCheckpoint(path);
    const partial = checkpoint.parallel?.partial;
    if (partial === undefined) {
      throw new CheckpointError(
        `${path}: not a partial checkpoint (write parts with fit --replica_rank R --num_replicas N)`,
      );
    }
    const model = createModel(checkpoint.model.className, checkpoint.model.initArgs, `${path}: model`);
    if (!model.merge) throw new CheckpointError(`${path}: ${model.className} has no merge function`);
    model.loadStateDict(checkpoint.modelState);
    const part: Part = { path, checkpoint, partial, model };
    if (parts.length > 0) checkSamePart(part, parts[0]!);
    const twin = parts.find((p) => p.partial.rank === partial.rank);
    if (twin) throw new CheckpointError(`${path}: rank ${partial.rank} is also the rank of ${twin.path}`);
    parts.push(part);
  }
  const numReplicas = parts[0]!.partial.numReplicas;
  if (parts.length !== numReplicas) {
    const have = new Set(parts.map((p) => p.partial.rank));
    const missing = Array.from({ length: numReplicas }, (_, r) => r).filter((r) => !have.has(r));
    throw new CheckpointError(
      `merge: the parts are of ${numReplicas} replicas, rank(s) ${missing.join(", ")} missing (${parts.length} file(s) given)`,
    );
  }
  parts.sort((a, b) => a.partial.rank - b.partial.rank);
  const model = mergeHierarchically(parts.map((p) => p.model));
  // The parts ended an epoch each on their own cells; what a model does at an epoch's end with
  // the whole run's state (HVGSeuratV3 fits its first pass) happens now, once.
  const { epoch, batchesConsumed, globalStep } = parts[0]!.checkpoint.position;
  if (epoch > 0 && batchesConsumed === 0) {
    model.onTrainEpochEnd?.(wholeRunContext({ epoch: epoch - 1, globalStep }));
  }
  // The whole run's state under the split it was computed with: a resume continues with
  // devices: N, each replica's position counting its own batches.
  const checkpoint = { ...parts[0]!.checkpoint, modelState: model.stateDict(), parallel: { numReplicas } };
  return { checkpoint, model };
}
