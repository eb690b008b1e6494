import assert from "node:assert/strict";
import { test } from "node:test";
import { parseOverrides, setDotted } from "../../src/cli/overrides.js";
import { type ConfigMap, LoaderTag } from "../../src/cli/yaml.js";

test("dotted overrides set nested keys, list items and loader-tag fields with YAML-typed values", () => {
  const config: ConfigMap = {
    trainer: { max_epochs: 1 },
    model: { transforms: ["Densify", { class_path: "NormalizeTotal", init_args: { target_count: 10000 } }] },
    data: { dadc: new LoaderTag("!FileLoader", { file_path: "a" }) },
  };
  for (const [key, value] of parseOverrides([
    "--trainer.max_epochs",
    "3",
    "--model.transforms.1.init_args.target_count=1e4",
    "--data.dadc.file_path",
    "b.csv",
    "--trainer.default_root_dir",
    "/tmp/run",
  ])) {
    setDotted(config, key, value);
  }
  assert.deepEqual((config.trainer as ConfigMap).max_epochs, 3);
  assert.equal((config.trainer as ConfigMap).default_root_dir, "/tmp/run");
  assert.equal(
    (((config.model as ConfigMap).transforms as ConfigMap[])[1]!.init_args as ConfigMap).target_count,
    10000,
  );
  assert.equal(((config.data as ConfigMap).dadc as LoaderTag).spec.file_path, "b.csv");
});

test("bad overrides name the key", () => {
  const config: ConfigMap = { model: { transforms: ["Densify"] }, trainer: { max_epochs: 1 } };
  assert.throws(
    () => setDotted(config, "model.transforms.4.x", 1),
    /--model\.transforms\.4\.x: model\.transforms has 1 items, no item 4/,
  );
  assert.throws(
    () => setDotted(config, "trainer.max_epochs.x", 1),
    /trainer\.max_epochs is 1, not a mapping/,
  );
  assert.throws(() => parseOverrides(["--trainer.max_epochs"]), /--trainer\.max_epochs needs a value/);
  assert.throws(() => parseOverrides(["fit"]), /unexpected argument "fit"/);
});
