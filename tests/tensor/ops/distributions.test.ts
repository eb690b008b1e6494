import assert from "node:assert/strict";
import {
  laplaceLogProb,
  logNbPositive,
  logZinbPositive,
  type NestedArray,
  negativeBinomialLogProb,
  normalKlDivergence,
  normalLogProb,
  onesLike,
  poissonLogProb,
  reshape,
  type Tensor,
  tensor,
} from "../../../src/tensor/index.js";
import { lgamma as lgammaScalar } from "../../../src/tensor/special.js";
import { test } from "../../helpers/backends.js";
import { runPython } from "../../helpers/python.js";
import { assertClose, assertGradients, hasTorch, input, runTorch } from "../helpers.js";

const xs = [-2, -0.3, 0, 1.7];

test("normal and Laplace log densities match their formulas", () => {
  const x = tensor(xs, { dtype: "float64" });
  assertClose(
    normalLogProb(x, 0.5, 2).data,
    xs.map((v) => -((v - 0.5) ** 2) / 8 - Math.log(2) - 0.5 * Math.log(2 * Math.PI)),
  );
  assertClose(
    laplaceLogProb(x, 0.5, 2).data,
    xs.map((v) => -Math.abs(v - 0.5) / 2 - Math.log(4)),
  );
  const loc = tensor([[0], [1]], { dtype: "float64" });
  const scale = tensor([1, 2, 3, 4], { dtype: "float64" });
  const lp = laplaceLogProb(x, loc, scale);
  for (let r = 0; r < 2; r++) {
    for (let j = 0; j < 4; j++) {
      const expected = -Math.abs(xs[j]! - r) / (j + 1) - Math.log(2 * (j + 1));
      assertClose([lp.data[r * 4 + j]!], [expected]);
    }
  }
});

test("gradients of log densities in value, location and scale, with broadcasting", () => {
  const x = input([2, 3], 1);
  const loc = input([3], 2);
  const scale = input([2, 1], 3, [0.5, 2]);
  assertGradients(normalLogProb, [x, loc, scale]);
  assertGradients(laplaceLogProb, [x, loc, scale]);
  assertGradients((v) => laplaceLogProb(v, 0, 1.5), [x]);
});

// ---- count likelihoods and the KL term of scVI ----

// Reference implementations in torch, written after scvi-tools (scvi/distributions/
// _negative_binomial.py: log_nb_positive, log_zinb_positive) and cellarium-ml (cellarium/ml/
// distributions/negative_binomial.py: NegativeBinomial.log_prob); Poisson and the KL are torch's.
const torchLikelihoods = `
from torch.distributions import Normal, Poisson, kl_divergence
F = torch.nn.functional

def log_nb_positive(x, mu, theta, eps=1e-8):
    log_theta_mu_eps = torch.log(theta + mu + eps)
    return (theta * (torch.log(theta + eps) - log_theta_mu_eps) + x * (torch.log(mu + eps) - log_theta_mu_eps)
            + torch.lgamma(x + theta) - torch.lgamma(theta) - torch.lgamma(x + 1))

def log_zinb_positive(x, mu, theta, pi, eps=1e-8):
    softplus_pi = F.softplus(-pi)
    log_theta_mu_eps = torch.log(theta + mu + eps)
    pi_theta_log = -pi + theta * (torch.log(theta + eps) - log_theta_mu_eps)
    case_zero = F.softplus(pi_theta_log) - softplus_pi
    case_non_zero = (-softplus_pi + pi_theta_log + x * (torch.log(mu + eps) - log_theta_mu_eps)
                     + torch.lgamma(x + theta) - torch.lgamma(theta) - torch.lgamma(x + 1))
    return (x < eps).type(torch.float32) * case_zero + (x > eps).type(torch.float32) * case_non_zero

def cellarium_nb(value, mu, theta):
    delta = torch.where(theta > 200, (value + theta - 0.5) * torch.log1p(value / theta) - value,
                        (value + theta).lgamma() - theta.lgamma() - torch.xlogy(value, theta))
    return ((delta - (value + theta) * torch.log1p(mu / theta)).masked_fill(theta == 0, 0)
            - (value + 1).lgamma() + torch.xlogy(value, mu))

result = {}
for name in ("float64", "float32"):
    dtype = getattr(torch, name)
    t = lambda key, shape: torch.tensor(data[key], dtype=dtype).reshape(shape).requires_grad_()
    x = torch.tensor(data["x"], dtype=dtype).reshape(-1, 1, 1)
    mu, theta, pi = t("mu", (1, -1, 1)), t("theta", (1, 1, -1)), t("pi", (1, -1, 1))
    # the size of the largest term, for tolerances: the formulas subtract lgamma values of that size
    scale = sum(v.abs() for v in (torch.lgamma(x + theta), torch.lgamma(theta), torch.lgamma(x + 1),
                theta * torch.log(theta + mu), x * torch.log(mu + 1e-8))) + 1
    out = {"scale": scale.flatten().tolist()}
    for key, y, params in [("nb", log_nb_positive(x, mu, theta), [mu, theta]),
                           ("zinb", log_zinb_positive(x, mu, theta, pi), [mu, theta, pi]),
                           ("cellarium", cellarium_nb(x, mu, theta), [mu, theta]),
                           ("poisson", Poisson(mu).log_prob(x), [mu])]:
        grads = torch.autograd.grad(y.sum(), params)
        out[key] = [y.flatten().tolist()] + [g.flatten().tolist() for g in grads]
    result[name] = out
qm = torch.tensor(data["qm"], dtype=torch.float64)
qs = torch.tensor(data["qs"], dtype=torch.float64)
result["kl"] = kl_divergence(Normal(qm, qs), Normal(0.0, 1.0)).tolist()
result["kl_general"] = kl_divergence(Normal(qm, qs), Normal(torch.tensor(0.7, dtype=torch.float64), 2.5)).tolist()
`;

