// Seeded random numbers: Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as
// 1, 2, 3", SC 2011), the counter-based generator that PyTorch and JAX also use. Its whole state
// is a key, a counter and a position in the current block, so it saves to JSON and a resumed run
// draws exactly the numbers an uninterrupted run would have drawn.

import { ArgumentError } from "../errors.js";
import { kernels } from "./kernels/index.js";
import { incrementCounter, philox4x32 } from "./kernels/philox-ts.js";
import { logFactorial } from "./special.js";

export { philox4x32 };

const TWO_POW_32 = 4294967296;

/** Counts up to this are drawn as Bernoulli trials (Generator.binomial). */
const BERNOULLI_TRIALS_MAX = 16;

/** Normal pairs drawn per bulk fill of fillNormal (bounds its scratch words to 64 KiB). */
const NORMAL_PAIRS_PER_FILL = 4096;

/** The double uniform on [0, 1) that two successive words give: 27 high bits of the first, 26 of the second. */
function wordsToDouble(first: number, second: number): number {
  return ((first >>> 5) * 67108864 + (second >>> 6)) / 9007199254740992;
}

/** The saveable state of a Generator (plain JSON). */
export interface GeneratorState {
  readonly key: [number, number];
  readonly counter: [number, number, number, number];
  /** Words of the current block already used (0..4). */
  readonly used: number;
}

/**
 * A seeded random number generator (Philox4x32, as torch's CUDA generator family), the only source
 * of randomness of the library: models, transforms and samplers each draw from their own
 * Generator, and its state is saved in checkpoints so that a resumed run draws the same numbers.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Generator, randn } from "cellarium-ts";
 *
 * const a = randn([3], new Generator(42));
 * const b = randn([3], new Generator(42));
 * assert.deepEqual(a.toArray(), b.toArray()); // same seed, same draws
 * ```
 */
export class Generator {
  private readonly key = new Uint32Array(2);
  private readonly counter = new Uint32Array(4);
  private readonly block = new Uint32Array(4);
  private used = 4;

  /** A generator for a non-negative integer seed below 2^53 (the low and high words form the key). */
  constructor(seed = 0) {
    if (!Number.isSafeInteger(seed) || seed < 0) {
      throw new ArgumentError(`Generator: seed must be a non-negative safe integer, got ${seed}`);
    }
    this.key[0] = seed % TWO_POW_32;
    this.key[1] = Math.floor(seed / TWO_POW_32);
  }

  /** A generator at the position `getState()` returned. */
  static fromState(state: GeneratorState): Generator {
    const generator = new Generator(0);
    generator.setState(state);
    return generator;
  }

  /** The generator's position, as plain data (JSON-serializable) for a checkpoint. */
  getState(): GeneratorState {
    const [k0, k1] = this.key;
    const [c0, c1, c2, c3] = this.counter;
    return { key: [k0!, k1!], counter: [c0!, c1!, c2!, c3!], used: this.used };
  }

  /** Moves the generator to a position `getState()` returned. */
  setState(state: GeneratorState): void {
    if (state.key?.length !== 2 || state.counter?.length !== 4 || !(state.used >= 0 && state.used <= 4)) {
      throw new ArgumentError(`Generator: invalid state ${JSON.stringify(state)}`);
    }
    this.key.set(state.key);
    this.counter.set(state.counter);
    this.used = state.used;
    // The current block is a function of the counter before its increment.
    if (this.used < 4) this.refill(false);
  }

  /** A uniformly distributed unsigned 32-bit integer. */
  nextUint32(): number {
    if (this.used === 4) this.refill(true);
    return this.block[this.used++]!;
  }

  /** Fills `out` with the next out.length 32-bit words of the stream (as nextUint32 would give them). */
  fillUint32(out: Uint32Array): void {
    let i = 0;
    while (i < out.length && this.used < 4) out[i++] = this.block[this.used++]!;
    // Whole blocks straight into the output (the counter advances per block, as in refill),
    // then the remainder through the current block.
    const whole = (out.length - i) & ~3;
    kernels().philoxBlocks({ key: this.key, counter: this.counter, out: out.subarray(i, i + whole) });
    i += whole;
    while (i < out.length) out[i++] = this.nextUint32();
  }

  /** A double uniform on [0, 1) with 53 random bits. */
  nextDouble(): number {
    const hi = this.nextUint32();
    return wordsToDouble(hi, this.nextUint32());
  }

  /** An integer uniform on [low, high), without modulo bias (rejection sampling). */
  randint(low: number, high: number): number {
    const range = high - low;
    if (!Number.isSafeInteger(low) || !Number.isSafeInteger(high) || range <= 0 || range > TWO_POW_32) {
      throw new ArgumentError(
        `randint: need integers low < high with high - low <= 2^32, got [${low}, ${high})`,
      );
    }
    // Accept only draws below the largest multiple of range that fits in 32 bits.
    const limit = TWO_POW_32 - (TWO_POW_32 % range);
    let draw = this.nextUint32();
    while (draw >= limit) draw = this.nextUint32();
    return low + (draw % range);
  }

  /** Fills `out` with values uniform on [low, high). Float32 draws use 24 random bits, float64 53. */
  fillUniform(out: Float32Array | Float64Array, low = 0, high = 1): void {
    const scale = high - low;
    if (out instanceof Float32Array) {
      for (let i = 0; i < out.length; i++) out[i] = low + scale * ((this.nextUint32() >>> 8) / 16777216);
    } else {
      for (let i = 0; i < out.length; i++) out[i] = low + scale * this.nextDouble();
    }
  }

