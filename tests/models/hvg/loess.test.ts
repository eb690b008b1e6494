// loess against R's stats::loess (netlib dloess, the same Fortran as scikit-misc's), run with
// Rscript at test time: every data set is written to a temporary folder, one R process fits all of
// them and writes R's fitted values, warnings and errors back. Without Rscript the test fails.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, test } from "node:test";
import { ArgumentError, DataValueError } from "../../../src/errors.js";
import { type LoessOptions, loess, loessFit } from "../../../src/models/hvg/loess.js";
import { Generator } from "../../../src/tensor/random.js";
import { tempDir } from "../../helpers/temp.js";

interface Case {
  readonly id: string;
  readonly x: Float64Array;
  readonly y: Float64Array;
  readonly options: Required<Omit<LoessOptions, "cell">>;
  /** A warning the case exists to provoke (R and ours must both give it). */
  readonly expect?: RegExp;
}

interface RResult {
  /** "ok" or "error: <R's message>". */
  readonly status: string;
  readonly warnings: string[];
  readonly fitted: Float64Array | null;
}

// ---- data sets ------------------------------------------------------------------------------

function draws(seed: number) {
  const g = new Generator(seed);
  const one = new Float64Array(1);
  return {
    uniform: (lo = 0, hi = 1) => lo + (hi - lo) * g.nextDouble(),
    normal: (mean = 0, sd = 1) => {
      g.fillNormal(one, mean, sd);
      return one[0] as number;
    },
  };
}

function uniformX(n: number, seed: number): [Float64Array, Float64Array] {
  const r = draws(seed);
  const x = Float64Array.from({ length: n }, () => r.uniform(0, 10));
  const y = x.map((v) => Math.sin(v) + 0.1 * v + r.normal(0, 0.3));
  return [x, y];
}

/** x rounded to integers: 21 values, about 57 points each. */
function roundedX(n: number, seed: number): [Float64Array, Float64Array] {
  const r = draws(seed);
  const x = Float64Array.from({ length: n }, () => Math.round(r.uniform(0, 20)));
  const y = x.map((v) => Math.sqrt(v) + r.normal(0, 0.5));
  return [x, y];
}

/** Eight values repeated in blocks of 40, then 80 distinct points. */
function blocksX(seed: number): [Float64Array, Float64Array] {
  const r = draws(seed);
  const x: number[] = [];
  for (let b = 1; b <= 8; b++) for (let i = 0; i < 40; i++) x.push(b * 1.25);
  for (let i = 0; i < 80; i++) x.push(r.uniform(0, 11));
  const xs = Float64Array.from(x);
  return [xs, xs.map((v) => Math.cos(v) + r.normal(0, 0.2))];
}

/**
 * Every x twice: a cell's median often ties with exactly one neighbour, so the cut depends on
 * ehg124 trying m + 1 before m - 1.
 */
function pairsX(n: number, seed: number): [Float64Array, Float64Array] {
  const r = draws(seed);
  const x = new Float64Array(n);
  for (let i = 0; i < n; i += 2) x[i] = x[i + 1] = r.uniform(0, 10);
  return [x, x.map((v) => Math.sin(v) + r.normal(0, 0.3))];
}

/** Log-normal x, Cauchy noise in y. */
function heavyTails(n: number, seed: number): [Float64Array, Float64Array] {
  const r = draws(seed);
  const x = Float64Array.from({ length: n }, () => Math.exp(r.normal(0, 1.5)));
  const y = x.map((v) => Math.log(v) + 0.2 * Math.tan(Math.PI * (r.uniform() - 0.5)));
  return [x, y];
}

/** Three tight clusters and a few stragglers. */
function clustered(seed: number): [Float64Array, Float64Array] {
  const r = draws(seed);
  const x: number[] = [];
  for (let i = 0; i < 400; i++) x.push(r.normal(0, 0.01));
  for (let i = 0; i < 300; i++) x.push(r.normal(5, 0.01));
  for (let i = 0; i < 180; i++) x.push(r.normal(5.5, 0.001));
  for (let i = 0; i < 20; i++) x.push(r.uniform(-2, 8));
  const xs = Float64Array.from(x);
  return [xs, xs.map((v) => v * v * 0.1 + r.normal(0, 0.5))];
}