// Counts from 0 to 1e5; means down to 1e-8; inverse dispersions from 1e-6 (very overdispersed) to
// 1e6 (almost Poisson), across cellarium's Stirling switch at 200; logits on both sides of 0.
const counts = [0, 1, 3, 17, 250, 1e5];
const means = [1e-8, 0.3, 5, 1e4];
const dispersions = [1e-6, 0.05, 1, 10, 199, 300, 1e4, 1e6];
const logits = [-3, 0, 2.5, 15];
const qm = [-2, -0.1, 0, 0.4, 3];
const qs = [0.01, 0.5, 1, 1.3, 4];

test("NB, ZINB and Poisson log-likelihoods and their gradients agree with scvi-tools' and cellarium-ml's formulas in torch", {
  skip: !hasTorch,
}, () => {
  const reference = runTorch(torchLikelihoods, {
    x: counts,
    mu: means,
    theta: dispersions,
    pi: logits,
    qm,
    qs,
  }) as Record<string, Record<string, number[][]> & { scale: number[] }>;
  // float64: the formulas subtract lgamma values as large as `scale`, each good to a few ulp
  for (const [dtype, rtol, gradRtol] of [
    ["float64", 1e-14, 1e-9],
    ["float32", 4e-6, 1e-3],
  ] as const) {
    const ref = reference[dtype]!;
    const x = reshape(tensor(counts, { dtype }), [-1, 1, 1]);
    const leaf = (values: NestedArray) => tensor(values, { dtype, requiresGrad: true });
    const mu = leaf([means.map((v) => [v])]);
    const theta = leaf([[dispersions]]);
    const pi = leaf([logits.map((v) => [v])]);
    const cases: Array<[string, Tensor, Tensor[]]> = [
      ["nb", logNbPositive(x, mu, theta), [mu, theta]],
      ["zinb", logZinbPositive(x, mu, theta, pi), [mu, theta, pi]],
      ["cellarium", negativeBinomialLogProb(x, mu, theta), [mu, theta]],
      ["poisson", poissonLogProb(x, mu), [mu]],
    ];
    for (const [name, y, params] of cases) {
      const [value, ...grads] = ref[name]!;
      const scale = ref.scale;
      for (let i = 0; i < y.size; i++) {
        const v = y.data[i]!;
        const r = value![i]!;
        // Poisson's terms are not those of scale; its own size bounds its error
        const tol = rtol * (name === "poisson" ? Math.abs(r) + 1 : scale[i]!);
        assert.ok(
          Math.abs(v - r) <= tol,
          `${dtype} ${name} at element ${i}: ${v}, torch ${r} (tolerance ${tol})`,
        );
      }
      for (const p of params) p.grad = null;
      y.backward(onesLike(y));
      params.forEach((p, k) => {
        const got = p.grad!.data;
        grads[k]!.forEach((r, i) => {
          assert.ok(
            Math.abs(got[i]! - r) <= gradRtol * Math.max(1, Math.abs(r)),
            `${dtype} d${name}/d(parameter ${k})[${i}] = ${got[i]}, torch ${r}`,
          );
        });
      });
    }
  }
  const qLoc = tensor(qm, { dtype: "float64" });
  const qScale = tensor(qs, { dtype: "float64" });
  assertClose(normalKlDivergence(qLoc, qScale).data, reference.kl as unknown as number[], 1e-13);
  assertClose(
    normalKlDivergence(qLoc, qScale, 0.7, 2.5).data,
    reference.kl_general as unknown as number[],
    1e-13,
  );
});

