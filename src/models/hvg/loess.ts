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
// sorted values and a local fit reads a contiguous window of them; dloess gets the same sets with
// partial sorts of index permutations. Only the order in which rows enter the sums differs, so
// results agree with R to rounding (tests/models/hvg/loess.test.ts measures how closely).

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

  const order = sortedOrder(x);
  const xs = new Float64Array(n);
  const ys = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    xs[i] = x[order[i] as number] as number;
    ys[i] = y[order[i] as number] as number;
  }
  const fitter = new LocalFitter(xs, ys, nf, span, degree);
  const fitted = new Float64Array(n);
  const warnings: string[] = [];
  const out = new Float64Array(2);

  if (surface === "direct") {
    // lowesf/ehg136 at every data point; equal x give equal fits, so each value is fitted once.
    for (let i = 0; i < n; ) {
      fitter.fit(xs[i] as number, out);
      let j = i;
      while (j < n && xs[j] === xs[i]) fitted[order[j++] as number] = out[0] as number;
      i = j;
    }
  } else {
    // lowesb: tree, then a fit at every vertex; lowese: blend at the data.
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

/** Indices of x in ascending order of value. */
function sortedOrder(x: Float64Array): Int32Array {
  const n = x.length;
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  return order.sort((a, b) => (x[a] as number) - (x[b] as number));
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
  /** Design matrix, column-major with nf rows, and the weighted response. */
  private readonly b: Float64Array;
  private readonly eta: Float64Array;
  private singular = 0;
  private firstSingular = 0;
  private readonly boundary: number[] = [];

  constructor(
    private readonly xs: Float64Array,
    private readonly ys: Float64Array,
    private readonly nf: number,
    private readonly span: number,
    degree: number,
  ) {
    this.k = degree + 1;
    this.b = new Float64Array(nf * this.k);
    this.eta = new Float64Array(nf);
  }

  /** Local fit at q: out[0] the value, out[1] the slope (0 for degree 0, unused here). */
  fit(q: number, out: Float64Array): void {
    const { xs, ys, nf, k, b, eta } = this;
    const n = xs.length;
    // The nf nearest points form a window of the sorted x; grow it from q's insertion point.
    let lo: number;
    let hi: number;
    let rho: number;
    if (nf === n) {
      lo = 0;
      hi = n - 1;
      const d = Math.max(q - (xs[0] as number), (xs[n - 1] as number) - q);
      // ehg127: rho = (nf-th smallest squared distance) * max(1, span). For span > 1 this widens
      // the squared radius by span, i.e. the radius by sqrt(span) (the documentation of R's
      // loess says span^(1/p); the code is what counts).
      rho = d * d * Math.max(1, this.span);
    } else {
      let i = lowerBound(xs, q) - 1;
      let j = i + 1;
      let d = 0;
      for (let t = 0; t < nf; t++) {
        const dl = i >= 0 ? q - (xs[i] as number) : Number.POSITIVE_INFINITY;
        const dr = j < n ? (xs[j] as number) - q : Number.POSITIVE_INFINITY;
        if (dl <= dr) {
          d = dl;
          i--;
        } else {
          d = dr;
          j++;
        }
      }
      lo = i + 1;
      hi = j - 1;
      rho = d * d;
    }
    if (!(rho > 0)) {
      // ehg127 warns (120) and divides by zero: R returns NaN fits.
      throw new ArgumentError(
        `loess: span ${this.span} makes a zero-width neighbourhood at x = ${q}: ${nf} or more points have that value; make span bigger`,
        { key: "span", value: this.span },
      );
    }
    const rows = hi - lo + 1;
    // Tricube weights, square-rooted because they multiply the rows of the least-squares problem.
    // Points at exactly the radius get weight 0.
    let wmax = 0;
    for (let r = 0; r < rows; r++) {
      const dx = (xs[lo + r] as number) - q;
      const s = Math.sqrt((dx * dx) / rho);
      const c = 1 - s * s * s;
      const w = Math.sqrt(c * c * c);
      if (w > wmax) wmax = w;
      b[r] = w;
      b[rows + r] = w * dx;
      if (k === 3) b[2 * rows + r] = w * (dx * dx);
      eta[r] = w * (ys[lo + r] as number);
    }
    if (wmax === 0) this.boundary.push(q);
    // Equilibrate the columns to unit length (the tolerance below is relative to these).
    const colnor = [1, 1, 1];
    for (let c = 0; c < k; c++) {
      let ss = 0;
      for (let r = 0; r < rows; r++) ss += (b[c * rows + r] as number) ** 2;
      const scal = Math.sqrt(ss);
      if (scal > 0) {
        for (let r = 0; r < rows; r++) b[c * rows + r] = (b[c * rows + r] as number) / scal;
        colnor[c] = scal;
      }
    }
    householderQr(b, rows, k, eta);
    // dsvdc of the k x k triangle R, then the pseudo-inverse: components whose singular value is
    // at most 100 * eps * sigma_max are dropped (this is what keeps tied neighbourhoods finite).
    const svd = smallSvd(b, rows, k);
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
      if (c < k) {
        for (let j = 0; j < k; j++)
          s += ((svd.v[c * 3 + j] as number) / (colnor[c] as number)) * (gamma[j] as number);
      }
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

/** First index i with xs[i] >= q. */
function lowerBound(xs: Float64Array, q: number): number {
  let a = 0;
  let b = xs.length;
  while (a < b) {
    const mid = (a + b) >>> 1;
    if ((xs[mid] as number) < q) a = mid + 1;
    else b = mid;
  }
  return a;
}

/**
 * LINPACK dqrdc without pivoting on the column-major rows x k matrix b, overwriting its upper
 * triangle with R, and dqrsl's Q^T applied to eta alongside. A column already zero below the
 * diagonal is left alone (dqrdc skips it).
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
 * SVD of the k x k upper triangle of the QR result (k <= 3) by one-sided Jacobi rotations (Hestenes),
 * which gives singular values to full absolute accuracy, enough for dloess's rank decision at
 * 100 * eps * sigma_max. dloess uses LINPACK's dsvdc; the decomposition is the same up to signs.
 */
function smallSvd(b: Float64Array, rows: number, k: number): SmallSvd {
  const a = new Float64Array(9);
  for (let i = 0; i < k; i++) for (let j = i; j < k; j++) a[i * 3 + j] = b[j * rows + i] as number;
  const v = new Float64Array(9);
  for (let i = 0; i < k; i++) v[i * 3 + i] = 1;
  for (let sweep = 0; sweep < 60; sweep++) {
    let rotated = false;
    for (let p = 0; p < k - 1; p++) {
      for (let q = p + 1; q < k; q++) {
        let alpha = 0;
        let beta = 0;
        let gamma = 0;
        for (let i = 0; i < k; i++) {
          const ap = a[i * 3 + p] as number;
          const aq = a[i * 3 + q] as number;
          alpha += ap * ap;
          beta += aq * aq;
          gamma += ap * aq;
        }
        if (gamma === 0 || Math.abs(gamma) <= EPS * Math.sqrt(alpha * beta)) continue;
        rotated = true;
        const zeta = (beta - alpha) / (2 * gamma);
        const t = (zeta >= 0 ? 1 : -1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const c = 1 / Math.sqrt(1 + t * t);
        const s = c * t;
        for (const m of [a, v]) {
          for (let i = 0; i < k; i++) {
            const mp = m[i * 3 + p] as number;
            const mq = m[i * 3 + q] as number;
            m[i * 3 + p] = c * mp - s * mq;
            m[i * 3 + q] = s * mp + c * mq;
          }
        }
      }
    }
    if (!rotated) break;
  }
  const norms = [0, 0, 0];
  for (let j = 0; j < k; j++) {
    let ss = 0;
    for (let i = 0; i < k; i++) ss += (a[i * 3 + j] as number) ** 2;
    norms[j] = Math.sqrt(ss);
  }
  const idx = [0, 1, 2].slice(0, k).sort((p, q) => (norms[q] as number) - (norms[p] as number));
  const sigma = new Float64Array(k);
  const u = new Float64Array(9);
  const vs = new Float64Array(9);
  idx.forEach((src, dst) => {
    const s = norms[src] as number;
    sigma[dst] = s;
    for (let i = 0; i < k; i++) {
      u[i * 3 + dst] = s > 0 ? (a[i * 3 + src] as number) / s : 0;
      vs[i * 3 + dst] = v[i * 3 + src] as number;
    }
  });
  return { sigma, u, v: vs };
}
