// The replica factory of `trainer.devices: N` (src/train/fit-replicas.ts): each worker thread
// reads the same config files and overrides and builds the run for its own part of the cells.

import type { JsonValue } from "../data/batch.js";
import type { ReplicaFactory } from "../train/fit-replicas.js";
import { modelByCommand, modelFactory } from "./registry.js";
import { prepareRun, readConfig } from "./run.js";
import type { ConfigValue } from "./yaml.js";

export interface CliReplicaArgs {
  readonly command: string;
  readonly configs: string[];
  readonly overrides: [string, ConfigValue][];
}

export const createReplica: ReplicaFactory = async (args: JsonValue, replica) => {
  const { command, configs, overrides } = args as unknown as CliReplicaArgs;
  const config = await readConfig(configs, overrides);
  const prepared = await prepareRun(
    modelByCommand(command)!,
    config,
    { numReplicas: replica.numReplicas, replicaRank: replica.rank },
    () => {},
  );
  return {
    module: prepared.module,
    data: prepared.loader(prepared.train),
    trainerOptions: prepared.options,
    ...(prepared.ckptPath !== undefined && { ckptPath: prepared.ckptPath }),
    createModel: modelFactory,
    close: () => prepared.close(),
  };
};