/**
 * What hvg_seurat_v3 fits: log10 variance on log10 mean of negative-binomial genes (Poisson draws
 * around gamma-distributed rates), genes with zero variance left out. Rare genes share their
 * mean and variance exactly, so x has large tie groups, as in real data.
 */
function hvgLike(genes: number, cells: number, seed: number): [Float64Array, Float64Array] {
  const r = draws(seed);
  const gamma = (shape: number): number => {
    // Marsaglia & Tsang; shape < 1 through Gamma(shape + 1) * U^(1/shape).
    if (shape < 1) return gamma(shape + 1) * r.uniform() ** (1 / shape);
    const d = shape - 1 / 3;
    const c = 1 / Math.sqrt(9 * d);
    for (;;) {
      const z = r.normal();
      const v = (1 + c * z) ** 3;
      if (v > 0 && Math.log(1 - r.uniform()) < 0.5 * z * z + d - d * v + d * Math.log(v)) return d * v;
    }
  };
  const poisson = (lambda: number): number => {
    // Inversion from 0; the rates here stay far below where exp(-lambda) underflows.
    let k = 0;
    let p = Math.exp(-lambda);
    let cdf = p;
    const u = r.uniform();
    while (u > cdf && p > 0) {
      k++;
      p *= lambda / k;
      cdf += p;
    }
    return k;
  };
  const xs: number[] = [];
  const ys: number[] = [];
  for (let g = 0; g < genes; g++) {
    const mu = 10 ** r.uniform(-2.5, 1.5);
    const theta = 10 ** r.uniform(-0.5, 1.5);
    let sum = 0;
    let sumSq = 0;
    for (let c = 0; c < cells; c++) {
      const k = poisson((mu / theta) * gamma(theta));
      sum += k;
      sumSq += k * k;
    }
    const mean = sum / cells;
    const variance = (sumSq - cells * mean * mean) / (cells - 1);
    if (variance > 0) {
      xs.push(Math.log10(mean));
      ys.push(Math.log10(variance));
    }
  }
  return [Float64Array.from(xs), Float64Array.from(ys)];
}

// ---- cases ------------------------------------------------------------------------------------

const cases: Case[] = [];
function add(
  id: string,
  [x, y]: [Float64Array, Float64Array],
  spans: number[],
  degrees: (1 | 2)[],
  expect?: { readonly warning: RegExp; readonly surfaces: string[] },
): void {
  for (const span of spans) {
    for (const degree of degrees) {
      for (const surface of ["interpolate", "direct"] as const) {
        const warning = expect?.surfaces.includes(surface) ? expect.warning : undefined;
        cases.push({
          id: `${id}-s${span}-d${degree}-${surface}`,
          x,
          y,
          options: { span, degree, surface },
          ...(warning ? { expect: warning } : {}),
        });
      }
    }
  }
}
add("uniform", uniformX(1000, 1), [0.3, 0.75], [1, 2]);
add("uniform-wide", uniformX(300, 2), [1.5], [1, 2]);
add("rounded", roundedX(1200, 3), [0.3, 0.75], [1, 2]);
add("blocks", blocksX(4), [0.3, 0.75], [1, 2]);
add("pairs", pairsX(600, 14), [0.3, 0.75], [1, 2]);
add("heavy-tails", heavyTails(800, 5), [0.3, 0.75], [1, 2]);
add("clustered", clustered(6), [0.3, 0.75], [1, 2]);
add("hvg", hvgLike(5000, 300, 7), [0.3, 0.75], [2]);
add("hvg-degree1", hvgLike(2000, 200, 8), [0.3], [1]);
// The fewest points a fit allows: nf = floor(n * span) = degree + 2.
add("small-d2", uniformX(10, 9), [0.4, 0.75], [2]);
add("small-d1", uniformX(7, 10), [0.5], [1]);
// fc = floor(150 * 0.03 * 0.2) = 0: the k-d tree grows until its memory bound (200 cells) stops it.
add("tree-bound", uniformX(150, 11), [0.03], [1], {
  warning: /k-d tree limited/,
  surfaces: ["interpolate"],
});
// Three values, 100 points each: at span 0.75 the fits at the middle value see only its own ties
// (the neighbours at the radius weigh 0), so dloess falls back to the pseudo-inverse.
const pseudoinverse = { warning: /pseudoinverse/, surfaces: ["interpolate", "direct"] };
add(
  "three-values",
  [
    Float64Array.from({ length: 300 }, (_, i) => i % 3),
    Float64Array.from({ length: 300 }, (_, i) => (i % 7) + (i % 3)),
  ],
  [0.75],
  [1, 2],
  pseudoinverse,
);
// One point, then ten equal values: ehg124 gives up looking for a cut between different values
// and cuts inside the tie.
add(
  "tie-fallback",
  [
    Float64Array.from([0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]),
    Float64Array.from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]),
  ],
  [1],
  [1, 2],
  pseudoinverse,
);

