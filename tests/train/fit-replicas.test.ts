import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import type { Tensor } from "../../src/tensor/tensor.js";
import { fitReplicas } from "../../src/train/fit-replicas.js";
import { Trainer } from "../../src/train/trainer.js";
import { type TinyArgs, tinySetup } from "../helpers/replica-factory.js";
import { tempDir, writeShards } from "../helpers/shards.js";

const TIMEOUT = { timeout: 120_000 };
const dir = tempDir("replicas-");
const paths = await writeShards(dir, [{ nObs: 12 }, { nObs: 12 }]);
const factoryModule = new URL("../helpers/replica-factory.ts", import.meta.url).href;

function replicated(args: TinyArgs) {
  return fitReplicas({ numReplicas: 2, factoryModule, factoryArgs: args as never });
}

function values(state: Record<string, Tensor>): number[] {
  return [...state.w_g1!.data, ...state.b!.data];
}

// 24 cells, same_order: replica r takes cells r, r + 2, ...; its batch k of 4 cells and the other
// replica's make up cells [8k, 8k + 8), the single run's batch k of 8. Five steps cross an epoch end.
test(
  "devices: 2 steps equal a single replica's steps on the union batches (Adam, float64)",
  TIMEOUT,
  async () => {
    const single = await tinySetup(
      { paths, batchSize: 8, rootDir: join(dir, "single"), maxSteps: 5 },
      { rank: 0, numReplicas: 1 },
    );
    const start = values(single.module.model.stateDict()).slice();
    await new Trainer(single.trainerOptions).fit(single.module, single.data);
    await single.close!();
    const expected = values(single.module.model.stateDict());

    const result = await replicated({
      paths,
      batchSize: 4,
      rootDir: join(dir, "two"),
      maxSteps: 5,
      everyNTrainSteps: 2,
    });
    const actual = values(result.modelState);
    assert.equal(result.position.globalStep, 5);
    assert.equal(result.cells, 5 * 8);
    assert.ok(
      expected.some((v, i) => Math.abs(v - start[i]!) > 1e-3),
      "training moved the parameters",
    );
    for (const [i, v] of actual.entries()) {
      assert.ok(
        Math.abs(v - expected[i]!) <= 1e-12 * Math.max(1, Math.abs(v)),
        `parameter ${i}: ${v} vs ${expected[i]}`,
      );
    }

    // Resumed from the step-2 checkpoint rank 0 wrote, the replicas end where the uninterrupted run did.
    const checkpoint = join(result.runDir, "checkpoints", "epoch=0-step=2.safetensors");
    const resumed = await replicated({
      paths,
      batchSize: 4,
      rootDir: join(dir, "resumed"),
      maxSteps: 5,
      ckptPath: checkpoint,
    });
    assert.deepEqual(values(resumed.modelState), actual);

    // The same checkpoint cannot resume a single replica: positions count each replica's batches.
    const wrong = await tinySetup(
      { paths, batchSize: 8, rootDir: join(dir, "wrong"), maxSteps: 5 },
      { rank: 0, numReplicas: 1 },
    );
    await assert.rejects(
      new Trainer(wrong.trainerOptions).fit(wrong.module, wrong.data, { ckptPath: checkpoint }),
      /written by a run of 2 replicas, cannot resume a run of 1 replica/,
    );
    await wrong.close!();
  },
);

test("a replica that throws fails the run with its rank, without hanging the others", TIMEOUT, async () => {
  await assert.rejects(
    replicated({ paths, batchSize: 4, rootDir: join(dir, "fail"), maxSteps: 5, fail: { rank: 1, after: 2 } }),
    (error: Error) => /^replica 1 of 2: TinyRegression: injected failure$/.test(error.message),
  );
});
