// Geneformer training step time, embedding throughput and peak memory, ours against the plain-torch
// BertForMaskedLM of scripts/bert_reference.py on the same machine, threads and token inputs.
// Run: node --import tsx bench/geneformer.ts
// Options: --quick (tiny shapes, to check that the script works), --threads N (default: all
// cores), --steps N (timed training steps, default 5), --shape large|small|medium (default: large
// and small), --no-torch.
// Shapes (batch x tokens, hidden, layers; 4 heads, FFN 2 x hidden, ReLU, dropout 0.02, vocabulary
// 20,000 genes + 2): large 8 x 2,048, 256, 6 (upstream's defaults); small 8 x 512, 256, 6; medium
// 2 x 512, 256, 6 (for node --cpu-prof). Every cell expresses more genes than positions, so every
// position is attended. A training step = tokenize (ours: from CSR) + MLM masking (15%) + forward +
// backward + AdamW. Ours computes vocabulary logits only at the masked positions; torch runs both
// ways: "all positions" (what transformers' BertForMaskedLM and so upstream do) and "masked only".
// Inference: cell embeddings (mean of the last layer over attended positions), no gradient.
// Each measurement runs in its own process, so the peak resident memory (maxRSS) is its own.

import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import type { CsrMatrix } from "../src/data/matrix.js";
import { encodeSafetensors } from "../src/formats/safetensors.js";
import { Geneformer } from "../src/models/geneformer.js";
import { adamW } from "../src/optim/adam.js";
import { kernels } from "../src/tensor/kernels/index.js";
import { Generator } from "../src/tensor/random.js";

interface Shape {
  name: string;
  batch: number;
  seq: number;
  hidden: number;
  layers: number;
  genes: number;
}

const SHAPES: Record<string, Shape> = {
  large: { name: "large", batch: 8, seq: 2048, hidden: 256, layers: 6, genes: 20_000 },
  small: { name: "small", batch: 8, seq: 512, hidden: 256, layers: 6, genes: 20_000 },
  medium: { name: "medium", batch: 2, seq: 512, hidden: 256, layers: 6, genes: 20_000 },
  quick: { name: "quick", batch: 2, seq: 32, hidden: 16, layers: 2, genes: 200 },
};

const args = process.argv.slice(2);
const option = (name: string, fallback: string) => {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1]! : fallback;
};
const quick = args.includes("--quick");
const threads = Number(option("--threads", String(availableParallelism())));
const steps = Number(option("--steps", quick ? "2" : "5"));
const warmup = quick ? 1 : 2;
const MLM = 0.15;
const DROPOUT = 0.02;

