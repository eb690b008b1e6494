// LOESS for one predictor, reproducing netlib's dloess (Cleveland, Grosse & Shyu), the Fortran that
// both R's stats::loess and scikit-misc's loess wrap, so that scanpy's
// highly_variable_genes(flavor="seurat_v3") can be matched number for number. Only what that needs:
// family "gaussian" (no robustness iterations), no prior weights, fitted values at the data.
//
// The default surface, "interpolate", is NOT a local fit at every point: dloess builds a k-d tree
// over x, fits the local regression only at the tree's vertices (value and slope) and evaluates
// each data point by cubic Hermite interpolation between the two vertices of its cell. "direct"
// fits at every point. Routine names in the comments are those of R's src/library/stats/src/
// loessf.f and loessc.c (scikit-misc's loessf.f is the same code).
//
// With one predictor a cell of the k-d tree is a run of the sorted x, so the tree is built on the
// sorted values, where dloess partially sorts an index permutation per cell: the cells hold the
// same values either way. The local fits follow dloess operation for operation, down to the order
// of the rows and LINPACK's QR and SVD, so the fitted values are bit-identical to R's when R runs
// on the reference BLAS, and within rounding of R on OpenBLAS, which sums in its own order
// (tests/models/hvg/loess.test.ts checks both). scikit-misc bundles older netlib BLAS and LINPACK
// (drotg and dnrm2 scaled differently, dsvdc's exact negligibility test): rounding-level
// differences, which only neighbourhoods with a condition number beyond about 1e8 make visible.

import { ArgumentError, DataValueError } from "../../errors.js";

/** d1mach(4), the machine epsilon dloess scales its singular-value tolerance by. */
const EPS = 2 ** -52;

export interface LoessOptions {
  /** Fraction of the points in each local neighbourhood; above 1 every point, with a wider radius. Default 0.75. */
  readonly span?: number;
  /** Degree of the local polynomials. Default 2. */
  readonly degree?: 1 | 2;
  /** "interpolate" (dloess's default: k-d tree and Hermite blending) or "direct". Default "interpolate". */
  readonly surface?: "interpolate" | "direct";
  /** A k-d tree cell is split while it holds more than floor(n * span * cell) points. Default 0.2. */
  readonly cell?: number;
}

export interface LoessFit {
  /** Fitted values at the input x, in input order. */
  readonly fitted: Float64Array;
  /**
   * What dloess reports as warnings and still computes through: local fits that needed the
   * pseudo-inverse, neighbourhoods whose points all lie on the boundary, a k-d tree cut short by
   * its memory bound. R prints these; scikit-misc (and so scanpy) raises ValueError on any of them.
   */
  readonly warnings: readonly string[];
}

/** Fitted values of R's `loess(y ~ x, span, degree, control = loess.control(surface, cell))`. */
export function loess(x: Float64Array, y: Float64Array, options: LoessOptions = {}): Float64Array {
  return loessFit(x, y, options).fitted;
}

