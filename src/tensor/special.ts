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