// A nearly singular neighbourhood that dloess still solves in full: at x = 0 (direct surface) the
// points with weight are 50 at 0, 50 at 1 and one at 3 - 1e-8 whose tricube weight is about 1e-12,
// so the quadratic term is determined by that one point (condition number about 1e13). The fitted
// value at 0 is the mean of the y at 0 in exact arithmetic, and dloess's SVD (dsvdc) keeps it so;
// a generic SVD or a back-substitution misses it by about 1e-4 relative. The interpolated surface
// blends the vertices' ill-determined slopes, which are rounding noise: R on OpenBLAS and R on the
// reference BLAS differ there by orders of magnitude, so it is compared only bit for bit with the
// latter (exactOnly).
const exactOnly: Case[] = [];
{
  const x: number[] = [];
  const y: number[] = [];
  const point = (xi: number, yi: number) => {
    x.push(xi);
    y.push(yi);
  };
  for (let i = 0; i < 50; i++) point(0, Math.sin(i));
  for (let i = 0; i < 50; i++) point(1, 2 + Math.cos(i));
  point(3 - 1e-8, 5);
  for (let i = 0; i < 60; i++) point(3 + i * 0.1, i % 4);
  const data = { x: Float64Array.from(x), y: Float64Array.from(y) };
  const span = 102 / 161 + 1e-9;
  cases.push({ id: "near-singular-direct", ...data, options: { span, degree: 2, surface: "direct" } });
  exactOnly.push({
    id: "near-singular-interpolate",
    ...data,
    options: { span, degree: 2, surface: "interpolate" },
  });
}