test("the NB log-likelihoods are the negative binomial's log pmf (mpmath), where eps and Stirling do not reach", () => {
  const xs = [0, 1, 3, 17, 250, 1e5];
  const grid: Array<[number, number, number]> = [];
  for (const x of xs)
    for (const mu of [0.3, 5, 1e4]) for (const theta of [0.05, 1, 10, 199]) grid.push([x, mu, theta]);
  // mpmath at 50 digits: scipy.stats.nbinom.logpmf is off by 1e-14 relative at x = 250, theta = 199
  const script =
    "import json, sys, mpmath as M\nM.mp.dps = 50\n" +
    "nb = lambda x, m, t: M.loggamma(x + t) - M.loggamma(t) - M.loggamma(x + 1) + t * M.log(t / (t + m)) + x * M.log(m / (t + m))\n" +
    "print(json.dumps([float(nb(x, M.mpf(m), M.mpf(t))) for x, m, t in json.load(sys.stdin)]))";
  const reference = runPython(script, grid) as number[];
  const column = (k: number) =>
    tensor(
      grid.map((row) => row[k]!),
      { dtype: "float64" },
    );
  const [x, mu, theta] = [column(0), column(1), column(2)];
  const cellarium = negativeBinomialLogProb(x, mu, theta).data;
  const scvi = logNbPositive(x, mu, theta).data;
  reference.forEach((r, i) => {
    // cellarium-ml's form has no eps: it is exact up to the rounding of the lgamma values it
    // subtracts (1e6 at x = 1e5); scvi-tools' eps = 1e-8 moves it by about 1e-8 x / mu
    const [count, m, t] = grid[i]!;
    const size =
      Math.abs(lgammaScalar(count + t)) +
      Math.abs(count * Math.log(t)) +
      Math.abs(count * Math.log(m)) +
      Math.abs(r) +
      1;
    assert.ok(Math.abs(cellarium[i]! - r) <= 1e-15 * size, `cellarium ${grid[i]}: ${cellarium[i]} vs ${r}`);
    assert.ok(
      Math.abs(scvi[i]! - r) <= 1e-6 * Math.max(1, Math.abs(r)),
      `scvi-tools ${grid[i]}: ${scvi[i]} vs ${r}`,
    );
  });
});

test("count likelihoods stay finite at the extremes and give log p(0) = 0 for a point mass", () => {
  const x = reshape(tensor(counts, { dtype: "float64" }), [-1, 1, 1]);
  const mu = reshape(tensor(means, { dtype: "float64" }), [1, -1, 1]);
  const theta = reshape(tensor(dispersions, { dtype: "float64" }), [1, 1, -1]);
  const pi = reshape(tensor(logits, { dtype: "float64" }), [1, -1, 1]);
  for (const y of [
    logNbPositive(x, mu, theta),
    logZinbPositive(x, mu, theta, pi),
    negativeBinomialLogProb(x, mu, theta),
  ]) {
    for (const v of y.data) assert.ok(Number.isFinite(v) && v <= 1e-12, `log-likelihood ${v}`);
  }
  // theta = 0 is a point mass at 0 in cellarium-ml's form; x log(mu) is 0 at x = 0, mu = 0 (xlogy)
  const zero = tensor([0, 0], { dtype: "float64" });
  assertClose(
    negativeBinomialLogProb(zero, tensor([3, 0], { dtype: "float64" }), tensor([0, 2], { dtype: "float64" }))
      .data,
    [0, 0],
  );
  assertClose(poissonLogProb(zero, tensor([0, 0], { dtype: "float64" })).data, [0, 0]);
});

test("gradients of the count likelihoods in every parameter and of the KL in all four, by finite differences", () => {
  const x = tensor([[0], [1], [4], [30]], { dtype: "float64" });
  const mu = input([4, 3], 51, [0.1, 20]);
  const theta = input([3], 52, [0.2, 50]);
  const pi = input([4, 3], 53, [-3, 3]);
  assertGradients((m, t) => logNbPositive(x, m, t), [mu, theta]);
  assertGradients((m, t, p) => logZinbPositive(x, m, t, p), [mu, theta, pi]);
  assertGradients((m, t) => negativeBinomialLogProb(x, m, t), [mu, theta]);
  // cellarium-ml's Stirling branch, above theta = 200
  assertGradients((m, t) => negativeBinomialLogProb(x, m, t), [mu, input([3], 54, [250, 5000])]);
  assertGradients((m) => poissonLogProb(x, m), [mu]);
  const qLoc = input([2, 3], 55);
  const qScale = input([2, 3], 56, [0.2, 3]);
  assertGradients(
    (m, s, pm, ps) => normalKlDivergence(m, s, pm, ps),
    [qLoc, qScale, input([3], 57), input([3], 58, [0.5, 2])],
  );
  assertGradients((m, s) => normalKlDivergence(m, s), [qLoc, qScale]);
});
