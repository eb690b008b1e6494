// Special functions on doubles.

const TWO_OVER_SQRT_PI = 1.1283791670955126;
const ONE_OVER_SQRT_PI = 0.5641895835477563;

/**
 * erf to about 1e-15 relative error, slowly: below |x| = 2.5 the everywhere-positive series
 * erf(x) = 2/sqrt(pi) exp(-x^2) sum_k 2^k x^(2k+1) / (1*3*...*(2k+1)) (Abramowitz & Stegun 7.1.6),
 * which has no cancellation; above, 1 - erfc(x) with erfc from its Laplace continued fraction
 * (A&S 7.1.14), 30 terms evaluated bottom-up (error below 1e-17 at x = 2.5, less beyond).
 */
function erfSeries(x: number): number {
  const ax = Math.abs(x);
  if (ax < 2.5) {
    const x2 = x * x;
    let term = x;
    let sum = x;
    for (let k = 1; k < 100; k++) {
      term *= (2 * x2) / (2 * k + 1);
      sum += term;
      if (Math.abs(term) <= 1e-17 * Math.abs(sum)) break;
    }
    return TWO_OVER_SQRT_PI * Math.exp(-x2) * sum;
  }
  // erfc(x) = exp(-x^2)/sqrt(pi) / (x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + ...)))))
  let f = ax;
  for (let k = 30; k >= 1; k--) f = ax + k / 2 / f;
  const erfc = (ONE_OVER_SQRT_PI * Math.exp(-ax * ax)) / f;
  return x > 0 ? 1 - erfc : erfc - 1;
}

// The fast path: Taylor polynomials of degree 7 about the nodes x0 = i / 64 on [0, 6], built once
// from erfSeries. The k-th derivative of erf is 2/sqrt(pi) (-1)^(k-1) H_(k-1)(x) exp(-x^2) with
// H the physicists' Hermite polynomials, and |h| <= 1/128 bounds the truncation error by ~1e-20.
const NODES_PER_UNIT = 64;
const LAST_NODE = 6 * NODES_PER_UNIT; // erfc(6) = 2e-17: erf is 1 in double precision beyond
const DEGREE = 7;
const taylor = new Float64Array((LAST_NODE + 1) * (DEGREE + 1));
for (let i = 0; i <= LAST_NODE; i++) {
  const x0 = i / NODES_PER_UNIT;
  const base = i * (DEGREE + 1);
  taylor[base] = erfSeries(x0);
  const scale = TWO_OVER_SQRT_PI * Math.exp(-x0 * x0);
  let hPrev = 0; // H_(n-1)
  let h = 1; // H_n, from H_(n+1) = 2 x H_n - 2 n H_(n-1)
  let factorial = 1;
  for (let k = 1; k <= DEGREE; k++) {
    factorial *= k;
    taylor[base + k] = ((k % 2 === 1 ? 1 : -1) * scale * h) / factorial;
    const next = 2 * x0 * h - 2 * (k - 1) * hPrev;
    hPrev = h;
    h = next;
  }
}

/** The error function, to about 1e-15 relative error (Taylor polynomials about tabulated nodes). */
export function erf(x: number): number {
  const ax = Math.abs(x);
  if (!(ax < LAST_NODE / NODES_PER_UNIT)) return Number.isNaN(x) ? x : Math.sign(x);
  const i = Math.round(ax * NODES_PER_UNIT);
  const h = ax - i / NODES_PER_UNIT;
  const base = i * (DEGREE + 1);
  let p = taylor[base + DEGREE]!;
  for (let k = DEGREE - 1; k >= 0; k--) p = p * h + taylor[base + k]!;
  return x < 0 ? -p : p;
}

// log(k!) for the binomial sampler (random.ts): a table of running sums of log(i) up to 255, then
// Stirling's series, whose first omitted term, 1/(1188 k^9), is below 1e-24 from k = 256 on.
const LOG_FACTORIAL_TABLE = 256;
const logFactorials = new Float64Array(LOG_FACTORIAL_TABLE);
for (let i = 1; i < LOG_FACTORIAL_TABLE; i++) logFactorials[i] = logFactorials[i - 1]! + Math.log(i);
const HALF_LOG_TWO_PI = 0.5 * Math.log(2 * Math.PI);

/** log(k!) for an integer k >= 0. */
export function logFactorial(k: number): number {
  if (k < LOG_FACTORIAL_TABLE) return logFactorials[k]!;
  const r = 1 / k;
  const r2 = r * r;
  const series = r * (1 / 12 - r2 * (1 / 360 - r2 * (1 / 1260 - r2 / 1680)));
  return k * Math.log(k) - k + HALF_LOG_TWO_PI + 0.5 * Math.log(k) + series;
}

