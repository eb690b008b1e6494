// The scVI reference itself (scripts/scvi_reference.py, plain torch), checked against independent
// facts before parity tests lean on it: its likelihoods against closed forms (math.lgamma), its
// gradients against finite differences (`selfcheck`: torch.autograd.gradcheck in float64), its
// state_dict names against the module tree of upstream's code (cellarium-ml's scvi.py / vae.py),
// its `loss` against a second forward written here in numpy from the same description, and its
// `train` and `bench` commands. Also scripts/make-scvi-data.py: readable by anndata, deterministic,
// cell types and batches separable.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import {
  decodeSafetensors,
  encodeSafetensors,
  type SafetensorsTensor,
} from "../../src/formats/safetensors.js";
import { Generator } from "../../src/tensor/random.js";
import { runPython } from "../helpers/python.js";
import { tempDir } from "../helpers/temp.js";

const SCRIPTS = new URL("../../scripts", import.meta.url).pathname;
const SCRIPT = join(SCRIPTS, "scvi_reference.py");
const DATA_SCRIPT = join(SCRIPTS, "make-scvi-data.py");
const SCVI = "cellarium.ml.models.scvi.";

function reference(args: string[]): string {
  const run = spawnSync("/usr/bin/python3", [SCRIPT, ...args], { encoding: "utf8", maxBuffer: 64 << 20 });
  assert.equal(run.status, 0, `scvi_reference.py ${args[0]} failed: ${run.stderr}`);
  return run.stdout;
}

interface Entry {
  name: string;
  shape: number[];
  dtype: string;
  kind: "parameter" | "buffer";
}

