import assert from "node:assert/strict";
import { test } from "node:test";
import {
  boolean,
  countOrFraction,
  ignored,
  integer,
  key,
  nullable,
  number,
  only,
  parseSection,
  required,
} from "../../../src/cli/spec/keys.js";
import { parseTrainer } from "../../../src/cli/spec/lightning.js";
import { ConfigError } from "../../../src/errors.js";

test("strings read as jsonargparse reads them for typed arguments", () => {
  assert.equal(integer("10_000", "k"), 10_000);
  assert.equal(integer("-3", "k"), -3);
  assert.equal(number("1e-3", "k"), 0.001);
  assert.equal(number(".5", "k"), 0.5);
  assert.equal(number("inf", "k"), Number.POSITIVE_INFINITY);
  assert.equal(boolean("False", "k"), false);
  assert.deepEqual(countOrFraction("2", "k"), { count: 2 });
  assert.deepEqual(countOrFraction("1", "k"), { count: 1 });
  assert.deepEqual(countOrFraction("0.25", "k"), { fraction: 0.25 });
  assert.deepEqual(countOrFraction(1, "k"), { fraction: 1 });
  for (const [read, value, message] of [
    [integer, "1.5", /^a\.b: expected an integer, got "1\.5"$/],
    [integer, 2.5, /^a\.b: expected an integer, got 2\.5$/],
    [number, "ten", /^a\.b: expected a number, got "ten"$/],
    [boolean, "yes please", /^a\.b: expected true or false, got "yes please"$/],
    [countOrFraction, 1.5, /^a\.b: expected a count, or a fraction in \[0, 1\], got 1\.5$/],
  ] as const) {
    assert.throws(
      () => (read as (v: unknown, w: string) => unknown)(value, "a.b"),
      (e: Error) => e instanceof ConfigError && message.test(e.message),
    );
  }
});

test("sections: defaults, required keys, null as a value or as the default, unknown keys", () => {
  const section = {
    n: key(integer, required, "a count"),
    scale: key(number, 1, "a scale"),
    path: nullable((v) => String(v), "a path", "out.csv"),
    bucket: ignored(25, "a DDP setting"),
    precision: only([32, "32-true"], null, "float32 here"),
  };
  assert.deepEqual(parseSection({ n: "3", bucket: 99 }, section, "m"), {
    n: 3,
    scale: 1,
    path: "out.csv",
    bucket: null,
    precision: null,
  });
  // null: the default for a plain key, the value null for a nullable one.
  assert.deepEqual(parseSection({ n: 1, scale: null, path: null, precision: "32" }, section, "m"), {
    n: 1,
    scale: 1,
    path: null,
    bucket: null,
    precision: null,
  });
  assert.throws(() => parseSection({}, section, "m"), /^ConfigError: m\.n is required \(a count\)$/);
  assert.throws(
    () => parseSection({ n: 1, scael: 2 }, section, "m"),
    /unknown config key m\.scael; valid keys of m: n, scale, path, bucket, precision/,
  );
  assert.throws(
    () => parseSection({ n: 1, precision: "16-mixed" }, section, "m"),
    /^ConfigError: m\.precision: "16-mixed" cannot be honoured by cellarium-ts \(float32 here\); accepted: null, 32, "32-true"$/,
  );
});

test("the trainer: upstream's model defaults, Lightning's nulls, refusals by name", () => {
  assert.equal(parseTrainer({}, 1).max_epochs, 1);
  // An explicit null is Lightning's None (1,000 epochs unless max_steps), as upstream passes it on.
  assert.equal(parseTrainer({ max_epochs: null }, 1).max_epochs, null);
  assert.equal(parseTrainer({}, null).max_epochs, null);
  const trainer = parseTrainer(
    { log_every_n_steps: null, enable_checkpointing: null, devices: "auto", gradient_clip_algorithm: null },
    null,
  );
  assert.equal(trainer.log_every_n_steps, 50);
  assert.equal(trainer.enable_checkpointing, true);
  assert.equal(trainer.devices, 1);
  assert.equal(trainer.gradient_clip_algorithm, "norm");
  for (const [config, message] of [
    [{ accelerator: "gpu" }, /trainer\.accelerator: "gpu" cannot be honoured/],
    [{ num_nodes: 2 }, /trainer\.num_nodes: 2 cannot be honoured .*--num_replicas/],
    [
      { strategy: { class_path: "DDPStrategy", init_args: { ddp_comm_hook: "fp16" } } },
      /trainer\.strategy\.init_args\.ddp_comm_hook: "fp16" cannot be honoured/,
    ],
    [
      { callbacks: [{ class_path: "ModelCheckpoint", init_args: { monitor: "val_loss" } }] },
      /trainer\.callbacks\.0\.init_args\.monitor: "val_loss" cannot be honoured/,
    ],
    [
      { callbacks: [{ class_path: "ModelCheckpoint", init_args: { filename: "{val_loss:.2f}" } }] },
      /filename: "\{val_loss:\.2f\}" names \{val_loss\}/,
    ],
    [
      { logger: { class_path: "TensorBoardLogger" } },
      /trainer\.logger: "TensorBoardLogger" cannot be honoured/,
    ],
    [{ callbacks: [{ class_path: "EarlyStopping" }] }, /callback "EarlyStopping" is not supported/],
  ] as const) {
    assert.throws(
      () => parseTrainer(config, null),
      (e: Error) => e instanceof ConfigError && message.test(e.message),
    );
  }
});