/** As {@link loess}, with dloess's warnings. */
export function loessFit(x: Float64Array, y: Float64Array, options: LoessOptions = {}): LoessFit {
  const span = options.span ?? 0.75;
  const degree = options.degree ?? 2;
  const surface = options.surface ?? "interpolate";
  const cell = options.cell ?? 0.2;
  const n = x.length;
  if (y.length !== n) {
    throw new ArgumentError(`loess: y has ${y.length} values but x has ${n}`, { key: "y", value: y.length });
  }
  if (n === 0) throw new ArgumentError("loess: x is empty", { key: "x", value: 0 });
  if (!(Number.isFinite(span) && span > 0)) {
    throw new ArgumentError(`loess: span must be a positive number, got ${span}`, {
      key: "span",
      value: span,
    });
  }
  if (degree !== 1 && degree !== 2) {
    throw new ArgumentError(`loess: degree must be 1 or 2, got ${degree}`, { key: "degree", value: degree });
  }
  if (surface !== "interpolate" && surface !== "direct") {
    throw new ArgumentError(`loess: surface must be "interpolate" or "direct", got ${String(surface)}`, {
      key: "surface",
      value: surface,
    });
  }
  if (!(Number.isFinite(cell) && cell > 0)) {
    throw new ArgumentError(`loess: cell must be a positive number, got ${cell}`, {
      key: "cell",
      value: cell,
    });
  }
  for (const [name, v] of [
    ["x", x],
    ["y", y],
  ] as const) {
    for (let i = 0; i < n; i++) {
      if (!Number.isFinite(v[i] as number)) {
        throw new DataValueError(`loess: ${name}[${i}] is ${v[i]}; x and y must be finite`, {
          key: name,
          value: v[i],
          row: i,
        });
      }
    }
  }
  // loessc.c loess_workspace: the neighbourhood size, with 1e-5 of slack against n * span landing
  // just below an integer.
  const nf = Math.min(n, Math.floor(n * span + 1e-5));
  if (nf <= 0) {
    throw new ArgumentError(`loess: span ${span} is too small for ${n} points (no neighbours)`, {
      key: "span",
      value: span,
    });
  }
  // ehg136/ehg139 warn (104) and go on with a pseudo-inverse; a fit through fewer points than
  // parameters is meaningless, so here it is an error.
  const k = degree + 1;
  if (nf < k + 1) {
    throw new ArgumentError(
      `loess: span ${span} gives ${nf} neighbours of ${n} points, fewer than the ${k + 1} a degree-${degree} fit needs`,
      { key: "span", value: span },
    );
  }

  const fitter = new LocalFitter(x, y, nf, span, degree);
  const fitted = new Float64Array(n);
  const warnings: string[] = [];
  const out = new Float64Array(2);

  if (surface === "direct") {
    // lowesf/ehg136: a fit at every data point, in input order (the order the neighbour
    // permutation evolves in).
    for (let i = 0; i < n; i++) {
      fitter.fit(x[i] as number, out);
      fitted[i] = out[0] as number;
    }
  } else {
    // lowesb: tree, then a fit at every vertex; lowese: blend at the data.
    const xs = Float64Array.from(x).sort();
    const tree = buildTree(xs, Math.floor(n * (span * cell)), Math.max(200, n));
    const nv = tree.vertex.length;
    const value = new Float64Array(nv);
    const slope = new Float64Array(nv);
    for (let v = 0; v < nv; v++) {
      fitter.fit(tree.vertex[v] as number, out);
      value[v] = out[0] as number;
      slope[v] = out[1] as number;
    }
    for (let i = 0; i < n; i++) fitted[i] = blend(tree, value, slope, x[i] as number);
    if (tree.limited) warnings.push(`k-d tree limited by memory (at most ${Math.max(200, n)} cells)`);
  }
  warnings.push(...fitter.warnings());
  return { fitted, warnings };
}

// ---------------------------------------------------------------------------------------------
// The k-d tree (ehg126, ehg124, ehg129, ehg106, ehg125) in one dimension.

interface Tree {
  /** Vertex positions: the two corners of the bounding box, then one per split, in creation order. */
  readonly vertex: number[];
  /** Per cell: split value, or NaN for a leaf; children; lower and upper vertex. */
  readonly cut: number[];
  readonly left: number[];
  readonly right: number[];
  readonly lower: number[];
  readonly upper: number[];
  /** Whether lowesb would warn that the tree hit its memory bound. */
  readonly limited: boolean;
}

/**
 * Cells are processed in creation order (breadth first), as ehg124's loop over p, which matters
 * when the memory bound (nvmax cells and vertices, max(200, n) in loessc.c) stops the splitting.
 */