// ---- log-gamma, digamma and trigamma on the real axis ----
//
// No Lanczos: asymptotic series far out, recurrences to get there, and Taylor series where the
// value crosses zero, so that the error stays relative at the roots too.
// - lgamma: Stirling's series for x >= 10; below, the recurrence Gamma(x + 1) = x Gamma(x) down to
//   [1.5, 2.5) and the Taylor series of lgamma about 2 (A&S 6.1.33), which covers the roots 1 and 2.
// - digamma: its asymptotic series for x >= 10; below, the recurrence into [0.91, 2.01] and the
//   Taylor series about its positive root x0 = 1.4616... .
// - trigamma (positive terms only): the recurrence up to 10 and the asymptotic series.
// Negative arguments use the reflection formulas.
// Measured against mpmath at 50 digits (tests/tensor/special.test.ts): below 3 ulp (7e-16 relative)
// on [1e-300, 1e300] for all three; scipy is less accurate next to the roots.

const EULER_GAMMA = 0.5772156649015329;
const STIRLING_FROM = 10;

// Bernoulli numbers B_2 ... B_16, for the asymptotic series and for Euler-Maclaurin below.
const BERNOULLI = [1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730, 7 / 6, -3617 / 510];

/**
 * Hurwitz zeta(s, a) = sum_{n >= 0} (n + a)^-s for s >= 2, a > 0, by Euler-Maclaurin summation:
 * 32 terms directly, then the integral, half the next term and 8 Bernoulli corrections; the first
 * omitted correction is below 1e-20 for these s and a. Used once, to build the Taylor coefficients.
 */
function hurwitzZeta(s: number, a: number): number {
  const N = 32;
  let sum = 0;
  for (let n = N - 1; n >= 0; n--) sum += (n + a) ** -s;
  const b = N + a;
  sum += b ** (1 - s) / (s - 1) + 0.5 * b ** -s;
  // B_2j / (2j)! * s (s + 1) ... (s + 2j - 2) * b^(-s - 2j + 1)
  let rising = s; // s (s + 1) ... (s + 2j - 2)
  let factorial = 2; // (2j)!
  for (let j = 1; j <= BERNOULLI.length; j++) {
    sum += ((BERNOULLI[j - 1]! / factorial) * rising) / b ** (s + 2 * j - 1);
    rising *= (s + 2 * j - 1) * (s + 2 * j);
    factorial *= (2 * j + 1) * (2 * j + 2);
  }
  return sum;
}

// lgamma(2 + z) = (1 - gamma) z + sum_{k >= 2} (-1)^k (zeta(k) - 1) z^k / k  (A&S 6.1.33), used
// for |z| <= 1/2, where zeta(k) - 1 < 2^(1-k) makes 30 terms reach 1e-20.
const LGAMMA_TERMS = 30;
const lgammaSeries = new Float64Array(LGAMMA_TERMS + 1);
lgammaSeries[1] = 1 - EULER_GAMMA;
for (let k = 2; k <= LGAMMA_TERMS; k++) lgammaSeries[k] = ((k % 2 === 0 ? 1 : -1) * hurwitzZeta(k, 2)) / k;

/** lgamma(2 + z) for |z| <= 1/2, by the series above (relative error a few ulp, also near z = 0). */
function lgammaNearTwo(z: number): number {
  let p = 0;
  for (let k = LGAMMA_TERMS; k >= 1; k--) p = (p + lgammaSeries[k]!) * z;
  return p;
}

const HALF_LOG_2PI = 0.9189385332046728;

/** Stirling's series for lgamma(x), x >= 10: the first omitted term, B_18 / (306 x^17), is below 2e-18. */
function lgammaStirling(x: number): number {
  const r = 1 / x;
  const r2 = r * r;
  let series = 0;
  for (let k = BERNOULLI.length; k >= 1; k--)
    series = series * r2 + BERNOULLI[k - 1]! / (2 * k * (2 * k - 1));
  return (x - 0.5) * Math.log(x) - x + HALF_LOG_2PI + series * r;
}

/**
 * x - round(x), exact, in [-1/2, 1/2]: sin(pi x) and tan(pi x) of it keep their relative accuracy
 * next to the integers, where sin(Math.PI * x) loses it (Math.PI is not pi).
 */
function offInteger(x: number): number {
  return x - Math.round(x);
}

/**
 * log|Gamma(x)|, as torch.lgamma and scipy.special.gammaln: +Infinity at 0 and the negative
 * integers. Relative error a few ulp on the positive axis, the roots 1 and 2 included.
 */
