// Times one optimizer step, gradient clipping and a safetensors round trip on a parameter of
// `n` float32 elements and prints a table. Run: node --import tsx bench/optim.ts [n]
// (timings depend on the machine; they are not tests).

import { decodeSafetensors, encodeSafetensors } from "../src/formats/safetensors.js";
import { adam, adamW } from "../src/optim/adam.js";
import { clipGradNorm } from "../src/optim/clip.js";
import type { Optimizer } from "../src/optim/optimizer.js";
import { sgd } from "../src/optim/sgd.js";
import type { BaseOptions, OptimParam } from "../src/optim/types.js";

const n = Number(process.argv[2] ?? 1_000_000);
const repeats = 5;

function makeParam(): OptimParam {
  const data = new Float32Array(n);
  const grad = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    data[i] = Math.sin(i);
    grad[i] = Math.cos(i) * 1e-2;
  }
  return { data, grad: { data: grad } };
}

function time(run: () => void): number {
  run();
  const start = performance.now();
  for (let r = 0; r < repeats; r++) run();
  return (performance.now() - start) / repeats;
}

const rows: [string, number][] = [];
const optimizers: [string, (p: OptimParam[]) => Optimizer<BaseOptions>][] = [
  ["sgd momentum+nesterov", (p) => sgd(p, { momentum: 0.9, nesterov: true })],
  ["adam", (p) => adam(p)],
  ["adam amsgrad", (p) => adam(p, { amsgrad: true })],
  ["adamw", (p) => adamW(p)],
];
for (const [name, make] of optimizers) {
  const optimizer = make([makeParam()]);
  rows.push([`${name} step`, time(() => optimizer.step())]);
}
const param = makeParam();
rows.push(["clipGradNorm (no clip)", time(() => clipGradNorm([param], 1e9))]);
const tensors = { w: { dtype: "F32" as const, shape: [n], data: param.data } };
let bytes = encodeSafetensors(tensors);
rows.push([
  "encodeSafetensors",
  time(() => {
    bytes = encodeSafetensors(tensors);
  }),
]);
rows.push(["decodeSafetensors", time(() => decodeSafetensors(bytes))]);

console.log(`n = ${n} float32 elements, mean of ${repeats} runs`);
console.log("| operation | ms |\n|---|---|");
for (const [name, ms] of rows) console.log(`| ${name} | ${ms.toFixed(2)} |`);
