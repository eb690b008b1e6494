// Log densities and mass functions, differentiable in the value and in every parameter (the count
// likelihoods in their parameters; their value is data); arguments broadcast.

import type { Tensor } from "../tensor.js";
import { cast } from "./creation.js";
import {
  abs,
  add,
  div,
  eq,
  gt,
  lgamma,
  log,
  log1p,
  lt,
  mul,
  neg,
  type Operand,
  square,
  sub,
} from "./elementwise.js";
import { where } from "./indexing.js";
import { softplus } from "./nn.js";

const HALF_LOG_2PI = 0.9189385332046727;

function logOf(scale: Operand): Operand {
  return typeof scale === "number" ? Math.log(scale) : log(scale);
}

/** log N(x | loc, scale) = -((x - loc) / scale)^2 / 2 - log(scale) - log(2 pi) / 2. */
export function normalLogProb(x: Tensor, loc: Operand, scale: Operand): Tensor {
  const z = div(sub(x, loc), scale);
  return sub(sub(mul(square(z), -0.5), logOf(scale)), HALF_LOG_2PI);
}

/** log Laplace(x | loc, scale) = -|x - loc| / scale - log(2 scale). */
export function laplaceLogProb(x: Tensor, loc: Operand, scale: Operand): Tensor {
  return sub(sub(div(neg(abs(sub(x, loc))), scale), logOf(scale)), Math.LN2);
}

/**
 * KL(N(qLoc, qScale) || N(pLoc, pScale)) elementwise, in torch's form (kl_normal_normal):
 * (r + t - 1 - log r) / 2 with r = (qScale / pScale)^2 and t = ((qLoc - pLoc) / pScale)^2.
 * scVI sums it over the latent axis against the prior N(0, 1), the default.
 */
export function normalKlDivergence(
  qLoc: Tensor,
  qScale: Tensor,
  pLoc: Operand = 0,
  pScale: Operand = 1,
): Tensor {
  const varianceRatio = square(div(qScale, pScale));
  const t = square(div(sub(qLoc, pLoc), pScale));
  return mul(sub(sub(add(varianceRatio, t), 1), log(varianceRatio)), 0.5);
}

/** x log(y), and 0 where x = 0 whatever y (torch.xlogy), so that log(0) meets no zero count. */
function xlogy(x: Tensor, y: Operand): Tensor {
  return where(eq(x, 0), 0, mul(x, logOf(y)));
}

/** log Poisson(x | rate) = x log(rate) - rate - lgamma(x + 1), as torch.distributions.Poisson. */
export function poissonLogProb(x: Tensor, rate: Tensor): Tensor {
  return sub(sub(xlogy(x, rate), rate), lgamma(add(x, 1)));
}

// cellarium-ml switches to Stirling's approximation of the lgamma difference above this theta.
const THETA_THRESHOLD_STIRLING_SWITCH = 200;

/**
 * log NB(x | mu, theta) with mean mu and inverse dispersion theta, as cellarium-ml's
 * NegativeBinomial.log_prob (cellarium/ml/distributions/negative_binomial.py), the likelihood its
 * scVI uses: with delta = lgamma(x + theta) - lgamma(theta) - x log(theta), or, for theta > 200,
 * its Stirling approximation (x + theta - 1/2) log1p(x / theta) - x,
 *   delta - (x + theta) log1p(mu / theta) - lgamma(x + 1) + x log(mu),
 * where the first two terms are 0 at theta = 0 (a point mass at 0). Unlike logNbPositive it adds
 * no eps: upstream's scVI adds its eps (1e-10) to mu and theta before.
 */
export function negativeBinomialLogProb(x: Tensor, mu: Tensor, theta: Tensor): Tensor {
  const delta = where(
    gt(theta, THETA_THRESHOLD_STIRLING_SWITCH),
    sub(mul(sub(add(x, theta), 0.5), log1p(div(x, theta))), x),
    sub(sub(lgamma(add(x, theta)), lgamma(theta)), xlogy(x, theta)),
  );
  const core = sub(delta, mul(add(x, theta), log1p(div(mu, theta))));
  return add(sub(where(eq(theta, 0), 0, core), lgamma(add(x, 1))), xlogy(x, mu));
}

/** The terms of scvi-tools' NB log-likelihoods that do not involve the zero inflation. */
function nbTerms(x: Tensor, mu: Tensor, theta: Tensor, eps: number) {
  // log(theta + mu + eps) computed once, as scvi-tools does
  const logThetaMuEps = log(add(add(theta, mu), eps));
  return {
    // theta log(theta / (theta + mu)): log p(x = 0) without zero inflation
    thetaLog: mul(theta, sub(log(add(theta, eps)), logThetaMuEps)),
    // x log(mu / (theta + mu)) + lgamma(x + theta) - lgamma(theta) - lgamma(x + 1)
    countTerms: sub(
      sub(add(mul(x, sub(log(add(mu, eps)), logThetaMuEps)), lgamma(add(x, theta))), lgamma(theta)),
      lgamma(add(x, 1)),
    ),
  };
}

/**
 * log NB(x | mu, theta) with mean mu and inverse dispersion theta, in scvi-tools' form
 * (scvi/distributions/_negative_binomial.py, log_nb_positive):
 * theta (log(theta + eps) - log(theta + mu + eps)) + x (log(mu + eps) - log(theta + mu + eps))
 * + lgamma(x + theta) - lgamma(theta) - lgamma(x + 1), with eps = 1e-8 by default.
 */
export function logNbPositive(x: Tensor, mu: Tensor, theta: Tensor, eps = 1e-8): Tensor {
  const { thetaLog, countTerms } = nbTerms(x, mu, theta, eps);
  return add(thetaLog, countTerms);
}

/**
 * log ZINB(x | mu, theta, pi) with dropout logits pi, in scvi-tools' form (log_zinb_positive),
 * where log sigmoid(pi) = -softplus(-pi) keeps every term finite for large |pi|:
 *   x < eps: softplus(-pi + theta log(theta / (theta + mu))) - softplus(-pi)
 *   x > eps: -softplus(-pi) - pi + log NB(x | mu, theta)
 * (and 0 at x = eps exactly, as upstream's two masks leave it).
 */
export function logZinbPositive(x: Tensor, mu: Tensor, theta: Tensor, pi: Tensor, eps = 1e-8): Tensor {
  const { thetaLog, countTerms } = nbTerms(x, mu, theta, eps);
  const softplusPi = softplus(neg(pi));
  const piThetaLog = sub(thetaLog, pi);
  const caseZero = sub(softplus(piThetaLog), softplusPi);
  const caseNonZero = add(sub(piThetaLog, softplusPi), countTerms);
  return add(
    mul(cast(lt(x, eps), caseZero.dtype), caseZero),
    mul(cast(gt(x, eps), caseNonZero.dtype), caseNonZero),
  );
}