// Inputs R refuses or warns about; ours must throw.
interface ErrorCase {
  readonly id: string;
  readonly x: Float64Array;
  readonly y: Float64Array;
  readonly options: Required<Omit<LoessOptions, "cell">>;
  /** What R does. */
  readonly r: RegExp;
  readonly ours: (e: unknown) => boolean;
}
const base = { span: 0.75, degree: 2, surface: "interpolate" } as const;
const [u20x, u20y] = uniformX(20, 12);
const errorCases: ErrorCase[] = [
  {
    id: "span-zero-neighbours",
    x: u20x,
    y: u20y,
    options: { ...base, span: 0.01 },
    r: /^error: span is too small/,
    ours: (e) => e instanceof ArgumentError && e.key === "span" && /no neighbours/.test(e.message),
  },
  {
    id: "fewer-points-than-parameters",
    x: u20x.subarray(0, 5),
    y: u20y.subarray(0, 5),
    options: base,
    r: /^ok\n.*span too small.\s+fewer data values than degrees of freedom/,
    ours: (e) => e instanceof ArgumentError && e.key === "span" && /3 neighbours of 5 points/.test(e.message),
  },
  {
    id: "infinite-x",
    x: Float64Array.from(u20x, (v, i) => (i === 3 ? Number.POSITIVE_INFINITY : v)),
    y: u20y,
    options: base,
    r: /^error: NA\/NaN\/Inf in foreign function call/,
    ours: (e) => e instanceof DataValueError && e.key === "x" && (e as DataValueError).row === 3,
  },
  {
    id: "infinite-y",
    x: u20x,
    y: Float64Array.from(u20y, (v, i) => (i === 7 ? Number.NEGATIVE_INFINITY : v)),
    options: base,
    r: /^error: NA\/NaN\/Inf in foreign function call/,
    ours: (e) => e instanceof DataValueError && e.key === "y" && (e as DataValueError).row === 7,
  },
  {
    id: "lengths-differ",
    x: u20x,
    y: u20y.subarray(0, 19),
    options: base,
    r: /^error: variable lengths differ/,
    ours: (e) =>
      e instanceof ArgumentError && e.key === "y" && /y has 19 values but x has 20/.test(e.message),
  },
  {
    id: "degree-3",
    x: u20x,
    y: u20y,
    options: { ...base, degree: 3 as 2 },
    r: /^error: 'degree' must be 0, 1 or 2/,
    ours: (e) => e instanceof ArgumentError && e.key === "degree",
  },
  {
    // Forty equal values and a span of 16 points: the neighbourhood of a vertex on the tie has
    // radius 0; R warns and returns NaN.
    id: "zero-width",
    x: Float64Array.from({ length: 80 }, (_, i) => Math.floor(i / 20)),
    y: Float64Array.from({ length: 80 }, (_, i) => i % 5),
    options: { ...base, span: 0.2 },
    r: /^ok\n(.*\n)*zero-width neighborhood/,
    ours: (e) => e instanceof ArgumentError && e.key === "span" && /zero-width neighbourhood/.test(e.message),
  },
];

// ---- R --------------------------------------------------------------------------------------

const R_SCRIPT = `
dir <- commandArgs(TRUE)[1]
m <- read.table(file.path(dir, "manifest.tsv"), header = TRUE, sep = "\\t", stringsAsFactors = FALSE)
for (i in seq_len(nrow(m))) {
  r <- m[i, ]
  v <- readBin(file.path(dir, paste0(r$id, ".in")), "double", r$nx + r$ny)
  x <- v[seq_len(r$nx)]
  y <- v[r$nx + seq_len(r$ny)]
  warns <- character(0)
  res <- tryCatch(
    withCallingHandlers(
      fitted(loess(y ~ x, span = r$span, degree = r$degree,
                   control = loess.control(surface = r$surface))),
      warning = function(w) {
        warns <<- c(warns, gsub("\\n", " ", conditionMessage(w)))
        invokeRestart("muffleWarning")
      }),
    error = function(e) e)
  if (inherits(res, "error")) {
    status <- paste("error:", gsub("\\n", " ", conditionMessage(res)))
  } else {
    status <- "ok"
    writeBin(as.double(res), file.path(dir, paste0(r$id, ".out")))
  }
  writeLines(c(status, warns), file.path(dir, paste0(r$id, ".log")))
}
writeLines(sessionInfo()$BLAS, file.path(dir, "blas.txt"))
`;

function readDoubles(path: string): Float64Array {
  return new Float64Array(Uint8Array.from(readFileSync(path)).buffer);
}

interface RRun {
  /** Per case id, or the reason R did not run. */
  readonly results: Map<string, RResult> | Error;
  /** The BLAS library R loaded (sessionInfo()$BLAS). */
  readonly blas: string;
}