function keys(dir: string, config: object): Entry[] {
  const path = join(dir, `config-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(path, JSON.stringify(config));
  return JSON.parse(reference(["keys", path])) as Entry[];
}

const structured = (name: string, width?: number, hidden: number[] = []) => ({
  class_path: SCVI + name,
  init_args: { ...(width === undefined ? {} : { out_features: width }), label_to_bias_hidden_layers: hidden },
});

/** The model init args of upstream's examples/other_configs/scvi_pbmc_train_config.yaml. */
function exampleConfig(nInput: number, extra: object = {}) {
  return {
    n_input: nInput,
    n_batch: 4,
    n_cats_per_cov: [3],
    batch_embedded: true,
    batch_representation_sampled: true,
    n_latent_batch: null,
    batch_kl_weight_max: 0.01,
    encoder: {
      hidden_layers: [structured("LinearWithCovariates", 128)],
      final_layer: { class_path: "torch.nn.Linear", init_args: {} },
    },
    decoder: {
      hidden_layers: [structured("LinearWithBatchAndCovariates", 128)],
      final_layer: structured("LinearWithBatchAndCovariates"),
      final_additive_bias: true,
    },
    n_latent: 10,
    n_continuous_cov: 0,
    dropout_rate: 0.1,
    dispersion: "gene",
    log_variational: true,
    gene_likelihood: "nb",
    latent_distribution: "normal",
    use_batch_norm: "both",
    use_layer_norm: "none",
    use_size_factor_key: false,
    ...extra,
  };
}

const EXAMPLE_KEYS: [string, number[], string][] = [
  ["batch_representation_mean_bd", [4, 4], "parameter"],
  ["batch_representation_std_unconstrained_bd", [4, 4], "parameter"],
  ["px_r", [7], "parameter"],
  ["z_encoder.fully_connected.module_list.0.layer.weight", [128, 7], "parameter"],
  ["z_encoder.fully_connected.module_list.0.layer.bias", [128], "parameter"],
  ["z_encoder.fully_connected.module_list.0.layer.bias_decoder.module_list.0.weight", [128, 3], "parameter"],
  ["z_encoder.fully_connected.module_list.0.dressing.0.weight", [128], "parameter"],
  ["z_encoder.fully_connected.module_list.0.dressing.0.bias", [128], "parameter"],
  ["z_encoder.fully_connected.module_list.0.dressing.0.running_mean", [128], "buffer"],
  ["z_encoder.fully_connected.module_list.0.dressing.0.running_var", [128], "buffer"],
  ["z_encoder.fully_connected.module_list.0.dressing.0.num_batches_tracked", [], "buffer"],
  ["z_encoder.mean_encoder.weight", [10, 128], "parameter"],
  ["z_encoder.mean_encoder.bias", [10], "parameter"],
  ["z_encoder.var_encoder.weight", [10, 128], "parameter"],
  ["z_encoder.var_encoder.bias", [10], "parameter"],
  ["decoder.fully_connected.module_list.0.layer.weight", [128, 10], "parameter"],
  ["decoder.fully_connected.module_list.0.layer.bias", [128], "parameter"],
  ["decoder.fully_connected.module_list.0.layer.bias_decoder.module_list.0.weight", [128, 7], "parameter"],
  ["decoder.fully_connected.module_list.0.dressing.0.weight", [128], "parameter"],
  ["decoder.fully_connected.module_list.0.dressing.0.bias", [128], "parameter"],
  ["decoder.fully_connected.module_list.0.dressing.0.running_mean", [128], "buffer"],
  ["decoder.fully_connected.module_list.0.dressing.0.running_var", [128], "buffer"],
  ["decoder.fully_connected.module_list.0.dressing.0.num_batches_tracked", [], "buffer"],
  ["decoder.normalized_count_decoder.weight", [7, 128], "parameter"],
  ["decoder.normalized_count_decoder.bias", [7], "parameter"],
  ["decoder.normalized_count_decoder.bias_decoder.module_list.0.weight", [7, 7], "parameter"],
  ["decoder.final_additive_bias_layer.0.module_list.0.weight", [7, 7], "parameter"],
];

test("selfcheck: likelihoods, KL and warmup against closed forms, gradients against finite differences", () => {
  const report = JSON.parse(reference(["selfcheck"])) as Record<string, boolean>;
  for (const name of [
    "nb_closed_form",
    "nb_torch_distributions",
    "nb_stirling",
    "nb_stirling_used",
    "poisson",
    "zinb_closed_form",
    "kl_normal",
    "kl_warmup",
    "gradcheck_example_structure",
    "gradcheck_embedded_sampled_nb_gene",
    "gradcheck_embedded_point_gene_batch",
    "gradcheck_gene_cell_zinb_layernorm",
    "gradcheck_poisson_encoder_bn",
    "example_keys",
  ]) {
    assert.equal(report[name], true, `selfcheck ${name}`);
  }
});

test("the reference's NB log-likelihood is the closed form (math.lgamma), Stirling above theta 200", () => {
  const values = [
    [0, 0.4, 0.2],
    [0, 30, 2],
    [1, 0.05, 1.5],
    [4, 3.5, 0.8],
    [25, 11, 40],
    [300, 250, 3],
    [7, 2, 199],
    [7, 2, 201],
    [30, 25, 800],
  ];
  const out = runPython(
    `import json, math, sys
sys.path.insert(0, ${JSON.stringify(SCRIPTS)})
import torch
from scvi_reference import nb_log_prob
values = json.load(sys.stdin)
x, mu, theta = (torch.tensor([v[i] for v in values], dtype=torch.float64) for i in range(3))
ours = nb_log_prob(x, mu, theta).tolist()
closed = [math.lgamma(k + t) - math.lgamma(t) - math.lgamma(k + 1) + t * math.log(t / (t + m))
          + (k * math.log(m / (t + m)) if k > 0 else 0.0) for k, m, t in values]
print(json.dumps({"ours": ours, "closed": closed}))`,
    values,
  ) as { ours: number[]; closed: number[] };
  values.forEach(([x, , theta], i) => {
    const diff = Math.abs(out.ours[i]! - out.closed[i]!);
    // exact below theta 200; above, the Stirling form's error is about x^2 / (12 theta^2)
    const tol =
      theta! > 200 ? (x! * x!) / (theta! * theta!) + 1e-9 : 1e-9 * Math.max(1, Math.abs(out.closed[i]!));
    assert.ok(diff <= tol, `case ${i}: ${out.ours[i]} vs closed form ${out.closed[i]}`);
  });
  // the switch is real: at theta 201 the value differs from the exact one (rounding-level at most 1e-12)
  assert.ok(Math.abs(out.ours[7]! - out.closed[7]!) > 1e-12);
});

test("state_dict names and shapes: upstream's example train config and the structural variants", () => {
  const dir = tempDir("scvi-keys-");
  const entries = keys(dir, exampleConfig(7));
  assert.equal(entries.length, 27);
  assert.deepEqual(
    entries.map((e) => [e.name, e.shape, e.kind]),
    EXAMPLE_KEYS,
  );
  assert.equal(entries.filter((e) => e.kind === "buffer").length, 6);
  assert.ok(entries.filter((e) => e.name.endsWith("num_batches_tracked")).every((e) => e.dtype === "int64"));

  const names = (config: object) => keys(dir, config).map((e) => e.name);
  // no encoder hidden layers: a single Identity, the final layers read the genes directly
  const identity = keys(
    dir,
    exampleConfig(5, {
      encoder: { hidden_layers: [], final_layer: { class_path: "torch.nn.Linear", init_args: {} } },
    }),
  );
  assert.ok(!identity.some((e) => e.name.startsWith("z_encoder.fully_connected")));
  assert.deepEqual(identity.find((e) => e.name === "z_encoder.mean_encoder.weight")?.shape, [10, 5]);
  // a label-to-bias hidden layer with its own dressing; batch norm only in the encoder; gene-cell
  // dispersion, zinb, one-hot batches; decoder dropout requested and ignored
  const variant = names(
    exampleConfig(5, {
      batch_embedded: false,
      batch_representation_sampled: false,
      dispersion: "gene-cell",
      gene_likelihood: "zinb",
      use_batch_norm: "encoder",
      encoder: {
        hidden_layers: [
          {
            class_path: `${SCVI}LinearWithBatch`,
            init_args: {
              out_features: 6,
              label_to_bias_hidden_layers: [3],
              label_to_bias_dressing_init_kwargs: { use_batch_norm: true },
            },
          },
          {
            class_path: "torch.nn.Linear",
            init_args: { out_features: 4 },
            dressing_init_args: { use_layer_norm: true, use_batch_norm: false },
          },
        ],
        final_layer: structured("LinearWithCovariates"),
      },
      decoder: {
        hidden_layers: [{ ...structured("LinearWithBatch", 4), dressing_init_args: { dropout_rate: 0.5 } }],
        final_layer: { class_path: "torch.nn.Linear", init_args: {} },
        final_additive_bias: false,
      },
    }),
  );
  assert.deepEqual(variant, [
    "px_r",
    "z_encoder.fully_connected.module_list.0.layer.weight",
    "z_encoder.fully_connected.module_list.0.layer.bias",
    "z_encoder.fully_connected.module_list.0.layer.bias_decoder.module_list.0.layer.weight",
    "z_encoder.fully_connected.module_list.0.layer.bias_decoder.module_list.0.layer.bias",
    "z_encoder.fully_connected.module_list.0.layer.bias_decoder.module_list.0.dressing.0.weight",
    "z_encoder.fully_connected.module_list.0.layer.bias_decoder.module_list.0.dressing.0.bias",
    "z_encoder.fully_connected.module_list.0.layer.bias_decoder.module_list.0.dressing.0.running_mean",
    "z_encoder.fully_connected.module_list.0.layer.bias_decoder.module_list.0.dressing.0.running_var",
    "z_encoder.fully_connected.module_list.0.layer.bias_decoder.module_list.0.dressing.0.num_batches_tracked",
    "z_encoder.fully_connected.module_list.0.layer.bias_decoder.module_list.1.weight",
    "z_encoder.fully_connected.module_list.0.dressing.0.weight",
    "z_encoder.fully_connected.module_list.0.dressing.0.bias",
    "z_encoder.fully_connected.module_list.0.dressing.0.running_mean",
    "z_encoder.fully_connected.module_list.0.dressing.0.running_var",
    "z_encoder.fully_connected.module_list.0.dressing.0.num_batches_tracked",
    "z_encoder.fully_connected.module_list.1.layer.weight",
    "z_encoder.fully_connected.module_list.1.layer.bias",
    "z_encoder.mean_encoder.weight",
    "z_encoder.mean_encoder.bias",
    "z_encoder.mean_encoder.bias_decoder.module_list.0.weight",
    "z_encoder.var_encoder.weight",
    "z_encoder.var_encoder.bias",
    "z_encoder.var_encoder.bias_decoder.module_list.0.weight",
    "decoder.fully_connected.module_list.0.layer.weight",
    "decoder.fully_connected.module_list.0.layer.bias",
    "decoder.fully_connected.module_list.0.layer.bias_decoder.module_list.0.weight",
    "decoder.inverse_overdispersion_decoder.weight",
    "decoder.inverse_overdispersion_decoder.bias",
    "decoder.dropout_decoder.weight",
    "decoder.dropout_decoder.bias",
    "decoder.normalized_count_decoder.weight",
    "decoder.normalized_count_decoder.bias",
  ]);
  // gene-batch dispersion: px_r is [genes, n_latent_batch]; gene-cell's px_r a dummy [1]
  const geneBatch = keys(dir, exampleConfig(5, { dispersion: "gene-batch", n_latent_batch: 3 }));
  assert.deepEqual(geneBatch.find((e) => e.name === "px_r")?.shape, [5, 3]);
  assert.deepEqual(geneBatch.find((e) => e.name === "batch_representation_mean_bd")?.shape, [4, 3]);
});

// ---------------------------------------------------------------- loss against a numpy forward

/** A second forward pass in numpy, written from the description, reading weights by state_dict name. */
const NUMPY_FORWARD = `import json, math, sys
import numpy as np
sys.path.insert(0, ${JSON.stringify(SCRIPTS)})
from safetensors_io import read_safetensors
lgamma = np.vectorize(math.lgamma)
t, meta = read_safetensors(sys.argv[1])
c = json.loads(meta["config"])
P = {k[6:]: v.astype(np.float64) for k, v in t.items() if k.startswith("param.")}
x = t["x_ng"].astype(np.float64)
bi = t["batch_index_n"].astype(np.int64)
cats = c.get("n_cats_per_cov") or []
ci = t["categorical_covariate_index_nd"].astype(np.int64) if cats else None
training = c["training"]
nb = c["n_batch"]
if c.get("batch_embedded"):
    m = P["batch_representation_mean_bd"][bi]
    s = np.exp(P["batch_representation_std_unconstrained_bd"][bi]) + 1e-5
    b = m + t["eps_batch_nb"] * s if c.get("batch_representation_sampled") else m
else:
    b = np.eye(nb)[bi]
cov = np.concatenate([np.eye(k)[ci[:, i]] for i, k in enumerate(cats)], 1) if cats else None
buffers = {}
def label(kind):
    return {"LinearWithBatch": b, "LinearWithCovariates": cov}.get(kind, None) if kind != "LinearWithBatchAndCovariates" else np.concatenate([b, cov], 1)
def linear(h, prefix, spec):
    out = h @ P[prefix + ".weight"].T + P[prefix + ".bias"]
    kind = spec["class_path"].rsplit(".", 1)[1]
    if kind == "Linear":
        return out
    u = label(kind)
    hidden = spec["init_args"]["label_to_bias_hidden_layers"]
    for i in range(len(hidden)):
        p = f"{prefix}.bias_decoder.module_list.{i}.layer"
        u = np.maximum(u @ P[p + ".weight"].T + P[p + ".bias"], 0)
    return out + u @ P[f"{prefix}.bias_decoder.module_list.{len(hidden)}.weight"].T
def dressing(h, prefix, bn, ln):
    if bn:
        p = prefix + ".dressing.0"
        if training:
            mean, var = h.mean(0), h.var(0)
            buffers[p + ".running_mean"] = 0.99 * P[p + ".running_mean"] + 0.01 * mean
            buffers[p + ".running_var"] = 0.99 * P[p + ".running_var"] + 0.01 * h.var(0, ddof=1)
            buffers[p + ".num_batches_tracked"] = P[p + ".num_batches_tracked"] + 1
        else:
            mean, var = P[p + ".running_mean"], P[p + ".running_var"]
        h = (h - mean) / np.sqrt(var + 1e-3) * P[p + ".weight"] + P[p + ".bias"]
    if ln:
        h = (h - h.mean(1, keepdims=True)) / np.sqrt(h.var(1, keepdims=True) + 1e-5)
    return np.maximum(h, 0)
def block(h, prefix, layers, part):
    bn = c["use_batch_norm"] in (part, "both")
    ln = c["use_layer_norm"] in (part, "both")
    for i, spec in enumerate(layers):
        h = dressing(linear(h, f"{prefix}.module_list.{i}.layer", spec), f"{prefix}.module_list.{i}", bn, ln)
    return h
enc, dec = c["encoder"], c["decoder"]
h = block(np.log1p(x) if c["log_variational"] else x, "z_encoder.fully_connected", enc["hidden_layers"], "encoder")
qm = linear(h, "z_encoder.mean_encoder", enc["final_layer"])
qs = np.sqrt(np.exp(linear(h, "z_encoder.var_encoder", enc["final_layer"])) + 1e-4)
z = qm + t["eps_z_nk"] * qs
h = block(z, "decoder.fully_connected", dec["hidden_layers"], "decoder")
u = linear(h, "decoder.normalized_count_decoder", dec["final_layer"])
chi = np.exp(u - u.max(1, keepdims=True))
chi /= chi.sum(1, keepdims=True)
mu = x.sum(1, keepdims=True) * chi
if dec["final_additive_bias"]:
    lab = b if cov is None else np.concatenate([b, cov], 1)
    mu = mu + np.maximum(lab @ P["decoder.final_additive_bias_layer.0.module_list.0.weight"].T, 0)
theta = np.exp(P["px_r"]) if c["dispersion"] == "gene" else np.exp(b @ P["px_r"].T)
mu, theta = mu + 1e-10, theta + 1e-10 + 0 * mu
logp = lgamma(x + theta) - lgamma(theta) - lgamma(x + 1) + theta * np.log(theta / (theta + mu)) + x * np.log(mu / (theta + mu))
rec = -logp.sum(1)
klz = (0.5 * (qs ** 2 + qm ** 2 - 1 - np.log(qs ** 2))).sum(1)
bmax = c.get("batch_kl_weight_max", 0.0)
if c.get("batch_representation_sampled") and bmax > 0:
    klb = (0.5 * (s ** 2 + m ** 2 - 1 - np.log(s ** 2))).sum(1)
else:
    klb = np.zeros_like(rec)
loss = np.mean(rec + c["kl_weight"] * (c.get("z_kl_weight_max", 1.0) * klz + bmax * klb))
out = {"loss": [loss], "reconstruction_loss_n": rec, "kl_divergence_z_n": klz, "kl_divergence_batch_n": klb,
       "z_nk": z, "qz_mean_nk": qm, "qz_scale_nk": qs}
out.update({"buffer." + k: v for k, v in buffers.items()})
print(json.dumps({k: np.asarray(v, dtype=np.float64).ravel().tolist() for k, v in out.items()}))
`;

type Tensors = Record<string, SafetensorsTensor>;

/** A case file for `loss`: random trained-looking weights for every state_dict entry, counts, noise. */
function writeCase(
  dir: string,
  name: string,
  config: Record<string, unknown>,
  entries: Entry[],
  seed: number,
  n = 9,
): string {
  const g = new Generator(seed);
  const genes = config.n_input as number;
  const tensors: Tensors = {};
  for (const e of entries) {
    const size = e.shape.reduce((a, b) => a * b, 1);
    if (e.dtype === "int64") {
      tensors[`param.${e.name}`] = { dtype: "I64", shape: e.shape, data: BigInt64Array.from([3n]) };
      continue;
    }
    const data = new Float32Array(size);
    if (e.name.endsWith("running_var")) g.fillUniform(data, 0.5, 2);
    else if (/dressing\.0\.weight$/.test(e.name)) g.fillUniform(data, 0.7, 1.3);
    else if (e.name === "px_r") g.fillNormal(data, 0.5, 0.5);
    else g.fillNormal(data, 0, e.name.startsWith("batch_representation_std") ? 0.3 : 0.25);
    tensors[`param.${e.name}`] = { dtype: "F32", shape: e.shape, data };
  }
  const x = new Float32Array(n * genes);
  for (let i = 0; i < x.length; i++) x[i] = g.nextDouble() < 0.35 ? 0 : g.randint(1, 12);
  for (let i = 0; i < n; i++) x[i * genes + (i % genes)] += 1; // no empty cell
  const batch = Int32Array.from({ length: n }, () => g.randint(0, config.n_batch as number));
  const cats = (config.n_cats_per_cov as number[] | null) ?? [];
  const cov = new Int32Array(n * cats.length);
  for (let i = 0; i < n; i++) {
    cats.forEach((k, d) => {
      cov[i * cats.length + d] = g.randint(0, k);
    });
  }
  const latentBatch = (config.n_latent_batch as number | null) ?? (config.n_batch as number);
  const epsZ = new Float32Array(n * (config.n_latent as number));
  const epsB = new Float32Array(n * latentBatch);
  g.fillNormal(epsZ);
  g.fillNormal(epsB);
  tensors.x_ng = { dtype: "F32", shape: [n, genes], data: x };
  tensors.batch_index_n = { dtype: "I32", shape: [n], data: batch };
  if (cats.length > 0)
    tensors.categorical_covariate_index_nd = { dtype: "I32", shape: [n, cats.length], data: cov };
  tensors.eps_z_nk = { dtype: "F32", shape: [n, config.n_latent as number], data: epsZ };
  if (config.batch_representation_sampled)
    tensors.eps_batch_nb = { dtype: "F32", shape: [n, latentBatch], data: epsB };
  const path = join(dir, `${name}.safetensors`);
  writeFileSync(path, encodeSafetensors(tensors, { config: JSON.stringify(config) }));
  return path;
}

function assertClose(what: string, ours: ArrayLike<number>, ref: ArrayLike<number>, tol = 2e-4): void {
  assert.equal(ours.length, ref.length, `${what}: lengths`);
  let scale = 1e-3;
  for (let i = 0; i < ref.length; i++) scale = Math.max(scale, Math.abs(ref[i]!));
  for (let i = 0; i < ref.length; i++) {
    assert.ok(Math.abs(ours[i]! - ref[i]!) <= tol * scale, `${what}[${i}]: ${ours[i]} vs ${ref[i]}`);
  }
}

test("loss: the reference's forward equals a numpy forward written from the description", () => {
  const dir = tempDir("scvi-loss-");
  const cases: [string, Record<string, unknown>][] = [
    ["example-train", { ...exampleConfig(6, { dropout_rate: 0 }), kl_weight: 0.35, training: true }],
    [
      "example-eval-dropout",
      { ...exampleConfig(6, { batch_kl_weight_max: 0.4 }), kl_weight: 1, training: false },
    ],
    [
      "onehot-gene-batch-layernorm",
      {
        ...exampleConfig(5, {
          batch_embedded: false,
          batch_representation_sampled: false,
          n_batch: 3,
          n_cats_per_cov: [2, 3],
          n_latent: 3,
          dispersion: "gene-batch",
          use_batch_norm: "encoder",
          use_layer_norm: "decoder",
          dropout_rate: 0,
          encoder: {
            hidden_layers: [
              structured("LinearWithBatch", 6, [4]),
              { class_path: "torch.nn.Linear", init_args: { out_features: 5 } },
            ],
            final_layer: structured("LinearWithBatchAndCovariates", undefined, [2]),
          },
          decoder: {
            hidden_layers: [structured("LinearWithCovariates", 4)],
            final_layer: { class_path: "torch.nn.Linear", init_args: {} },
            final_additive_bias: true,
          },
        }),
        kl_weight: 0.8,
        training: true,
      },
    ],
    [
      "embedded-point",
      {
        ...exampleConfig(6, {
          batch_representation_sampled: false,
          n_latent_batch: 2,
          dropout_rate: 0,
          batch_kl_weight_max: 0.5,
        }),
        kl_weight: 0.5,
        training: true,
      },
    ],
  ];
  const paths = cases.map(([name, config], i) => writeCase(dir, name, config, keys(dir, config), 10 + i));
  reference(["loss", ...paths]);
  cases.forEach(([name, config], i) => {
    const out = decodeSafetensors(readFileSync(paths[i]!.replace(".safetensors", ".out.safetensors")), {
      int64AsNumber: true,
    }).tensors;
    const expected = runPython(NUMPY_FORWARD, null, [paths[i]!]) as Record<string, number[]>;
    for (const [key, values] of Object.entries(expected)) {
      assert.ok(out[key], `${name}: the reference wrote no ${key}`);
      assertClose(`${name} ${key}`, out[key].data as Float32Array, values);
    }
    const entries = keys(dir, config);
    for (const e of entries) {
      if (e.kind === "parameter") {
        const grad = out[`grad.${e.name}`];
        assert.ok(grad, `${name}: no grad.${e.name}`);
        assert.deepEqual(grad.shape, e.shape);
        assert.ok((grad.data as Float32Array).every(Number.isFinite));
      } else {
        assert.ok(out[`buffer.${e.name}`], `${name}: no buffer.${e.name}`);
      }
    }
    // the point batch representation never reads its std; the sampled one does
    const stdGrad = out["grad.batch_representation_std_unconstrained_bd"];
    if (stdGrad) {
      const nonzero = (stdGrad.data as Float32Array).some((v) => v !== 0);
      assert.equal(nonzero, config.batch_representation_sampled === true, `${name}: std gradient`);
    }
    // running stats move only in training mode; num_batches_tracked counts the forward
    const tracked = out["buffer.z_encoder.fully_connected.module_list.0.dressing.0.num_batches_tracked"];
    if (tracked) assert.equal(tracked.data[0], config.training ? 4 : 3, `${name}: num_batches_tracked`);
  });
});

test("loss refuses dropout in training mode (no draw could match) and a misnamed parameter", () => {
  const dir = tempDir("scvi-refuse-");
  const config = { ...exampleConfig(4), kl_weight: 1, training: true };
  const entries = keys(dir, config);
  const path = writeCase(dir, "dropout", config, entries, 3);
  const run = spawnSync("/usr/bin/python3", [SCRIPT, "loss", path], { encoding: "utf8" });
  assert.notEqual(run.status, 0);
  assert.match(run.stderr, /dropout/);
  const renamed = entries.map((e) => (e.name === "px_r" ? { ...e, name: "decoder.px_r" } : e));
  const bad = writeCase(dir, "misnamed", { ...config, dropout_rate: 0 }, renamed, 3);
  const run2 = spawnSync("/usr/bin/python3", [SCRIPT, "loss", bad], { encoding: "utf8" });
  assert.notEqual(run2.status, 0);
  assert.match(run2.stderr, /missing \['px_r'\], unexpected \['decoder\.px_r'\]/);
});

test("train: deterministic for a seed, the KL warmup by epoch as upstream's hooks see it, a falling loss", () => {
  const dir = tempDir("scvi-train-");
  const model = exampleConfig(12);
  const entries = keys(dir, model);
  // initial weights as upstream's reset_parameters leaves them (roughly): small weights, BN at 1 / 0
  const g = new Generator(5);
  const tensors: Tensors = {};
  for (const e of entries) {
    const size = e.shape.reduce((a, b) => a * b, 1);
    if (e.dtype === "int64") {
      tensors[`param.${e.name}`] = { dtype: "I64", shape: e.shape, data: new BigInt64Array(1) };
      continue;
    }
    const data = new Float32Array(size);
    if (e.name.endsWith("running_var") || /dressing\.0\.weight$/.test(e.name)) data.fill(1);
    else if (e.name === "batch_representation_mean_bd") for (let i = 0; i < 4; i++) data[i * 5] = 1;
    else if (
      !e.name.endsWith("running_mean") &&
      !e.name.endsWith(".bias") &&
      !e.name.includes("std_unconstrained")
    )
      g.fillNormal(data, 0, 0.1);
    tensors[`param.${e.name}`] = { dtype: "F32", shape: e.shape, data };
  }
  const n = 64;
  const x = new Float32Array(n * 12);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < 12; j++) x[i * 12 + j] = g.randint(0, 3 + (i % 4) * (j % 3) * 4);
  for (let i = 0; i < n; i++) x[i * 12] += 1;
  tensors.x_ng = { dtype: "F32", shape: [n, 12], data: x };
  tensors.batch_index_n = { dtype: "I32", shape: [n], data: Int32Array.from({ length: n }, (_, i) => i % 4) };
  tensors.categorical_covariate_index_nd = {
    dtype: "I32",
    shape: [n, 1],
    data: Int32Array.from({ length: n }, (_, i) => (i >> 2) % 3),
  };
  const nSteps = 40;
  const steps = new Int32Array(nSteps * 16);
  for (let s = 0; s < nSteps; s++) {
    const perm = g.permutation(n);
    steps.set(perm.subarray(0, 16), s * 16);
  }
  tensors.steps = { dtype: "I32", shape: [nSteps, 16], data: steps };
  const config = {
    ...model,
    dropout_rate: 0.1,
    lr: 0.01,
    weight_decay: 0.01,
    gradient_clip_val: 10,
    steps_per_epoch: 4,
    kl_warmup_epochs: 2,
    seed: 7,
  };
  const path = join(dir, "train.safetensors");
  writeFileSync(path, encodeSafetensors(tensors, { config: JSON.stringify(config) }));
  reference(["train", path, join(dir, "a.json")]);
  reference(["train", path, join(dir, "b.json")]);
  const a = JSON.parse(readFileSync(join(dir, "a.json"), "utf8")) as {
    loss: number[];
    reconstruction_loss: number[];
    kl_weight: number[];
  };
  const b = JSON.parse(readFileSync(join(dir, "b.json"), "utf8")) as { loss: number[] };
  assert.deepEqual(a.loss, b.loss);
  assert.equal(a.loss.length, nSteps);
  // forward k uses the epoch recorded after batch k - 1: steps 0-4 epoch 0, 5-8 epoch 1, then 1.0
  assert.deepEqual(a.kl_weight.slice(0, 10), [0, 0, 0, 0, 0, 0.5, 0.5, 0.5, 0.5, 1]);
  // with weight 0 the loss is the reconstruction term alone
  for (let k = 0; k < 5; k++) assert.equal(a.loss[k], a.reconstruction_loss[k]);
  assert.ok(a.loss[9]! > a.reconstruction_loss[9]!);
  const mean = (v: number[]) => v.reduce((s, t) => s + t, 0) / v.length;
  const rec = a.reconstruction_loss;
  assert.ok(mean(rec.slice(-8)) < 0.92 * mean(rec.slice(0, 4)), `reconstruction loss ${rec.join(", ")}`);
  // another seed draws other noise
  writeFileSync(path, encodeSafetensors(tensors, { config: JSON.stringify({ ...config, seed: 8 }) }));
  reference(["train", path, join(dir, "c.json")]);
  const c = JSON.parse(readFileSync(join(dir, "c.json"), "utf8")) as { loss: number[] };
  assert.notDeepEqual(c.loss, a.loss);
});

test("bench: upstream's example network on synthetic counts reports its throughput", () => {
  const out = JSON.parse(
    reference([
      "bench",
      "--cells",
      "600",
      "--genes",
      "80",
      "--batch-size",
      "128",
      "--epochs",
      "2",
      "--threads",
      "1",
    ]),
  ) as Record<string, number>;
  assert.deepEqual(Object.keys(out).sort(), ["cells_per_s", "epochs_per_s", "peak_rss_mib", "seconds"]);
  for (const v of Object.values(out)) assert.ok(Number.isFinite(v) && v > 0);
  assert.ok(Math.abs(out.cells_per_s! - (600 * 2) / out.seconds!) < 1e-6 * out.cells_per_s!);
});

// ---------------------------------------------------------------- make-scvi-data.py

test("make-scvi-data.py: anndata reads it; raw integer CSR counts; types and batches separable; seeded", () => {
  const dir = tempDir("scvi-data-");
  const make = (seed: number, out: string) => {
    const start = performance.now();
    const run = spawnSync(
      "/usr/bin/python3",
      [DATA_SCRIPT, "--cells", "3000", "--genes", "300", "--seed", String(seed), "--out", join(dir, out)],
      { encoding: "utf8" },
    );
    assert.equal(run.status, 0, run.stderr);
    return (performance.now() - start) / 1000;
  };
  const seconds = make(1, "a.h5ad");
  console.log(`make-scvi-data.py 3000 x 300: ${seconds.toFixed(2)} s`);
  assert.ok(seconds < 10, `took ${seconds} s`);
  make(1, "b.h5ad");
  make(2, "c.h5ad");
  const facts = runPython(
    `import json, sys
import anndata, numpy as np, scipy.sparse as sp
d = sys.argv[1]
a, b, c = (anndata.read_h5ad(f"{d}/{n}.h5ad") for n in "abc")
x = a.X
out = {"csr": sp.isspmatrix_csr(x), "dtype": str(x.dtype), "shape": list(x.shape)}
dense = x.toarray()
out["integers"] = bool(np.all(dense == np.round(dense)) and dense.min() >= 0)
out["min_library"] = float(dense.sum(1).min())
out["obs"] = {k: [str(a.obs[k].dtype), list(map(str, a.obs[k].cat.categories))] for k in a.obs.columns}
out["unique_obs"] = bool(a.obs_names.is_unique)
out["var0"] = str(a.var_names[0])
out["same_seed_equal"] = bool((a.X != b.X).nnz == 0 and a.obs.equals(b.obs))
out["other_seed_differs"] = bool((a.X != c.X).nnz > 0)
y = np.log1p(dense / dense.sum(1, keepdims=True) * 1e4)
half = np.arange(y.shape[0]) % 2 == 0
def nearest_centroid(codes, f):
    cents = np.stack([f[half & (codes == k)].mean(0) for k in range(codes.max() + 1)])
    d2 = ((f[~half][:, None, :] - cents[None]) ** 2).sum(-1)
    return float((d2.argmin(1) == codes[~half]).mean())
t = a.obs["cell_type"].cat.codes.values
profiles = np.stack([y[t == k].mean(0) for k in range(t.max() + 1)])
gaps = [float(np.abs(profiles[i] - profiles[j]).max()) for i in range(len(profiles)) for j in range(i)]
out["min_profile_gap"] = min(gaps)
out["type_accuracy"] = nearest_centroid(t, y)
yc = y - y.mean(0)
pcs = yc @ np.linalg.svd(yc, full_matrices=False)[2][:2].T
out["batch_accuracy_pc2"] = nearest_centroid(a.obs["batch"].cat.codes.values, pcs)
out["type_accuracy_pc2"] = nearest_centroid(t, pcs)
print(json.dumps(out))`,
    null,
    [dir],
  ) as Record<string, unknown>;
  assert.equal(facts.csr, true);
  assert.equal(facts.dtype, "float32");
  assert.deepEqual(facts.shape, [3000, 300]);
  assert.equal(facts.integers, true);
  assert.ok((facts.min_library as number) > 0);
  assert.deepEqual(facts.obs, {
    cell_type: ["category", ["type_0", "type_1", "type_2", "type_3", "type_4", "type_5"]],
    batch: ["category", ["batch_0", "batch_1", "batch_2"]],
    chemistry: ["category", ["v2", "v3"]],
  });
  assert.equal(facts.unique_obs, true);
  assert.match(facts.var0 as string, /^ENSG\d{11}$/);
  assert.equal(facts.same_seed_equal, true);
  assert.equal(facts.other_seed_differs, true);
  // distinct programs: every pair of type mean profiles differs strongly on some gene, and held-out
  // cells go to their own type's centroid
  assert.ok((facts.min_profile_gap as number) > 1, `profile gap ${facts.min_profile_gap}`);
  assert.ok((facts.type_accuracy as number) > 0.98, `type accuracy ${facts.type_accuracy}`);
  // the batch effect dominates the first two principal components (what scVI must remove)
  assert.ok((facts.batch_accuracy_pc2 as number) > 0.95, `batch accuracy ${facts.batch_accuracy_pc2}`);
  assert.ok((facts.type_accuracy_pc2 as number) < (facts.batch_accuracy_pc2 as number));
});