function buildTree(xs: Float64Array, fc: number, nvmax: number): Tree {
  const n = xs.length;
  // ehg126: the bounding box, widened by 0.5% of the range on each side (or a tiny absolute
  // amount when all x are equal) so that no data point sits on its boundary.
  const lo = xs[0] as number;
  const hi = xs[n - 1] as number;
  const margin = 0.005 * Math.max(hi - lo, 1e-10 * Math.max(Math.abs(lo), Math.abs(hi)) + 1e-30);
  const vertex = [lo - margin, hi + margin];
  const cut: number[] = [Number.NaN];
  const left: number[] = [-1];
  const right: number[] = [-1];
  const lower: number[] = [0];
  const upper: number[] = [1];
  // First and last sorted index of each cell's points.
  const first: number[] = [0];
  const last: number[] = [n - 1];
  const ncmax = nvmax;
  for (let p = 0; p < cut.length; p++) {
    const l = first[p] as number;
    const u = last[p] as number;
    const vl = vertex[lower[p] as number] as number;
    const vu = vertex[upper[p] as number] as number;
    // ehg124: a cell with at most fc points, or of zero width (fd = 0 in lowesb), is a leaf; so is
    // every cell once two more cells or one more vertex would exceed the bound.
    if (u - l + 1 <= fc || vu - vl <= 0) continue;
    if (ncmax < cut.length + 2 || nvmax < vertex.length + 1) continue;
    // Cut at the median; if the median ties with its successor, move to the nearest position
    // (trying m, m+1, m-1, m+2, ...) where consecutive values differ, so that all ties go to one
    // side. ehg124 gives up, keeping the median, as soon as the next candidate leaves [l, u).
    const m0 = Math.floor((l + u) / 2);
    let m = m0;
    for (let offset = 0; ; ) {
      const j = m0 + offset;
      if (j >= u || j < l) break;
      if (xs[j] !== xs[j + 1]) {
        m = j;
        break;
      }
      offset = -offset;
      if (offset >= 0) offset += 1;
    }
    const xi = xs[m] as number;
    // A cut on the cell's own boundary would make an empty cell: leaf.
    if (xi === vl || xi === vu) continue;
    // ehg125 would reuse an existing vertex at the same place; in one dimension none can exist
    // strictly inside a cell, so the cut is always a new vertex.
    const v = vertex.length;
    vertex.push(xi);
    cut[p] = xi;
    left[p] = cut.length;
    right[p] = cut.length + 1;
    for (const [f, t, a, b] of [
      [l, m, lower[p] as number, v],
      [m + 1, u, v, upper[p] as number],
    ]) {
      cut.push(Number.NaN);
      left.push(-1);
      right.push(-1);
      first.push(f as number);
      last.push(t as number);
      lower.push(a as number);
      upper.push(b as number);
    }
  }
  // lowesb's closing check (vc / 2 = 1 new vertex, 2 new cells per split).
  const limited = nvmax < vertex.length + 1 || ncmax < cut.length + 2;
  return { vertex, cut, left, right, lower, upper, limited };
}

/** ehg128 for d = 1: descend to z's leaf (z <= cut goes left), cubic Hermite between its vertices. */
function blend(tree: Tree, value: Float64Array, slope: Float64Array, z: number): number {
  let j = 0;
  for (let c = tree.cut[0] as number; !Number.isNaN(c); c = tree.cut[j] as number) {
    j = (z <= c ? tree.left[j] : tree.right[j]) as number;
  }
  const a = tree.lower[j] as number;
  const b = tree.upper[j] as number;
  const v0 = tree.vertex[a] as number;
  const v1 = tree.vertex[b] as number;
  const h = (z - v0) / (v1 - v0);
  // Written in ehg128's order of operations.
  const phi0 = (1 - h) * (1 - h) * (1 + 2 * h);
  const phi1 = h * h * (3 - 2 * h);
  const psi0 = h * ((1 - h) * (1 - h));
  const psi1 = h * h * (h - 1);
  return (
    phi0 * (value[a] as number) +
    phi1 * (value[b] as number) +
    (psi0 * (slope[a] as number) + psi1 * (slope[b] as number)) * (v1 - v0)
  );
}

// ---------------------------------------------------------------------------------------------
// The local regression (ehg127).

class LocalFitter {
  private readonly k: number;
  /** Squared distances to the current fitting point, in input order. */
  private readonly dist: Float64Array;
  /**
   * dloess's neighbour permutation: after a fit its first nf entries are the nf nearest points.
   * It starts as the identity and each fit's partial sort starts from the previous fit's result,
   * as in ehg139 (and ehg136), so the rows enter the least squares in dloess's order: that order
   * decides the rounding, which is visible when a neighbourhood is nearly singular.
   */
  private readonly psi: Int32Array;
  /** Design matrix, column-major with nf rows, and the weighted response. */
  private readonly b: Float64Array;
  private readonly eta: Float64Array;
  private singular = 0;
  private firstSingular = 0;
  private readonly boundary: number[] = [];

