// The machinery behind the kernel declarations of types.ts: a kernel is declared once, as its named
// fields (each a kind: a size, a number, a flag or a typed array) and the rules between them
// (lengths, relations the kinds cannot state). From that one declaration follow the TypeScript type
// of its argument object (ArgsOf), the argument checks in front of both backends (compileChecks) and
// the order of the native addon's positional arguments (the fields' declaration order).
//
// The checks are compiled once, at load time, into flat lists that one loop walks per call: no
// allocation and no closure per call, so that hot kernels (thousands of calls a second in scVI
// training) pay what the hand-written checks cost before.

import { ArgumentError } from "../../errors.js";

export type FloatArray = Float32Array | Float64Array;

/** What a field holds: "float" is a Float32Array or Float64Array shared by every float field of the call. */
type ArrayKind = "float" | "f32" | "f64" | "i32" | "u8" | "u32";
type Kind = ArrayKind | "size" | "number" | "flag";

export interface Field<K extends Kind = Kind, N extends boolean = boolean> {
  readonly kind: K;
  readonly nullable: N;
}

/** An integer in [0, 2^31): a dimension, a count, a leading dimension or a stride. */
export const size: Field<"size", false> = { kind: "size", nullable: false };
/** Any number, unchecked (scales, eps, thresholds of the math). */
export const scalar: Field<"number", false> = { kind: "number", nullable: false };
export const flag: Field<"flag", false> = { kind: "flag", nullable: false };
export const float: Field<"float", false> = { kind: "float", nullable: false };
export const f32: Field<"f32", false> = { kind: "f32", nullable: false };
export const f64: Field<"f64", false> = { kind: "f64", nullable: false };
export const i32: Field<"i32", false> = { kind: "i32", nullable: false };
export const u8: Field<"u8", false> = { kind: "u8", nullable: false };
export const u32: Field<"u32", false> = { kind: "u32", nullable: false };

/** The same array field, null allowed (an optional input or an output not wanted). */
export function orNull<K extends ArrayKind>(field: Field<K, false>): Field<K, true> {
  return { kind: field.kind, nullable: true };
}

export type Fields = Readonly<Record<string, Field>>;

type ValueOf<K extends Kind, T extends FloatArray> = K extends "size" | "number"
  ? number
  : K extends "flag"
    ? boolean
    : K extends "float"
      ? T
      : K extends "f32"
        ? Float32Array
        : K extends "f64"
          ? Float64Array
          : K extends "i32"
            ? Int32Array
            : K extends "u8"
              ? Uint8Array
              : Uint32Array;

/** The argument object of a kernel with these fields, its float arrays of dtype T. */
export type ArgsOf<F extends Fields, T extends FloatArray = FloatArray> = {
  readonly [K in keyof F]: ValueOf<F[K]["kind"], T> | (F[K]["nullable"] extends true ? null : never);
};

/** The names of the array fields. */
type ArrayFields<F extends Fields> = { [K in keyof F]: F[K]["kind"] extends ArrayKind ? K : never }[keyof F];

export interface Rules<F extends Fields, A = ArgsOf<F>> {
  /** Lengths an array field must reach (`<kernel>: <field> needs <n> elements, got <length>`). */
  readonly atLeast?: { readonly [K in ArrayFields<F>]?: (a: A) => number };
  /** Lengths an array field must have, and the shape they make, for the message. */
  readonly exact?: {
    readonly [K in ArrayFields<F>]?: readonly [length: (a: A) => number, shape: (a: A) => string];
  };
  /** The relations the fields cannot state (leading dimensions, CSR row pointers), after the fields' checks. */
  readonly check?: (a: A, kernel: string) => void;
  /**
   * The kernel returns a number: "number" as the backends compute it (a count, a position); "raw" when
   * the backends return where a scan stopped and `finish` turns that into an ArgumentError.
   */
  readonly returns?: "number" | "raw";
  readonly finish?: (a: A, stop: number, kernel: string) => void;
}

type Returns = "void" | "number" | "raw";

export interface KernelSpec<F extends Fields, R extends Returns> {
  readonly fields: F;
  readonly rules: Rules<F>;
  readonly returns: R;
}

/** Any declaration, its rules' argument types erased (what the compiled checks walk). */
export interface AnyKernelSpec {
  readonly fields: Fields;
  readonly returns: Returns;
  readonly rules: {
    readonly atLeast?: Readonly<Record<string, ((a: never) => number) | undefined>>;
    readonly exact?: Readonly<
      Record<string, readonly [(a: never) => number, (a: never) => string] | undefined>
    >;
    readonly check?: (a: never, kernel: string) => void;
    readonly finish?: (a: never, stop: number, kernel: string) => void;
  };
}

/** Declares a kernel: its fields, in the native addon's argument order, and their rules. */
export function declare<F extends Fields>(
  fields: F,
  rules?: Rules<F> & { returns?: undefined },
): KernelSpec<F, "void">;
export function declare<F extends Fields, R extends "number" | "raw">(
  fields: F,
  rules: Rules<F> & { returns: R },
): KernelSpec<F, R>;
export function declare<F extends Fields>(fields: F, rules: Rules<F> = {}): KernelSpec<F, Returns> {
  return { fields, rules, returns: rules.returns ?? "void" };
}

