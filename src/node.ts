/**
 * The Node.js entry, `cellarium-ts/node`: everything of `cellarium-ts` plus what needs the file
 * system or threads: AnnData files, sharded collections, the loader, the trainer, checkpoints, the
 * prediction writer, MPI and the command line.
 *
 * @module cellarium-ts/node
 */

// The Node.js entry (`cellarium-ts/node`): everything of the universal entry plus what needs the
// file system or threads: AnnData files, sharded collections, the loader, the trainer,
// checkpoints, the prediction writer, MPI for trainers across processes and the command line. Pinned by tests/public-api.test.ts.

export { main as cli } from "./cli/main.js";
export { DistributedAnnDataCollection } from "./data/collection.js";
export { DataLoader, type DataLoaderOptions } from "./data/loader.js";
export { AnnDataFile } from "./formats/h5ad/reader.js";
export { H5adWriter, writeH5ad } from "./formats/h5ad/writer.js";
export * from "./index.js";
export { PredictionWriter } from "./io/prediction-writer.js";
export { loadPretrainedGeneformer } from "./io/pretrained-geneformer.js";
export { CellariumModule } from "./train/cellarium-module.js";
export { loadCheckpoint, saveCheckpoint } from "./train/checkpoint.js";
export { MpiWorld, startMpi } from "./train/mpi.js";
export { MpiReplicaGroup } from "./train/mpi-group.js";
export type { ReplicaGroup } from "./train/replica-group.js";
export { Trainer, type TrainerOptions } from "./train/trainer.js";