  constructor(
    private readonly x: Float64Array,
    private readonly y: Float64Array,
    private readonly nf: number,
    private readonly span: number,
    degree: number,
  ) {
    const n = x.length;
    this.k = degree + 1;
    this.dist = new Float64Array(n);
    this.psi = new Int32Array(n);
    for (let i = 0; i < n; i++) this.psi[i] = i;
    this.b = new Float64Array(nf * this.k);
    this.eta = new Float64Array(nf);
  }

  /** Local fit at q: out[0] the value, out[1] the slope. */
  fit(q: number, out: Float64Array): void {
    const { x, y, nf, k, dist, psi, b, eta } = this;
    const n = x.length;
    for (let i = 0; i < n; i++) {
      const dx = (x[i] as number) - q;
      dist[i] = dx * dx;
    }
    select(nf - 1, dist, psi);
    // ehg127: the squared radius is the nf-th smallest squared distance, times span when span > 1
    // (then nf = n): the radius grows by sqrt(span), where R's documentation of loess says
    // span^(1/p); the code is what counts.
    const rho = (dist[psi[nf - 1] as number] as number) * Math.max(1, this.span);
    if (!(rho > 0)) {
      // ehg127 warns (120) and divides by zero: R returns NaN fits.
      throw new ArgumentError(
        `loess: span ${this.span} makes a zero-width neighbourhood at x = ${q}: ${nf} or more points have that value; make span bigger`,
        { key: "span", value: this.span },
      );
    }
    // Tricube weights, square-rooted because they multiply the rows of the least-squares problem.
    // Points at exactly the radius get weight 0.
    let wmax = 0;
    for (let r = 0; r < nf; r++) {
      const i = psi[r] as number;
      const s = Math.sqrt((dist[i] as number) / rho);
      const c = 1 - s * s * s;
      const w = Math.sqrt(c * c * c);
      const dx = (x[i] as number) - q;
      if (w > wmax) wmax = w;
      b[r] = w;
      b[nf + r] = w * dx;
      if (k === 3) b[2 * nf + r] = w * (dx * dx);
      eta[r] = w * (y[i] as number);
    }
    if (wmax === 0) this.boundary.push(q);
    // Equilibrate the columns to unit length (the tolerance below is relative to these).
    const colnor = [1, 1, 1];
    for (let c = 0; c < k; c++) {
      let ss = 0;
      for (let r = 0; r < nf; r++) ss += (b[c * nf + r] as number) ** 2;
      const scal = Math.sqrt(ss);
      if (scal > 0) {
        for (let r = 0; r < nf; r++) b[c * nf + r] = (b[c * nf + r] as number) / scal;
        colnor[c] = scal;
      }
    }
    householderQr(b, nf, k, eta);
    // dsvdc of the k x k triangle R, then the pseudo-inverse: components whose singular value is
    // at most 100 * eps * sigma_max are dropped (this is what keeps tied neighbourhoods finite).
    const svd = smallSvd(b, nf, k);
    const sigma = svd.sigma;
    const tol = (sigma[0] as number) * (100 * EPS);
    if ((sigma[k - 1] as number) <= tol) {
      if (this.singular === 0) this.firstSingular = q;
      this.singular++;
    }
    const gamma = [0, 0, 0];
    for (let j = 0; j < k; j++) {
      if (tol < (sigma[j] as number)) {
        let s = 0;
        for (let i = 0; i < k; i++) s += (svd.u[i * 3 + j] as number) * (eta[i] as number);
        gamma[j] = s / (sigma[j] as number);
      }
    }
    // Undo the equilibration: coefficient c = sum_j V[c][j] / colnor[c] * gamma[j].
    for (let c = 0; c < 2; c++) {
      let s = 0;
      for (let j = 0; j < k; j++)
        s += ((svd.v[c * 3 + j] as number) / (colnor[c] as number)) * (gamma[j] as number);
      out[c] = s;
    }
  }

