// One training step of one BERT encoder layer (forward, backward, Adam update) in ms/step, ours
// against the same layer in PyTorch on the same machine with the same thread count.
// Run: node --import tsx bench/engine/bert-layer.ts
// Options: --quick (a tiny shape, to check that the script works), --threads N (default: all cores),
// --steps N (timed steps, default 10), --dropout P (hidden and attention dropout, default 0.1 as
// Hugging Face's BertConfig), --medium (batch 2, for profiling with node --cpu-prof).
// Config: hidden 256, 4 heads, FFN 512, GELU, batch 8 x 512 tokens, float32; the attention mask pads
// the end of each sequence (item i keeps 512 - 48 i tokens). The loss gradient is a fixed random
// tensor, the same for both. Each side runs 2 warm-up steps, then reports the median step.

import { execFileSync } from "node:child_process";
import { availableParallelism } from "node:os";
import { performance } from "node:perf_hooks";
import { BertLayer, type BertLayerConfig, extendedAttentionMask } from "../../src/models/layers/bert.js";
import { adam } from "../../src/optim/adam.js";
import { randn, tensor } from "../../src/tensor/index.js";
import { kernels } from "../../src/tensor/kernels/index.js";
import { Generator } from "../../src/tensor/random.js";

const args = process.argv.slice(2);
const option = (name: string, fallback: number) => {
  const at = args.indexOf(name);
  return at >= 0 ? Number(args[at + 1]) : fallback;
};
const quick = args.includes("--quick");
const medium = args.includes("--medium");
const threads = option("--threads", availableParallelism());
const steps = option("--steps", quick ? 2 : 10);
const p = option("--dropout", 0.1);
const warmup = 2;
const [batch, seq, hidden, heads, ffn] = quick ? [2, 16, 32, 4, 64] : [medium ? 2 : 8, 512, 256, 4, 512];
const padStep = quick ? 3 : 48;

const config: BertLayerConfig = {
  hiddenSize: hidden,
  numAttentionHeads: heads,
  intermediateSize: ffn,
  hiddenAct: "gelu",
  hiddenDropoutProb: p,
  attentionProbsDropoutProb: p,
  layerNormEps: 1e-12,
};
const lengths = Array.from({ length: batch }, (_, i) => Math.max(1, seq - padStep * i));
const maskValues = lengths.flatMap((len) => Array.from({ length: seq }, (_, j) => (j < len ? 1 : 0)));

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

function ours(): number {
  kernels().setNumThreads(threads);
  const generator = new Generator(0);
  const layer = new BertLayer(config, { generator });
  const optimizer = adam(layer.parameters(), { lr: 1e-4 });
  const x = randn([batch, seq, hidden], generator);
  const grad = randn([batch, seq, hidden], generator);
  const mask = extendedAttentionMask(tensor(maskValues, { dtype: "int32", shape: [batch, seq] }));
  const times: number[] = [];
  for (let s = 0; s < warmup + steps; s++) {
    const start = performance.now();
    layer.zeroGrad();
    layer.forward(x, mask).backward(grad);
    optimizer.step();
    if (s >= warmup) times.push(performance.now() - start);
  }
  return median(times);
}

const PYTORCH = `
import json, math, sys, time, torch
from torch import nn
import torch.nn.functional as F
b, s, h, heads, ffn, p, threads, warmup, steps = json.loads(sys.argv[1])
mask_values = json.loads(sys.argv[2])
torch.set_num_threads(threads)
torch.manual_seed(0)

class Layer(nn.Module):  # Hugging Face's BertLayer, post-LayerNorm, in plain torch
    def __init__(self):
        super().__init__()
        self.query, self.key, self.value = nn.Linear(h, h), nn.Linear(h, h), nn.Linear(h, h)
        self.attn_out, self.attn_norm = nn.Linear(h, h), nn.LayerNorm(h, eps=1e-12)
        self.inter, self.out, self.out_norm = nn.Linear(h, ffn), nn.Linear(ffn, h), nn.LayerNorm(h, eps=1e-12)
        self.drop = nn.Dropout(p)
    def forward(self, x, ext):
        split = lambda t: t.view(b, s, heads, h // heads).permute(0, 2, 1, 3)
        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        probs = self.drop((q @ k.transpose(-1, -2) / math.sqrt(h // heads) + ext).softmax(-1))
        ctx = (probs @ v).permute(0, 2, 1, 3).reshape(b, s, h)
        a = self.attn_norm(self.drop(self.attn_out(ctx)) + x)
        return self.out_norm(self.drop(self.out(F.gelu(self.inter(a)))) + a)

layer = Layer()
opt = torch.optim.Adam(layer.parameters(), lr=1e-4)
x, grad = torch.randn(b, s, h), torch.randn(b, s, h)
mask = torch.tensor(mask_values, dtype=torch.float32).reshape(b, s)
ext = (1.0 - mask[:, None, None, :]) * torch.finfo(torch.float32).min
times = []
for i in range(warmup + steps):
    t = time.perf_counter()
    opt.zero_grad()
    layer(x, ext).backward(grad)
    opt.step()
    if i >= warmup: times.append(time.perf_counter() - t)
print(json.dumps(sorted(times)[len(times) // 2] * 1000))
`;

function pytorch(): number | undefined {
  try {
    const shape = JSON.stringify([batch, seq, hidden, heads, ffn, p, threads, warmup, steps]);
    const env = { ...process.env, OMP_NUM_THREADS: `${threads}`, OPENBLAS_NUM_THREADS: `${threads}` };
    const out = execFileSync("/usr/bin/python3", ["-c", PYTORCH, shape, JSON.stringify(maskValues)], {
      encoding: "utf8",
      env,
      maxBuffer: 1 << 20,
    });
    return Number(JSON.parse(out));
  } catch (error) {
    console.error(`PyTorch: ${(error as Error).message.split("\n")[0]}`);
    return undefined;
  }
}

const oursMs = ours();
const torchMs = args.includes("--no-torch") ? undefined : pytorch();
console.log(
  `BERT layer training step (forward + backward + Adam), batch ${batch} x ${seq} tokens, hidden ${hidden}, ` +
    `${heads} heads, FFN ${ffn}, GELU, dropout ${p}, float32, ${threads} thread(s), median of ${steps} after ${warmup} warm-up${quick ? ", --quick sizes" : ""}`,
);
console.log("");
console.log("| implementation | ms/step | ratio to PyTorch |");
console.log("|---|---:|---:|");
const ratio = (ms: number) => (torchMs === undefined ? "n/a" : (ms / torchMs).toFixed(2));
console.log(`| cellarium-ts (${kernels().name} kernels) | ${oursMs.toFixed(1)} | ${ratio(oursMs)} |`);
console.log(
  `| PyTorch ${torchMs === undefined ? "(unavailable)" : ""} | ${torchMs?.toFixed(1) ?? "n/a"} | 1.00 |`,
);
