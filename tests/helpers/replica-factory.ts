// A replica factory (src/train/fit-replicas.ts) for the tests: a tiny gradient model (least squares
// of x_ng @ w_g1 + b against the cell's id scaled, float64 so replicated and single runs agree to
// rounding) on shard files, each replica reading its part of the cells in same_order, so that the
// union of the replicas' batches of one step is the single run's batch of twice the size.

import type { Batch } from "../../src/data/batch.js";
import { DistributedAnnDataCollection } from "../../src/data/collection.js";
import { DataLoader } from "../../src/data/loader.js";
import { densify } from "../../src/data/matrix.js";
import type { JsonValue } from "../../src/json.js";
import type { CellariumModel, ModelOutput } from "../../src/models/model.js";
import { add, square, sub } from "../../src/tensor/ops/elementwise.js";
import { matmul } from "../../src/tensor/ops/matmul.js";
import { mean } from "../../src/tensor/ops/reduce.js";
import { Tensor } from "../../src/tensor/tensor.js";
import { CellariumModule } from "../../src/train/cellarium-module.js";
import type { ReplicaFactory, ReplicaSetup } from "../../src/train/fit-replicas.js";
import type { TrainerOptions } from "../../src/train/trainer.js";

export class TinyRegression implements CellariumModel {
  readonly className = "TinyRegression";
  readonly w_g1: Tensor;
  readonly b: Tensor;
  /** Throws in forward after this many calls (a failing replica); -1 never. */
  private callsLeft: number;

  constructor(
    readonly var_names_g: readonly string[],
    failAfter = -1,
  ) {
    const g = var_names_g.length;
    // A fixed, non-trivial start, the same in every replica.
    this.w_g1 = new Tensor(
      Float64Array.from({ length: g }, (_, j) => 0.01 * (j - g / 2)),
      [g, 1],
    ).requireGrad();
    this.b = new Tensor(Float64Array.of(0.5), [1]).requireGrad();
    this.callsLeft = failAfter;
  }

  initArgs(): Record<string, JsonValue> {
    return { var_names_g: [...this.var_names_g] };
  }

  resetParameters(): void {}

  forward(batch: Batch): ModelOutput {
    if (this.callsLeft-- === 0) throw new Error("TinyRegression: injected failure");
    const x = densify(batch.x_ng);
    const x_ng = new Tensor(Float64Array.from(x.data), [x.nRows, x.nCols]);
    const y_n1 = new Tensor(
      Float64Array.from(batch.cell_id_n as Float32Array, (id) => id / 10),
      [x.nRows, 1],
    );
    return { loss: mean(square(sub(add(matmul(x_ng, this.w_g1), this.b), y_n1))) };
  }

  parameters(): Tensor[] {
    return [this.w_g1, this.b];
  }

  stateDict(): Record<string, Tensor> {
    return { w_g1: this.w_g1, b: this.b };
  }

  loadStateDict(state: Record<string, Tensor>): void {
    this.w_g1.data.set(state.w_g1!.data);
    this.b.data.set(state.b!.data);
  }

  train(): void {}
}

export interface TinyArgs {
  readonly paths: string[];
  readonly batchSize: number;
  readonly rootDir: string;
  readonly maxSteps: number;
  readonly everyNTrainSteps?: number;
  readonly ckptPath?: string;
  /** The rank whose model throws, and after how many batches. */
  readonly fail?: { rank: number; after: number };
}

export async function tinySetup(
  args: TinyArgs,
  replica: { rank: number; numReplicas: number },
): Promise<ReplicaSetup & { trainerOptions: TrainerOptions }> {
  const collection = await DistributedAnnDataCollection.open({ filenames: args.paths, maxCacheSize: 2 });
  const model = new TinyRegression(
    collection.schema.varNames,
    args.fail?.rank === replica.rank ? args.fail.after : -1,
  );
  const module = new CellariumModule({
    model,
    optimizer: { name: "torch.optim.Adam", kwargs: { lr: 0.05 } },
  });
  const data = new DataLoader(collection, {
    batchKeys: {
      x_ng: { attr: "X" },
      var_names_g: { attr: "var_names" },
      cell_id_n: { attr: "obs", key: "cell_id" },
    },
    batchSize: args.batchSize,
    iterationStrategy: "same_order",
    numReplicas: replica.numReplicas,
    replicaRank: replica.rank,
  });
  return {
    module,
    data,
    trainerOptions: {
      maxSteps: args.maxSteps,
      defaultRootDir: args.rootDir,
      enableProgressBar: false,
      checkpointing: args.everyNTrainSteps
        ? { everyNTrainSteps: args.everyNTrainSteps, saveTopK: -1 }
        : false,
    },
    ...(args.ckptPath !== undefined && { ckptPath: args.ckptPath }),
    createModel: (_className, initArgs) => new TinyRegression(initArgs.var_names_g as string[]),
    close: () => collection.close(),
  };
}

export const createReplica: ReplicaFactory = (args, replica) =>
  tinySetup(args as unknown as TinyArgs, replica);