  warnings(): string[] {
    const w: string[] = [];
    if (this.boundary.length > 0) {
      w.push(
        `all points on the boundary of the neighbourhood at x = ${this.boundary[0]} (${this.boundary.length} local fits); make span bigger`,
      );
    }
    if (this.singular > 0) {
      w.push(`pseudoinverse used at x = ${this.firstSingular} (${this.singular} near-singular local fits)`);
    }
    return w;
  }
}

/**
 * ehg106: reorders the permutation pi so that p[pi[k]] is the (k+1)-th smallest of p[pi[0..n)],
 * with no larger value before it and no smaller one after (Floyd & Rivest's selection, CACM
 * algorithm 489, without its sampling step). Reproduced step for step because the order it leaves
 * is the order of the rows in the local fits.
 */
function select(k: number, p: Float64Array, pi: Int32Array): void {
  const swap = (a: number, b: number) => {
    const t = pi[a] as number;
    pi[a] = pi[b] as number;
    pi[b] = t;
  };
  const at = (i: number) => p[pi[i] as number] as number;
  let l = 0;
  let r = pi.length - 1;
  while (l < r) {
    const t = at(k);
    let i = l;
    let j = r;
    swap(l, k);
    if (t < at(r)) swap(l, r);
    while (i < j) {
      swap(i, j);
      i++;
      j--;
      while (at(i) < t) i++;
      while (t < at(j)) j--;
    }
    if (at(l) === t) swap(l, j);
    else {
      j++;
      swap(r, j);
    }
    if (j <= k) l = j + 1;
    if (k <= j) r = j - 1;
  }
}

/**
 * LINPACK dqrdc without pivoting on the column-major rows x k matrix b, overwriting its upper
 * triangle with R, and dqrsl's Q^T applied to eta alongside. A column already zero below the
 * diagonal is left alone (dqrdc skips it). Norms are plain square roots of sums of squares, as the
 * reference BLAS's dnrm2 computes them for values in the normal range.
 */
function householderQr(b: Float64Array, rows: number, k: number, eta: Float64Array): void {
  for (let l = 0; l < k; l++) {
    const col = l * rows;
    let ss = 0;
    for (let i = l; i < rows; i++) ss += (b[col + i] as number) ** 2;
    let nrm = Math.sqrt(ss);
    if (nrm === 0) continue;
    if ((b[col + l] as number) !== 0) nrm = Math.sign(b[col + l] as number) * nrm;
    const inv = 1 / nrm;
    for (let i = l; i < rows; i++) b[col + i] = (b[col + i] as number) * inv;
    b[col + l] = 1 + (b[col + l] as number);
    const pivot = b[col + l] as number;
    for (let j = l + 1; j <= k; j++) {
      // Column k is eta.
      const target = j < k ? b : eta;
      const off = j < k ? j * rows : 0;
      let dot = 0;
      for (let i = l; i < rows; i++) dot += (b[col + i] as number) * (target[off + i] as number);
      const t = -dot / pivot;
      for (let i = l; i < rows; i++)
        target[off + i] = (target[off + i] as number) + t * (b[col + i] as number);
    }
    b[col + l] = -nrm;
  }
}

interface SmallSvd {
  /** Singular values, descending. */
  readonly sigma: Float64Array;
  /** Left and right singular vectors, row-major 3 x 3, column j for sigma[j]. */
  readonly u: Float64Array;
  readonly v: Float64Array;
}

/**
 * LINPACK dsvdc as R has it (src/appl/dsvdc.f) for the k x k upper triangle of the QR result,
 * k <= 3: Householder bidiagonalisation, then implicitly shifted QR sweeps with Givens rotations,
 * step for step. Its structure decides nearly singular fits: the right-hand reflections leave the
 * first coordinate (the intercept) alone, and R's test for a negligible (super)diagonal entry is
 * relative (adding it changes its neighbours' sum by at most 1e-15), so a direction among the slope
 * terms that only a tiny weight determines is split off without touching the fitted value. A
 * generic SVD, a back-substitution, or dsvdc with netlib's original test (the entry is negligible
 * only when adding it changes nothing; scikit-misc bundles that version) leave condition number x
 * eps of rounding noise in the value instead.
 */
