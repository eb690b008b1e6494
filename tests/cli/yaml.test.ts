import assert from "node:assert/strict";
import { test } from "node:test";
import { dumpConfig, LoaderTag, parseConfigYaml, parseYamlValue } from "../../src/cli/yaml.js";

test("configs read as PyYAML reads them: YAML 1.1 ints and booleans, y/n as strings", () => {
  const config = parseConfigYaml("a: 10_000\nb: yes\nc: off\nd: y\ne: n\nf: 1e-4\ng: null\nh: ~\n", "c.yaml");
  assert.deepEqual(config, { a: 10000, b: true, c: false, d: "y", e: "n", f: 1e-4, g: null, h: null });
});

test("loader tags are kept as LoaderTag values and survive a dump", () => {
  const text = [
    "model:",
    "  transforms:",
    "    - class_path: cellarium.ml.transforms.ZScore",
    "      init_args:",
    "        !FileMultiLoader",
    "        file_path: /tmp/onepass.csv",
    "        loader_fn: pandas.read_csv",
    "        fields:",
    "          mean_g: {attr: mean_g.values, convert_fn: torch.FloatTensor}",
    "    - !CheckpointLoader",
    "      file_path: ipca.safetensors",
    "      attr: null",
  ].join("\n");
  const config = parseConfigYaml(text, "c.yaml");
  const transforms = (config.model as { transforms: unknown[] }).transforms;
  const zscore = (transforms[0] as { init_args: LoaderTag }).init_args;
  assert.ok(zscore instanceof LoaderTag);
  assert.equal(zscore.tag, "!FileMultiLoader");
  assert.deepEqual(zscore.spec.fields, {
    mean_g: { attr: "mean_g.values", convert_fn: "torch.FloatTensor" },
  });
  assert.ok(transforms[1] instanceof LoaderTag);
  assert.deepEqual((transforms[1] as LoaderTag).spec, { file_path: "ipca.safetensors", attr: null });
  const again = parseConfigYaml(dumpConfig(config), "dumped.yaml");
  assert.deepEqual(again, config);
  assert.match(dumpConfig(config), /!CheckpointLoader/);
});

test("syntax errors and non-mapping documents name the file", () => {
  assert.throws(
    () => parseConfigYaml("a: [1, 2\n", "bad.yaml"),
    /^ConfigError: bad\.yaml:\d+:\d+: invalid YAML/,
  );
  assert.throws(() => parseConfigYaml("- 1\n- 2\n", "list.yaml"), /list\.yaml: a config must be a mapping/);
});

test("command-line values parse as YAML scalars and flow collections", () => {
  assert.equal(parseYamlValue("2"), 2);
  assert.equal(parseYamlValue("null"), null);
  assert.equal(parseYamlValue("shifted_data"), "shifted_data");
  assert.deepEqual(parseYamlValue("[a, b]"), ["a", "b"]);
  assert.deepEqual(parseYamlValue("{lr: 0.1}"), { lr: 0.1 });
});