/** Cells as CSR: each expresses seq + 16 distinct genes with distinct values (a seeded draw). */
function cells(shape: Shape, seed: number): CsrMatrix {
  const g = new Generator(seed);
  const perCell = Math.min(shape.genes, shape.seq + 16);
  const indptr = new Int32Array(shape.batch + 1);
  const indices = new Int32Array(shape.batch * perCell);
  const data = new Float32Array(shape.batch * perCell);
  const pool = Int32Array.from({ length: shape.genes }, (_, j) => j);
  for (let i = 0; i < shape.batch; i++) {
    for (let k = 0; k < perCell; k++) {
      const j = k + g.randint(0, shape.genes - k);
      [pool[k], pool[j]] = [pool[j]!, pool[k]!];
    }
    const chosen = Array.from(pool.subarray(0, perCell)).sort((a, b) => a - b);
    chosen.forEach((col, k) => {
      indices[i * perCell + k] = col;
      data[i * perCell + k] = 1 + g.nextDouble() * 100;
    });
    indptr[i + 1] = (i + 1) * perCell;
  }
  return { format: "csr", nRows: shape.batch, nCols: shape.genes, indptr, indices, data };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

function model(shape: Shape): Geneformer {
  return new Geneformer({
    var_names_g: Array.from({ length: shape.genes }, (_, j) => `g${j}`),
    hidden_size: shape.hidden,
    num_hidden_layers: shape.layers,
    num_attention_heads: 4,
    intermediate_size: 2 * shape.hidden,
    max_position_embeddings: shape.seq,
    hidden_dropout_prob: DROPOUT,
    attention_probs_dropout_prob: DROPOUT,
    mlm_probability: MLM,
  });
}

/** Child process: our training steps (ms/step, median) or embedding throughput (cells/s). */
function oursChild(kind: "train" | "infer", shape: Shape): void {
  kernels().setNumThreads(threads);
  const m = model(shape);
  const batch = { x_ng: cells(shape, 1), var_names_g: [...m.var_names_g] };
  const times: number[] = [];
  if (kind === "train") {
    const optimizer = adamW(m.parameters(), { lr: 1e-4, weightDecay: 0.01 });
    for (let s = 0; s < warmup + steps; s++) {
      const start = performance.now();
      m.zeroGrad();
      m.forward(batch).loss!.backward();
      optimizer.step();
      if (s >= warmup) times.push(performance.now() - start);
    }
  } else {
    m.eval();
    const options = {
      output_hidden_states: false,
      output_attentions: false,
      output_input_ids: false,
      output_attention_mask: false,
    };
    for (let s = 0; s < warmup + steps; s++) {
      const start = performance.now();
      m.predict(batch, options);
      if (s >= warmup) times.push(performance.now() - start);
    }
  }
  const ms = median(times);
  const value = kind === "train" ? ms : (shape.batch * 1000) / ms;
  console.log(JSON.stringify({ value, maxRssMiB: process.resourceUsage().maxRSS / 1024 }));
}

const TORCH = `
import json, os, resource, sys, time
sys.path.insert(0, os.path.join(${JSON.stringify(new URL("../scripts", import.meta.url).pathname)}))
import numpy as np, torch
import torch.nn.functional as F
from bert_reference import bert_masked_lm, parameter_shapes
from safetensors_io import read_safetensors
kind, path, threads, warmup, steps, dropout = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
torch.set_num_threads(threads)
torch.manual_seed(0)
tensors, meta = read_safetensors(path)
config = json.loads(meta["config"])
P = {n: (torch.randn(shape) * config["initializer_range"]).requires_grad_(True) for n, shape in parameter_shapes(config).items()}
ids = torch.tensor(tensors["input_ids"], dtype=torch.long)
mask = torch.tensor(tensors["attention_mask"], dtype=torch.long)
labels = torch.tensor(tensors["labels"], dtype=torch.long).view(-1)
chosen = torch.nonzero(labels != -100).view(-1)
times = []
if kind == "infer":
    with torch.no_grad():
        for i in range(warmup + steps):
            t = time.perf_counter()
            hidden, _, _ = bert_masked_lm(config, P, ids, mask, logits_at=torch.zeros(0, dtype=torch.long))
            m = mask.unsqueeze(-1).float()
            embedding = (hidden[-1] * m).sum(1) / m.sum(1)
            if i >= warmup: times.append(time.perf_counter() - t)
    value = ids.shape[0] / sorted(times)[len(times) // 2]
else:
    opt = torch.optim.AdamW(P.values(), lr=1e-4, weight_decay=0.01)
    for i in range(warmup + steps):
        t = time.perf_counter()
        opt.zero_grad()
        if kind == "train-all":
            _, _, logits = bert_masked_lm(config, P, ids, mask, dropout=dropout)
            loss = F.cross_entropy(logits.view(-1, config["vocab_size"]), labels, ignore_index=-100)
        else:
            _, _, logits = bert_masked_lm(config, P, ids, mask, dropout=dropout, logits_at=chosen)
            loss = F.cross_entropy(logits, labels[chosen])
        loss.backward()
        opt.step()
        if i >= warmup: times.append(time.perf_counter() - t)
    value = sorted(times)[len(times) // 2] * 1000
print(json.dumps({"value": value, "maxRssMiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
`;

/** The tokens and MLM choices of our first training step, for torch. */
function torchInputs(shape: Shape, dir: string): string {
  const m = model(shape);
  const tokens = m.tokenize({ x_ng: cells(shape, 1), var_names_g: [...m.var_names_g] }, false);
  const masked = m.maskTokens(tokens);
  const labels = new Int32Array(tokens.n * tokens.s).fill(-100);
  masked.positions.forEach((p, k) => {
    labels[p] = masked.labels[k]!;
  });
  const dims = [tokens.n, tokens.s];
  const config = {
    vocab_size: shape.genes + 2,
    hidden_size: shape.hidden,
    num_hidden_layers: shape.layers,
    num_attention_heads: 4,
    intermediate_size: 2 * shape.hidden,
    hidden_act: "relu",
    max_position_embeddings: shape.seq,
    type_vocab_size: 2,
    initializer_range: 0.02,
    position_embedding_type: "absolute",
    layer_norm_eps: 1e-12,
  };
  const path = join(dir, `${shape.name}.safetensors`);
  writeFileSync(
    path,
    encodeSafetensors(
      {
        input_ids: { dtype: "I32", shape: dims, data: masked.input_ids },
        attention_mask: { dtype: "I32", shape: dims, data: Int32Array.from(tokens.attention_mask) },
        labels: { dtype: "I32", shape: dims, data: labels },
      },
      { config: JSON.stringify(config) },
    ),
  );
  return path;
}

interface Result {
  value: number;
  maxRssMiB: number;
}

const env = { ...process.env, OMP_NUM_THREADS: `${threads}`, OPENBLAS_NUM_THREADS: `${threads}` };

function child(command: string, argv: string[]): Result | undefined {
  try {
    const out = execFileSync(command, argv, { encoding: "utf8", env, maxBuffer: 1 << 20 });
    return JSON.parse(out.trim().split("\n").pop()!) as Result;
  } catch (error) {
    console.error(`${command}: ${(error as Error).message.split("\n")[0]}`);
    return undefined;
  }
}

function ours(kind: "train" | "infer", shape: Shape): Result | undefined {
  const self = new URL(import.meta.url).pathname;
  return child(process.execPath, [
    "--import",
    "tsx",
    self,
    "--child",
    kind,
    "--shape",
    shape.name,
    "--threads",
    `${threads}`,
    "--steps",
    `${steps}`,
    ...(quick ? ["--quick"] : []),
  ]);
}

function torch(kind: string, path: string): Result | undefined {
  return child("/usr/bin/python3", [
    "-c",
    TORCH,
    kind,
    path,
    `${threads}`,
    `${warmup}`,
    `${steps}`,
    `${DROPOUT}`,
  ]);
}

const childKind = args.includes("--child") ? option("--child", "train") : null;
if (childKind === "train" || childKind === "infer") {
  oursChild(childKind, SHAPES[option("--shape", "quick")]!);
} else {
  const names = quick
    ? ["quick"]
    : args.includes("--shape")
      ? [option("--shape", "large")]
      : ["large", "small"];
  const dir = mkdtempSync(join(tmpdir(), "bench-geneformer-"));
  const withTorch = !args.includes("--no-torch");
  console.log(
    `Geneformer, ${threads} thread(s), float32, ${kernels().name} kernels, median of ${steps} after ${warmup} warm-up${quick ? ", --quick sizes" : ""}`,
  );
  console.log("");
  console.log(
    "| shape | measure | cellarium-ts | PyTorch, logits at all positions | PyTorch, logits at masked positions | peak RSS MiB ours / torch |",
  );
  console.log("|---|---|---:|---:|---:|---:|");
  const fmt = (r: Result | undefined, digits: number) => (r ? r.value.toFixed(digits) : "n/a");
  try {
    for (const name of names) {
      const shape = SHAPES[name]!;
      const label = `${shape.batch} x ${shape.seq}, h ${shape.hidden}, ${shape.layers} layers`;
      const path = torchInputs(shape, dir);
      const train = ours("train", shape);
      const all = withTorch ? torch("train-all", path) : undefined;
      const maskedOnly = withTorch ? torch("train-masked", path) : undefined;
      const rss = (a?: Result, b?: Result) =>
        `${a?.maxRssMiB.toFixed(0) ?? "n/a"} / ${b?.maxRssMiB.toFixed(0) ?? "n/a"}`;
      console.log(
        `| ${label} | training ms/step | ${fmt(train, 0)} | ${fmt(all, 0)} | ${fmt(maskedOnly, 0)} | ${rss(train, all)} |`,
      );
      const infer = ours("infer", shape);
      const torchInfer = withTorch ? torch("infer", path) : undefined;
      console.log(
        `| ${label} | embeddings cells/s | ${fmt(infer, 1)} | ${fmt(torchInfer, 1)} | | ${rss(infer, torchInfer)} |`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