/** Fits every case with Rscript (env added to the environment); resolves when R is done. */
async function runR(all: readonly Omit<Case, "expect">[], env: NodeJS.ProcessEnv = {}): Promise<RRun> {
  const dir = tempDir("loess-r-");
  const lines = ["id\tnx\tny\tspan\tdegree\tsurface"];
  for (const c of all) {
    const data = new Float64Array(c.x.length + c.y.length);
    data.set(c.x);
    data.set(c.y, c.x.length);
    writeFileSync(join(dir, `${c.id}.in`), data);
    lines.push(
      [c.id, c.x.length, c.y.length, c.options.span, c.options.degree, c.options.surface].join("\t"),
    );
  }
  writeFileSync(join(dir, "manifest.tsv"), `${lines.join("\n")}\n`);
  writeFileSync(join(dir, "fit.R"), R_SCRIPT);
  const failure = await new Promise<Error | null>((resolve) => {
    execFile(
      "Rscript",
      ["--vanilla", join(dir, "fit.R"), dir],
      { env: { ...process.env, ...env }, maxBuffer: 16 * 1024 * 1024 },
      (error, _stdout, stderr) =>
        resolve(
          error
            ? new Error(
                `Rscript failed (install r-base-core: scripts/setup-system.sh): ${error.message} ${stderr}`,
              )
            : null,
        ),
    );
  });
  if (failure) return { results: failure, blas: "" };
  const results = new Map<string, RResult>();
  for (const c of all) {
    const [status = "", ...warnings] = readFileSync(join(dir, `${c.id}.log`), "utf8")
      .trimEnd()
      .split("\n");
    const fitted = status === "ok" ? readDoubles(join(dir, `${c.id}.out`)) : null;
    results.set(c.id, { status, warnings, fitted });
  }
  return { results, blas: readFileSync(join(dir, "blas.txt"), "utf8").trim() };
}

// R as installed (Debian's R runs on OpenBLAS once libopenblas-dev is in), and R on the reference
// BLAS (Debian's libblas3, loaded ahead of the OpenBLAS that the alternatives system points to).
const REFERENCE_BLAS = `/usr/lib/${process.arch === "arm64" ? "aarch64" : "x86_64"}-linux-gnu/blas/libblas.so.3`;
let installed: RRun;
let referenceBlas: RRun;

before(async () => {
  [installed, referenceBlas] = await Promise.all([
    runR([...cases, ...errorCases]),
    runR([...cases, ...exactOnly], { LD_PRELOAD: REFERENCE_BLAS }),
  ]);
});

function resultsOf(run: RRun): Map<string, RResult> {
  if (run.results instanceof Error) throw run.results;
  return run.results;
}

// ---- agreement ------------------------------------------------------------------------------

// Bound on |ours - R| relative to max(|R_i|, 1e-3 * max_j |R_j|): both sides compute the same
// quantities in double precision and differ only in summation order (and R's OpenBLAS), so the
// differences are rounding; the floor keeps fits that cross zero from inflating the ratio.
const TOLERANCE = 1e-10;

for (const c of cases) {
  test(`loess matches R: ${c.id} (n = ${c.x.length})`, () => {
    const r = resultsOf(installed).get(c.id);
    assert.ok(r, "R produced no result");
    assert.equal(r.status, "ok", `R: ${r.status}`);
    const ours = loessFit(c.x, c.y, c.options);
    const theirs = r.fitted as Float64Array;
    assert.equal(theirs.length, c.x.length);
    let scale = 0;
    for (const v of theirs) scale = Math.max(scale, Math.abs(v));
    let worst = 0;
    let at = -1;
    for (let i = 0; i < theirs.length; i++) {
      const d =
        Math.abs((ours.fitted[i] as number) - (theirs[i] as number)) /
        Math.max(Math.abs(theirs[i] as number), 1e-3 * scale);
      if (!(d <= worst)) {
        worst = d;
        at = i;
      }
    }
    assert.ok(
      worst <= TOLERANCE,
      `max relative difference ${worst.toExponential(2)} at x[${at}] = ${c.x[at]}: ours ${ours.fitted[at]}, R ${theirs[at]}`,
    );
    // The warnings that change what scikit-misc does (it raises on any) must match R's.
    const rWarned = (re: RegExp) => r.warnings.some((w) => re.test(w));
    const weWarned = (re: RegExp) => ours.warnings.some((w) => re.test(w));
    assert.equal(weWarned(/pseudoinverse/), rWarned(/pseudoinverse/), `R warned: ${r.warnings.join(" | ")}`);
    assert.equal(
      weWarned(/k-d tree limited/),
      rWarned(/k-d tree limited/),
      `R warned: ${r.warnings.join(" | ")}`,
    );
    if (c.expect)
      assert.ok(weWarned(c.expect), `expected a warning ${c.expect}, got ${ours.warnings.join(" | ")}`);
    if (process.env.LOESS_REPORT) console.log(`${c.id}\t${worst.toExponential(2)}`);
  });
}

