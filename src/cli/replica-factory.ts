// The replica factory of `trainer.devices: N` (src/train/fit-replicas.ts): each worker thread
// reads the same config files and overrides and builds the run for its own part of the cells.

import type { JsonValue } from "../json.js";
import type { ReplicaFactory } from "../train/fit-replicas.js";
import { modelByCommand, modelFactory } from "./registry.js";
import { prepareRun, readConfig } from "./run.js";
import { parseRunSpec } from "./spec/run-spec.js";
import type { ConfigMap, ConfigValue } from "./yaml.js";

export interface CliReplicaArgs {
  readonly command: string;
  readonly configs: string[];
  readonly overrides: [string, ConfigValue][];
  readonly config?: ConfigMap;
}

export const createReplica: ReplicaFactory = async (args: JsonValue, replica) => {
  const { command, configs, overrides, config } = args as unknown as CliReplicaArgs;
  const spec = await parseRunSpec(
    modelByCommand(command)!,
    "fit",
    await readConfig(configs, overrides, config),
  );
  const prepared = await prepareRun(
    spec,
    { numReplicas: replica.numReplicas, replicaRank: replica.rank },
    () => {},
  );
  return {
    module: prepared.module,
    data: prepared.loader(prepared.train),
    // Rank 0 validates the whole validation split; the others wait for it at their next step.
    ...(replica.rank === 0 &&
      prepared.val !== null &&
      prepared.model.validate && { val: prepared.loader(prepared.val, true) }),
    trainerOptions: prepared.options,
    ...(spec.ckptPath !== null && { ckptPath: spec.ckptPath }),
    createModel: modelFactory,
    close: () => prepared.close(),
  };
};