  /**
   * Fills `out` with normal draws (Box-Muller on pairs; an odd length discards the last partner).
   * Each pair takes two nextDouble draws (four words); the words come in bulk through fillUint32,
   * which gives the same stream as word-by-word draws.
   */
  fillNormal(out: Float32Array | Float64Array, mean = 0, std = 1): void {
    const words = new Uint32Array(4 * Math.min(NORMAL_PAIRS_PER_FILL, Math.ceil(out.length / 2)));
    for (let start = 0; start < out.length; start += words.length / 2) {
      const pairs = Math.min(words.length / 4, Math.ceil((out.length - start) / 2));
      const used = words.subarray(0, 4 * pairs);
      this.fillUint32(used);
      for (let k = 0; k < pairs; k++) {
        const i = start + 2 * k;
        // 1 - u lies in (0, 1], so the logarithm is finite.
        const radius = Math.sqrt(-2 * Math.log(1 - wordsToDouble(used[4 * k]!, used[4 * k + 1]!)));
        const angle = 2 * Math.PI * wordsToDouble(used[4 * k + 2]!, used[4 * k + 3]!);
        out[i] = mean + std * radius * Math.cos(angle);
        if (i + 1 < out.length) out[i + 1] = mean + std * radius * Math.sin(angle);
      }
    }
  }

  /** Fills `out` with 1 where a uniform draw falls below p, else 0. */
  fillBernoulli(out: Uint8Array | Float32Array | Float64Array | Int32Array, p: number): void {
    if (!(p >= 0 && p <= 1)) throw new ArgumentError(`bernoulli: p must be in [0, 1], got ${p}`);
    for (let i = 0; i < out.length; i++) out[i] = this.nextDouble() < p ? 1 : 0;
  }

  /**
   * A Binomial(count, p) draw, for a whole count >= 0 and p in [0, 1] (not checked: the callers
   * check their inputs once, not per draw). Up to 16 trials are drawn one by one; beyond, as
   * torch.binomial does, a small mean (count * min(p,
   * 1 - p) < 10) counts geometric waiting times between successes (one draw per success, so the
   * work stays small), a larger one uses Hoermann's BTRS transformed rejection ("The generation of
   * binomial random variates", J. Stat. Comput. Simul. 46, 1993), about 1.2 pairs of draws per
   * sample whatever the count; above p = 1/2 it draws the failures.
   */
  binomial(count: number, p: number): number {
    if (count === 0 || p <= 0) return 0;
    if (p >= 1) return count;
    // Few trials (most single-cell counts): one 32-bit word per trial, no logarithms.
    if (count <= BERNOULLI_TRIALS_MAX) {
      const threshold = p * TWO_POW_32;
      let successes = 0;
      for (let t = 0; t < count; t++) if (this.nextUint32() < threshold) successes++;
      return successes;
    }
    const q = p > 0.5 ? 1 - p : p;
    const k = count * q < 10 ? this.binomialByWaits(count, q) : this.binomialBtrs(count, q);
    return p > 0.5 ? count - k : k;
  }

  /** Successes among `count` trials: geometric waits G with P(G > j) = (1 - p)^j until they pass count. */
  private binomialByWaits(count: number, p: number): number {
    const logFailure = Math.log1p(-p);
    let trials = 0;
    for (let successes = 0; ; successes++) {
      // u in [0, 1): a wait of at least 1; u = 0 is an infinite wait.
      trials += Math.ceil(Math.log(this.nextDouble()) / logFailure);
      if (trials > count) return successes;
    }
  }

  /** BTRS for p <= 1/2 and count * p >= 10 (the paper's constants and acceptance test). */
  private binomialBtrs(count: number, p: number): number {
    const spq = Math.sqrt(count * p * (1 - p));
    const b = 1.15 + 2.53 * spq;
    const a = -0.0873 + 0.0248 * b + 0.01 * p;
    const c = count * p + 0.5;
    const alpha = (2.83 + 5.1 / b) * spq;
    const vr = 0.92 - 4.2 / b;
    const mode = Math.floor((count + 1) * p);
    const h = logFactorial(mode) + logFactorial(count - mode);
    const logOdds = Math.log(p / (1 - p));
    for (;;) {
      const u = this.nextDouble() - 0.5;
      const v = this.nextDouble();
      const us = 0.5 - Math.abs(u);
      const k = Math.floor(((2 * a) / us + b) * u + c);
      if (k < 0 || k > count) continue;
      // The squeeze: most draws are accepted without a logarithm.
      if (us >= 0.07 && v <= vr) return k;
      const logV = Math.log((v * alpha) / (a / (us * us) + b));
      if (logV <= h - logFactorial(k) - logFactorial(count - k) + (k - mode) * logOdds) return k;
    }
  }

  /** A uniformly random permutation of 0..n-1 (Fisher-Yates). */
  permutation(n: number): Int32Array {
    if (!Number.isSafeInteger(n) || n < 0 || n > 2 ** 31 - 1) {
      throw new ArgumentError(`permutation: n must be an integer in [0, 2^31), got ${n}`);
    }
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) out[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = this.randint(0, i + 1);
      const t = out[i]!;
      out[i] = out[j]!;
      out[j] = t;
    }
    return out;
  }

  private refill(advance: boolean): void {
    if (advance) {
      incrementCounter(this.counter);
      this.used = 0;
    }
    philox4x32(this.counter, this.key, this.block);
  }
}