export function lgamma(x: number): number {
  if (Number.isNaN(x)) return x;
  if (x >= STIRLING_FROM) return x === Infinity ? x : lgammaStirling(x);
  if (x >= 2.5) {
    // lgamma(x) = lgamma(x - n) + log((x - 1) ... (x - n)); the integer shifts are exact.
    let product = 1;
    let y = x;
    while (y >= 2.5) {
      y -= 1;
      product *= y;
    }
    return lgammaNearTwo(y - 2) + Math.log(product);
  }
  if (x >= 1.5) return lgammaNearTwo(x - 2);
  // lgamma(1 + z) = lgamma(2 + z) - log1p(z)
  if (x >= 0.5) return lgammaNearTwo(x - 1) - Math.log(x);
  if (x > 0) return lgammaNearTwo(x) - Math.log1p(x) - Math.log(x);
  // Reflection: Gamma(x) Gamma(1 - x) = pi / sin(pi x).
  const s = Math.abs(Math.sin(Math.PI * offInteger(x)));
  if (s === 0) return Infinity;
  return Math.log(Math.PI / s) - lgamma(1 - x);
}

// The positive root of digamma, as a double plus its remainder, so that x - x0 keeps its digits.
const DIGAMMA_ROOT = 1.4616321449683622;
const DIGAMMA_ROOT_LOW = 9.549995429965697e-17;
// digamma(x0 + h) = sum_{k >= 1} (-1)^(k + 1) zeta(k + 1, x0) h^k (the polygamma values at x0),
// used for |h| <= 0.55, where the ratio of terms is below 0.55 / x0 and 44 terms reach 1e-19.
const DIGAMMA_TERMS = 44;
const DIGAMMA_WINDOW = 0.55;
const digammaSeries = new Float64Array(DIGAMMA_TERMS + 1);
for (let k = 1; k <= DIGAMMA_TERMS; k++)
  digammaSeries[k] = (k % 2 === 1 ? 1 : -1) * hurwitzZeta(k + 1, DIGAMMA_ROOT + DIGAMMA_ROOT_LOW);

/**
 * The digamma function d/dx lgamma(x), as torch.digamma and scipy.special.psi: -Infinity at 0,
 * NaN at the negative integers. Relative error a few ulp on the positive axis, its root included.
 */
export function digamma(x: number): number {
  if (Number.isNaN(x) || x === Infinity) return x;
  if (x <= 0) {
    if (x === 0) return -Infinity;
    // Reflection: digamma(1 - x) - digamma(x) = pi cot(pi x).
    const t = Math.tan(Math.PI * offInteger(x));
    if (t === 0) return Number.NaN;
    return digamma(1 - x) - Math.PI / t;
  }
  if (x >= STIRLING_FROM) {
    // digamma(x) ~ log(x) - 1/(2x) - sum_k B_2k / (2k x^2k); first omitted term below 5e-17 at x = 10
    const r2 = 1 / (x * x);
    let series = 0;
    for (let k = BERNOULLI.length; k >= 1; k--) series = series * r2 + BERNOULLI[k - 1]! / (2 * k);
    return Math.log(x) - 0.5 / x - series * r2;
  }
  // Below 10, the recurrence digamma(x + 1) = digamma(x) + 1/x moves x into the window of the root
  // series (downwards: the integer shifts are exact, and the 1/y added are positive).
  if (x < DIGAMMA_ROOT - DIGAMMA_WINDOW) return digamma(x + 1) - 1 / x;
  let shift = 0;
  let y = x;
  while (y > DIGAMMA_ROOT + DIGAMMA_WINDOW) {
    y -= 1;
    shift += 1 / y;
  }
  const h = y - DIGAMMA_ROOT - DIGAMMA_ROOT_LOW;
  let p = 0;
  for (let k = DIGAMMA_TERMS; k >= 1; k--) p = (p + digammaSeries[k]!) * h;
  return p + shift;
}

/**
 * The trigamma function d/dx digamma(x) (the gradient of digamma), +Infinity at 0 and the negative
 * integers; a sum of positive terms on the positive axis, so a few ulp there.
 */
export function trigamma(x: number): number {
  if (Number.isNaN(x)) return x;
  if (x <= 0) {
    // Reflection: trigamma(1 - x) + trigamma(x) = pi^2 / sin^2(pi x).
    const s = Math.sin(Math.PI * offInteger(x));
    if (s === 0) return Infinity;
    return (Math.PI * Math.PI) / (s * s) - trigamma(1 - x);
  }
  if (x === Infinity) return 0;
  // trigamma(x) = trigamma(x + n) + sum_{i < n} 1 / (x + i)^2
  let shift = 0;
  let y = x;
  while (y < STIRLING_FROM) {
    shift += 1 / (y * y);
    y += 1;
  }
  // trigamma(y) ~ 1/y + 1/(2y^2) + sum_k B_2k / y^(2k+1)
  const r = 1 / y;
  const r2 = r * r;
  let series = 0;
  for (let k = BERNOULLI.length; k >= 1; k--) series = series * r2 + BERNOULLI[k - 1]!;
  return shift + r + 0.5 * r2 + series * r2 * r;
}