function smallSvd(b: Float64Array, rows: number, k: number): SmallSvd {
  // 1-based, column-major k x k arrays: x(i, j) = x[(j - 1) * k + i - 1].
  const at = (i: number, j: number) => (j - 1) * k + i - 1;
  const x = new Float64Array(k * k);
  for (let j = 1; j <= k; j++) for (let i = 1; i <= j; i++) x[at(i, j)] = b[(j - 1) * rows + i - 1] as number;
  const u = new Float64Array(k * k);
  const v = new Float64Array(k * k);
  const s = new Float64Array(k + 2);
  const e = new Float64Array(k + 2);
  const work = new Float64Array(k + 2);
  const nct = k - 1;
  const nrt = Math.max(0, k - 2);
  const withSign = (a: number, sign: number) => (sign >= 0 ? Math.abs(a) : -Math.abs(a));
  const rot = (m: Float64Array, c1: number, c2: number, cs: number, sn: number) => {
    for (let i = 1; i <= k; i++) {
      const p = m[at(i, c1)] as number;
      const q = m[at(i, c2)] as number;
      m[at(i, c1)] = cs * p + sn * q;
      m[at(i, c2)] = cs * q - sn * p;
    }
  };

  // Reduce to bidiagonal form: column reflections (stored in x's lower part) and row reflections
  // (stored in v).
  for (let l = 1; l <= Math.max(nct, nrt); l++) {
    if (l <= nct) {
      let ss = 0;
      for (let i = l; i <= k; i++) ss += (x[at(i, l)] as number) ** 2;
      let sl = Math.sqrt(ss);
      if (sl !== 0) {
        if ((x[at(l, l)] as number) !== 0) sl = withSign(sl, x[at(l, l)] as number);
        const inv = 1 / sl;
        for (let i = l; i <= k; i++) x[at(i, l)] = (x[at(i, l)] as number) * inv;
        x[at(l, l)] = 1 + (x[at(l, l)] as number);
      }
      s[l] = -sl;
    }
    for (let j = l + 1; j <= k; j++) {
      if (l <= nct && s[l] !== 0) {
        let dot = 0;
        for (let i = l; i <= k; i++) dot += (x[at(i, l)] as number) * (x[at(i, j)] as number);
        const t = -dot / (x[at(l, l)] as number);
        for (let i = l; i <= k; i++) x[at(i, j)] = (x[at(i, j)] as number) + t * (x[at(i, l)] as number);
      }
      e[j] = x[at(l, j)] as number;
    }
    if (l <= nct) for (let i = l; i <= k; i++) u[at(i, l)] = x[at(i, l)] as number;
    if (l <= nrt) {
      let ss = 0;
      for (let i = l + 1; i <= k; i++) ss += (e[i] as number) ** 2;
      let el = Math.sqrt(ss);
      if (el !== 0) {
        if ((e[l + 1] as number) !== 0) el = withSign(el, e[l + 1] as number);
        const inv = 1 / el;
        for (let i = l + 1; i <= k; i++) e[i] = (e[i] as number) * inv;
        e[l + 1] = 1 + (e[l + 1] as number);
      }
      e[l] = -el;
      if (l + 1 <= k && e[l] !== 0) {
        for (let i = l + 1; i <= k; i++) work[i] = 0;
        for (let j = l + 1; j <= k; j++) {
          for (let i = l + 1; i <= k; i++)
            work[i] = (work[i] as number) + (e[j] as number) * (x[at(i, j)] as number);
        }
        for (let j = l + 1; j <= k; j++) {
          const t = -(e[j] as number) / (e[l + 1] as number);
          for (let i = l + 1; i <= k; i++) x[at(i, j)] = (x[at(i, j)] as number) + t * (work[i] as number);
        }
      }
      for (let i = l + 1; i <= k; i++) v[at(i, l)] = e[i] as number;
    }
  }
  // The bidiagonal matrix: diagonal s[1..k], superdiagonal e[1..k-1].
  let m = k;
  s[k] = x[at(k, k)] as number;
  if (nrt + 1 < m) e[nrt + 1] = x[at(nrt + 1, m)] as number;
  e[m] = 0;
  // Accumulate U and V from the stored reflections.
  for (let i = 1; i <= k; i++) u[at(i, k)] = 0;
  u[at(k, k)] = 1;
  for (let l = nct; l >= 1; l--) {
    if (s[l] !== 0) {
      for (let j = l + 1; j <= k; j++) {
        let dot = 0;
        for (let i = l; i <= k; i++) dot += (u[at(i, l)] as number) * (u[at(i, j)] as number);
        const t = -dot / (u[at(l, l)] as number);
        for (let i = l; i <= k; i++) u[at(i, j)] = (u[at(i, j)] as number) + t * (u[at(i, l)] as number);
      }
      for (let i = l; i <= k; i++) u[at(i, l)] = -(u[at(i, l)] as number);
      u[at(l, l)] = 1 + (u[at(l, l)] as number);
      for (let i = 1; i < l; i++) u[at(i, l)] = 0;
    } else {
      for (let i = 1; i <= k; i++) u[at(i, l)] = 0;
      u[at(l, l)] = 1;
    }
  }
  for (let l = k; l >= 1; l--) {
    if (l <= nrt && e[l] !== 0) {
      for (let j = l + 1; j <= k; j++) {
        let dot = 0;
        for (let i = l + 1; i <= k; i++) dot += (v[at(i, l)] as number) * (v[at(i, j)] as number);
        const t = -dot / (v[at(l + 1, l)] as number);
        for (let i = l + 1; i <= k; i++) v[at(i, j)] = (v[at(i, j)] as number) + t * (v[at(i, l)] as number);
      }
    }
    for (let i = 1; i <= k; i++) v[at(i, l)] = 0;
    v[at(l, l)] = 1;
  }

  // Diagonalise. R's dsvdc treats a term as negligible when adding it changes a sum of its
  // neighbours by at most 1e-15 relative.
  const negligible = (test: number, add: number) => Math.abs(test - (test + add)) / (1e-100 + test) <= 1e-15;
  const mm = m;
  let iter = 0;
  while (m > 0 && iter < 30) {
    let l = m - 1;
    for (; l > 0; l--) {
      if (negligible(Math.abs(s[l] as number) + Math.abs(s[l + 1] as number), Math.abs(e[l] as number))) {
        e[l] = 0;
        break;
      }
    }
    let kase: 1 | 2 | 3 | 4;
    if (l === m - 1) kase = 4;
    else {
      let ls = m;
      for (; ls > l; ls--) {
        let test = 0;
        if (ls !== m) test += Math.abs(e[ls] as number);
        if (ls !== l + 1) test += Math.abs(e[ls - 1] as number);
        if (negligible(test, Math.abs(s[ls] as number))) {
          s[ls] = 0;
          break;
        }
      }
      if (ls === l) kase = 3;
      else if (ls === m) kase = 1;
      else {
        kase = 2;
        l = ls;
      }
    }
    l += 1;
    if (kase === 1) {
      // s[m] negligible: chase e[m-1] up.
      let f = e[m - 1] as number;
      e[m - 1] = 0;
      for (let kk = m - 1; kk >= l; kk--) {
        const g = givens(s[kk] as number, f);
        s[kk] = g.r;
        if (kk !== l) {
          f = -g.s * (e[kk - 1] as number);
          e[kk - 1] = g.c * (e[kk - 1] as number);
        }
        rot(v, kk, m, g.c, g.s);
      }
    } else if (kase === 2) {
      // s[l-1] negligible: split there.
      let f = e[l - 1] as number;
      e[l - 1] = 0;
      for (let kk = l; kk <= m; kk++) {
        const g = givens(s[kk] as number, f);
        s[kk] = g.r;
        f = -g.s * (e[kk] as number);
        e[kk] = g.c * (e[kk] as number);
        rot(u, kk, l - 1, g.c, g.s);
      }
    } else if (kase === 3) {
      // One QR sweep with the shift from the trailing 2 x 2.
      const scale = Math.max(
        Math.abs(s[m] as number),
        Math.abs(s[m - 1] as number),
        Math.abs(e[m - 1] as number),
        Math.abs(s[l] as number),
        Math.abs(e[l] as number),
      );
      const sm = (s[m] as number) / scale;
      const smm1 = (s[m - 1] as number) / scale;
      const emm1 = (e[m - 1] as number) / scale;
      const sl = (s[l] as number) / scale;
      const el = (e[l] as number) / scale;
      const bb = ((smm1 + sm) * (smm1 - sm) + emm1 * emm1) / 2;
      const cc = sm * emm1 * (sm * emm1);
      let shift = 0;
      if (!(bb === 0 && cc === 0)) {
        shift = Math.sqrt(bb * bb + cc);
        if (bb < 0) shift = -shift;
        shift = cc / (bb + shift);
      }
      let f = (sl + sm) * (sl - sm) + shift;
      let g = sl * el;
      for (let kk = l; kk <= m - 1; kk++) {
        let r = givens(f, g);
        if (kk !== l) e[kk - 1] = r.r;
        f = r.c * (s[kk] as number) + r.s * (e[kk] as number);
        e[kk] = r.c * (e[kk] as number) - r.s * (s[kk] as number);
        g = r.s * (s[kk + 1] as number);
        s[kk + 1] = r.c * (s[kk + 1] as number);
        rot(v, kk, kk + 1, r.c, r.s);
        r = givens(f, g);
        s[kk] = r.r;
        f = r.c * (e[kk] as number) + r.s * (s[kk + 1] as number);
        s[kk + 1] = -r.s * (e[kk] as number) + r.c * (s[kk + 1] as number);
        g = r.s * (e[kk + 1] as number);
        e[kk + 1] = r.c * (e[kk + 1] as number);
        if (kk < k) rot(u, kk, kk + 1, r.c, r.s);
      }
      e[m - 1] = f;
      iter++;
    } else {
      // s[l] converged: make it non-negative and move it into descending order.
      if ((s[l] as number) < 0) {
        s[l] = -(s[l] as number);
        for (let i = 1; i <= k; i++) v[at(i, l)] = -(v[at(i, l)] as number);
      }
      while (l !== mm && (s[l] as number) < (s[l + 1] as number)) {
        const t = s[l] as number;
        s[l] = s[l + 1] as number;
        s[l + 1] = t;
        for (const w of [u, v]) {
          for (let i = 1; i <= k; i++) {
            const p = w[at(i, l)] as number;
            w[at(i, l)] = w[at(i, l + 1)] as number;
            w[at(i, l + 1)] = p;
          }
        }
        l++;
      }
      iter = 0;
      m--;
    }
  }
  const sigma = new Float64Array(k);
  const ur = new Float64Array(9);
  const vr = new Float64Array(9);
  for (let j = 1; j <= k; j++) {
    sigma[j - 1] = s[j] as number;
    for (let i = 1; i <= k; i++) {
      ur[(i - 1) * 3 + j - 1] = u[at(i, j)] as number;
      vr[(i - 1) * 3 + j - 1] = v[at(i, j)] as number;
    }
  }
  return { sigma, u: ur, v: vr };
}

/**
 * BLAS drotg: the rotation (c, s) taking (a, b) to (r, 0), r signed as the larger of a and b. The
 * scaling by the larger magnitude is the reference BLAS's since LAPACK 3.10 (Debian's libblas3,
 * with which R's results are reproduced to the bit); netlib's older drotg, bundled by scikit-misc,
 * scales by |a| + |b|, which rounds differently.
 */
function givens(a: number, b: number): { r: number; c: number; s: number } {
  const scl = Math.max(Math.abs(a), Math.abs(b));
  if (scl === 0) return { r: 0, c: 1, s: 0 };
  const roe = Math.abs(a) > Math.abs(b) ? a : b;
  let r = scl * Math.sqrt((a / scl) ** 2 + (b / scl) ** 2);
  if (roe < 0) r = -r;
  return { r, c: a / r, s: b / r };
}
