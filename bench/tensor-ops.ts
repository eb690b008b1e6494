// Times the tensor ops of one BERT layer at the spec's size (batch 8 x 512 tokens, hidden 256,
// 4 heads) in float32, forward and forward + backward, and prints a table. Not a test.
// Usage: npx tsx bench/tensor-ops.ts [batch seq hidden reps]   (e.g. 1 16 32 1 for a smoke run)
import {
  crossEntropy,
  gelu,
  layerNorm,
  matmul,
  permute,
  randn,
  softmax,
  sum,
  type Tensor,
  tensor,
} from "../src/index.js";
import { Generator } from "../src/tensor/random.js";

const [batch = 8, seq = 512, hidden = 256, reps = 3] = process.argv.slice(2).map(Number);
const heads = 4;
const vocab = 2000;
const generator = new Generator(0);
const leaf = (shape: number[]) => randn(shape, generator, { requiresGrad: true });

const x = leaf([batch, seq, hidden]);
const weight = leaf([hidden]);
const bias = leaf([hidden]);
const w = leaf([hidden, hidden]);
const scores = leaf([batch, heads, seq, seq]);
const qkv = leaf([batch, seq, heads, hidden / heads]);
const logits = leaf([batch * seq, vocab]);
const targets = tensor(
  Array.from({ length: batch * seq }, (_, i) => (i * 7919) % vocab),
  { dtype: "int32" },
);

const cases: Array<[string, () => Tensor]> = [
  ["softmax (b, heads, s, s)", () => softmax(scores)],
  ["layerNorm (b, s, h)", () => layerNorm(x, hidden, { weight, bias, eps: 1e-12 })],
  ["gelu (b, s, h)", () => gelu(x)],
  ["permute (b, s, heads, d) -> (b, heads, s, d)", () => permute(qkv, [0, 2, 1, 3])],
  ["matmul (b, s, h) x (h, h)", () => matmul(x, w)],
  [`crossEntropy (b*s, ${vocab})`, () => crossEntropy(logits, targets)],
];

function time(fn: () => void): number {
  let best = Infinity;
  for (let r = 0; r < reps; r++) {
    const start = performance.now();
    fn();
    best = Math.min(best, performance.now() - start);
  }
  return best;
}

console.log(`batch ${batch}, seq ${seq}, hidden ${hidden}, best of ${reps} (ms)`);
console.log(["op".padEnd(48), "forward".padStart(10), "fwd+bwd".padStart(10)].join(""));
for (const [name, op] of cases) {
  const forward = time(() => op());
  const both = time(() => sum(op()).backward());
  console.log([name.padEnd(48), forward.toFixed(1).padStart(10), both.toFixed(1).padStart(10)].join(""));
}
