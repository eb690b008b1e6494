// The fused reconstruction term against the same quantity composed from the separately tested
// ops (softmax, relu, negativeBinomialLogProb, poissonLogProb) in float64: values and gradients,
// with counts as CSR and dense, theta per gene (both sides of the Stirling switch at 200) and per
// cell, an additive bias on both sides of its ReLU, on both kernel backends.

import assert from "node:assert/strict";
import { test } from "node:test";
import {
  add,
  exp,
  mul,
  negativeBinomialLogProb,
  poissonLogProb,
  relu,
  softmax,
  sum,
  tensor,
} from "../../../src/tensor/index.js";
import { countNegativeLogLikelihood } from "../../../src/tensor/ops/count-likelihood.js";
import { Generator } from "../../../src/tensor/random.js";
import { Tensor } from "../../../src/tensor/tensor.js";
import { backend, backends, skipUnless } from "../../helpers/matrices.js";

const [n, g] = [5, 7];

function leaf(values: Float32Array, shape: number[]): Tensor {
  const t = new Tensor(values, shape);
  t.requiresGrad = true;
  return t;
}

function fixture(perCellTheta: boolean) {
  const generator = new Generator(3);
  const logits = new Float32Array(n * g).map(() => generator.nextDouble() * 4 - 2);
  const additive = new Float32Array(n * g).map(() => generator.nextDouble() * 1.5 - 0.5);
  // thetas from 0.05 to above cellarium-ml's Stirling switch at 200
  const theta = new Float32Array(perCellTheta ? n * g : g).map(
    (_, i) => [0.05, 0.7, 3, 40, 150, 250, 1e4][i % 7]!,
  );
  const x = new Float32Array(n * g).map(() =>
    generator.nextDouble() < 0.6 ? 0 : Math.floor(generator.nextDouble() * 30),
  );
  x[3] = 5000; // a large count
  const library = Float32Array.from({ length: n }, (_, i) => Math.log(100 + 300 * i));
  return { logits, additive, theta, x, library };
}

function csrOf(x: Float32Array) {
  const indptr = new Int32Array(n + 1);
  const indices: number[] = [];
  const data: number[] = [];
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < g; j++) {
      if (x[i * g + j] !== 0) {
        indices.push(j);
        data.push(x[i * g + j]!);
      }
    }
    indptr[i + 1] = indices.length;
  }
  return { nRows: n, nCols: g, indptr, indices: Int32Array.from(indices), data: Float32Array.from(data) };
}

for (const which of backends) {
  for (const likelihood of ["nb", "poisson"] as const) {
    for (const perCellTheta of likelihood === "nb" ? [false, true] : [false]) {
      for (const layout of ["csr", "dense"] as const) {
        test(
          `countNegativeLogLikelihood (${which}) ${likelihood}${perCellTheta ? " (theta per cell)" : ""}, ${layout} counts: values and gradients as the composed ops`,
          skipUnless(which),
          () => {
            backend(which);
            const f = fixture(perCellTheta);
            const thetaShape = perCellTheta ? [n, g] : [g];
            const upstream = Float32Array.from({ length: n }, (_, i) => 1 + 0.5 * i);
            // fused
            const u1 = leaf(f.logits.slice(), [n, g]);
            const a1 = leaf(f.additive.slice(), [n, g]);
            const t1 = leaf(f.theta.slice(), thetaShape);
            const nll1 = countNegativeLogLikelihood({
              logits_ng: u1,
              logLibrary_n: f.library,
              additive_ng: a1,
              theta: likelihood === "nb" ? t1 : null,
              x: layout === "csr" ? csrOf(f.x) : f.x,
            });
            sum(mul(nll1, new Tensor(upstream, [n]))).backward();
            // composed, in float64 for a reference the float32 op can be held to
            const u2 = leaf(f.logits.slice(), [n, g]);
            const a2 = leaf(f.additive.slice(), [n, g]);
            const t2 = leaf(f.theta.slice(), thetaShape);
            const f64 = (t: Tensor) => {
              const out = new Tensor(Float64Array.from(t.data), t.shape);
              return out;
            };
            const asF64 = [u2, a2, t2].map((t) => {
              const d = f64(t);
              d.requiresGrad = true;
              return d;
            }) as [Tensor, Tensor, Tensor];
            const lib = new Tensor(Float64Array.from(f.library), [n, 1]);
            const mu = add(add(mul(exp(lib), softmax(asF64[0], -1)), relu(asF64[1])), 1e-10);
            const x = new Tensor(Float64Array.from(f.x), [n, g]);
            const logp =
              likelihood === "nb"
                ? negativeBinomialLogProb(x, mu, add(asF64[2], 1e-10))
                : poissonLogProb(x, mu);
            const nll2 = mul(sum(logp, -1), -1);
            sum(mul(nll2, tensor(Float64Array.from(upstream)))).backward();
            const close = (a: ArrayLike<number>, b: ArrayLike<number>, what: string) => {
              assert.equal(a.length, b.length);
              for (let i = 0; i < a.length; i++) {
                const tol = 2e-5 * Math.max(1, Math.abs(b[i]!));
                assert.ok(Math.abs(a[i]! - b[i]!) <= tol, `${what}[${i}]: ${a[i]} vs ${b[i]}`);
              }
            };
            close(nll1.data, nll2.data, "nll");
            close(u1.grad!.data, asF64[0].grad!.data, "d logits");
            close(a1.grad!.data, asF64[1].grad!.data, "d additive");
            if (likelihood === "nb") close(t1.grad!.data, asF64[2].grad!.data, "d theta");
          },
        );
      }
    }
  }
}

for (const which of backends) {
  test(
    `countNllForward and countNllBackward (${which}) refuse counts whose column indices are unsorted, repeated or outside the genes`,
    skipUnless(which),
    () => {
      const k = backend(which);
      const f = fixture(false);
      const good = csrOf(f.x);
      const cells = n * g;
      const call = (indices: Int32Array, direction: "forward" | "backward") => {
        const common = {
          rows: n,
          genes: g,
          logLibrary: f.library,
          additive: null,
          theta: f.theta,
          indptr: good.indptr,
          indices,
          values: good.data,
          eps: 1e-8,
        };
        const chi = new Float32Array(cells);
        const mu = new Float32Array(cells);
        const ratio = new Float32Array(cells);
        if (direction === "forward") {
          k.countNllForward({ ...common, logits: f.logits, chi, mu, ratio, nll: new Float32Array(n) });
        } else {
          k.countNllBackward({
            ...common,
            grad: new Float32Array(n).fill(1),
            chi,
            mu,
            ratio,
            gLogits: new Float32Array(cells),
            gAdditive: null,
            gTheta: null,
          });
        }
      };
      // row 0 holds at least two stored values in this fixture
      assert.ok(good.indptr[1]! >= 2);
      for (const [what, edit] of [
        ["unsorted", (i: Int32Array) => i.set([i[1]!, i[0]!], 0)],
        ["repeated", (i: Int32Array) => i.set([i[0]!], 1)],
        ["outside the genes", (i: Int32Array) => i.set([g], 1)],
        ["negative", (i: Int32Array) => i.set([-1], 0)],
      ] as const) {
        for (const direction of ["forward", "backward"] as const) {
          const indices = good.indices.slice();
          edit(indices);
          assert.throws(() => call(indices, direction), { name: "ArgumentError" }, `${what}, ${direction}`);
        }
      }
      // the canonical CSR itself passes both directions
      call(good.indices, "forward");
      call(good.indices, "backward");
    },
  );
}