/** A kernel as its callers see it. */
export type KernelFn<S extends AnyKernelSpec> = <T extends FloatArray>(
  args: ArgsOf<S["fields"], T>,
) => S["returns"] extends "number" ? number : void;

/** A kernel as a backend implements it: the "raw" ones return where their scan stopped. */
export type KernelImpl<S extends AnyKernelSpec> = <T extends FloatArray>(
  args: ArgsOf<S["fields"], T>,
) => S["returns"] extends "void" ? void : number;

export function describe(value: unknown): string {
  return (value as { constructor?: { name?: string } })?.constructor?.name ?? String(value);
}

export function count(kernel: string, name: string, value: number): void {
  if (!Number.isInteger(value) || value < 0 || value > 2147483647) {
    throw new ArgumentError(`${kernel}: ${name} must be an integer in [0, 2^31), got ${value}`);
  }
}

export function atLeast(kernel: string, name: string, array: ArrayLike<number>, needed: number): void {
  if (array.length < needed) {
    throw new ArgumentError(`${kernel}: ${name} needs ${needed} elements, got ${array.length}`);
  }
}

const CONSTRUCTORS = {
  f32: Float32Array,
  f64: Float64Array,
  i32: Int32Array,
  u8: Uint8Array,
  u32: Uint32Array,
} as const;

/** One array field's check, as compiled. */
interface ArrayCheck {
  readonly name: string;
  /** null: a "float" field (Float32Array or Float64Array, as the call's first float array). */
  readonly type: (typeof CONSTRUCTORS)[keyof typeof CONSTRUCTORS] | null;
  readonly nullable: boolean;
  readonly atLeast: ((a: never) => number) | null;
  readonly exact: readonly [(a: never) => number, (a: never) => string] | null;
}

type Checker = (args: Readonly<Record<string, unknown>>) => void;

/** The argument checks of a kernel, compiled once from its declaration. */
export function compileChecks(kernel: string, spec: AnyKernelSpec): Checker {
  const names = Object.keys(spec.fields);
  const sizes = names.filter((name) => spec.fields[name]!.kind === "size");
  const atLeastRules = (spec.rules.atLeast ?? {}) as Record<string, ArrayCheck["atLeast"]>;
  const exactRules = (spec.rules.exact ?? {}) as Record<string, ArrayCheck["exact"]>;
  const arrays: ArrayCheck[] = [];
  for (const name of names) {
    const { kind, nullable } = spec.fields[name]!;
    if (kind === "size" || kind === "number" || kind === "flag") continue;
    arrays.push({
      name,
      type: kind === "float" ? null : CONSTRUCTORS[kind],
      nullable,
      atLeast: atLeastRules[name] ?? null,
      exact: exactRules[name] ?? null,
    });
  }
  for (const name of [...Object.keys(atLeastRules), ...Object.keys(exactRules)]) {
    if (!arrays.some((check) => check.name === name)) {
      throw new Error(`${kernel}: a length rule names ${name}, which is not an array field`);
    }
  }
  const check = spec.rules.check ?? null;
  return (args) => {
    for (let i = 0; i < sizes.length; i++) count(kernel, sizes[i]!, args[sizes[i]!] as number);
    let first: FloatArray | null = null;
    for (let i = 0; i < arrays.length; i++) {
      const rule = arrays[i]!;
      const array = args[rule.name] as ArrayLike<number> | null;
      if (array === null && rule.nullable) continue;
      if (rule.type === null) {
        if (first === null) {
          if (!(array instanceof Float32Array || array instanceof Float64Array)) {
            throw new ArgumentError(
              `${kernel}: arrays must be Float32Array or Float64Array, got ${describe(array)}`,
            );
          }
          first = array;
        } else if (array?.constructor !== first.constructor) {
          throw new ArgumentError(
            `${kernel}: ${rule.name} is a ${describe(array)}, expected ${first.constructor.name}`,
          );
        }
      } else if (!(array instanceof rule.type)) {
        const article = /^[AEIOU]/.test(rule.type.name) ? "an" : "a";
        throw new ArgumentError(
          `${kernel}: ${rule.name} must be ${article} ${rule.type.name}, got ${describe(array)}`,
        );
      }
      if (rule.atLeast !== null) atLeast(kernel, rule.name, array!, rule.atLeast(args as never));
      if (rule.exact !== null) {
        const length = rule.exact[0](args as never);
        if (array!.length !== length) {
          throw new ArgumentError(
            `${kernel}: ${rule.name} must have ${length} elements (${rule.exact[1](args as never)}), got ${array!.length}`,
          );
        }
      }
    }
    if (check !== null) check(args as never, kernel);
  };
}

/**
 * A kernel's entry point on one backend: the compiled checks, then the implementation (and, for a
 * "raw" kernel, the conversion of where its scan stopped into an ArgumentError).
 */
export function checkedKernel(
  kernel: string,
  spec: AnyKernelSpec,
  impl: (args: never) => number | undefined,
): (args: Readonly<Record<string, unknown>>) => number | undefined {
  const check = compileChecks(kernel, spec);
  const finish = spec.rules.finish as ((a: unknown, stop: number, kernel: string) => void) | undefined;
  if (finish !== undefined) {
    return (args) => {
      check(args);
      finish(args, impl(args as never) as number, kernel);
      return undefined;
    };
  }
  return (args) => {
    check(args);
    return impl(args as never);
  };
}