// With the reference BLAS, R's dloess and ours perform the same floating-point operations in the
// same order, so every fitted value is the same double. (A BLAS whose drotg or dnrm2 rounds
// differently would break this without anything being wrong; see the comments in loess.ts.)
test("loess is bit-identical to R on the reference BLAS, for every data set above", () => {
  const r = resultsOf(referenceBlas);
  assert.match(
    referenceBlas.blas,
    /\/blas\/libblas\.so/,
    `R loaded ${referenceBlas.blas}, not ${REFERENCE_BLAS} (libblas3, scripts/setup-system.sh)`,
  );
  const differing: string[] = [];
  for (const c of [...cases, ...exactOnly]) {
    const theirs = r.get(c.id)?.fitted;
    assert.ok(theirs, `R: ${r.get(c.id)?.status}`);
    const ours = loess(c.x, c.y, c.options);
    const n = ours.reduce((count, v, i) => count + (Object.is(v, theirs[i]) ? 0 : 1), 0);
    if (n > 0) differing.push(`${c.id}: ${n} of ${ours.length}`);
  }
  assert.deepEqual(differing, []);
});

for (const c of errorCases) {
  test(`loess refuses what R refuses or warns about: ${c.id}`, () => {
    const r = resultsOf(installed).get(c.id);
    assert.ok(r, "R produced no result");
    assert.match([r.status, ...r.warnings].join("\n"), c.r);
    assert.throws(() => loess(c.x, c.y, c.options), c.ours);
  });
}

test("loess refuses NaN, which R's loess drops through na.omit", () => {
  const x = Float64Array.from(u20x, (v, i) => (i === 2 ? Number.NaN : v));
  assert.throws(
    () => loess(x, u20y),
    (e: unknown) => e instanceof DataValueError && e.message === "loess: x[2] is NaN; x and y must be finite",
  );
});

test("loess checks its options", () => {
  assert.throws(() => loess(u20x, u20y, { span: -1 }), /span must be a positive number, got -1/);
  assert.throws(() => loess(u20x, u20y, { cell: 0 }), /cell must be a positive number, got 0/);
  assert.throws(
    () => loess(u20x, u20y, { surface: "exact" as "direct" }),
    /surface must be "interpolate" or "direct"/,
  );
  assert.throws(() => loess(new Float64Array(0), new Float64Array(0)), /x is empty/);
});

test("loess returns fitted values in input order and leaves its inputs alone", () => {
  const [x, y] = uniformX(200, 13);
  const xc = x.slice();
  const yc = y.slice();
  const fitted = loess(x, y, { span: 0.5 });
  assert.deepEqual(x, xc);
  assert.deepEqual(y, yc);
  const perm = Int32Array.from({ length: 200 }, (_, i) => (i * 7) % 200);
  const shuffled = loess(
    Float64Array.from(perm, (i) => x[i] as number),
    Float64Array.from(perm, (i) => y[i] as number),
    { span: 0.5 },
  );
  for (let dst = 0; dst < perm.length; dst++) {
    const src = perm[dst] as number;
    assert.ok(Math.abs((shuffled[dst] as number) - (fitted[src] as number)) < 1e-12);
  }
});
