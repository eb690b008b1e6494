import { FileFormatError } from "../errors.js";

// The registry of AnnData element encodings, after anndata's (anndata/_io/specs/registry.py), one
// class for both stores: a decoder is registered for an element kind (group, or dataset/array), an
// `encoding-type` and its `encoding-version`s, in the role it plays (a matrix, a dataframe column,
// an uns entry, ...); the module that decodes a role registers its decoders when it loads. The
// h5ad reader (h5ad/encodings.ts) and the Zarr reader (zarr/reader.ts) each hold an instance, with
// their own roles and a function that reads an element's kind, path and attributes. An element
// whose encoding-type has decoders in its role, but none at its encoding-version, is refused by
// name: its layout may not be the one the known versions have. An encoding-type without decoders
// in the role is the caller's to report, as the caller knows what it expected.

/** The encoding-type of an element that has none (anndata 0.7 columns, h5sparse groups, plain uns entries). */
export const UNTAGGED = "(none)";

/**
 * The versions anndata's writers from 0.7 to 0.11 give the encodings read here; the last of each is
 * the one this project's writers write (anndata's current one).
 */
export const KNOWN_VERSIONS = {
  anndata: ["0.1.0"],
  dataframe: ["0.1.0", "0.2.0"],
  csr_matrix: ["0.1.0"],
  csc_matrix: ["0.1.0"],
  array: ["0.2.0"],
  "string-array": ["0.2.0"],
  categorical: ["0.2.0"],
  "nullable-integer": ["0.1.0"],
  "nullable-boolean": ["0.1.0"],
  dict: ["0.1.0"],
  string: ["0.2.0"],
  "numeric-scalar": ["0.2.0"],
} as const satisfies Record<string, readonly string[]>;

export type KnownEncoding = keyof typeof KNOWN_VERSIONS;

/** A version the readers know of `T`: all a writer may write. */
export type KnownVersion<T extends KnownEncoding> = (typeof KNOWN_VERSIONS)[T][number];

/**
 * The attributes a writer gives an element of `type`: its encoding-type and `version`, by default
 * the one anndata writes now (the newest known).
 */
export function encodingAttrs<T extends KnownEncoding>(
  type: T,
  version: KnownVersion<T> = KNOWN_VERSIONS[type].at(-1)!,
): { "encoding-type": T; "encoding-version": KnownVersion<T> } {
  return { "encoding-type": type, "encoding-version": version };
}

/** A group, or an HDF5 dataset / Zarr array. */
export type ElementKind = "group" | "dataset";

/** What the registry needs of an element: its kind, its path in the file and its string attributes. */
export interface EncodedElement {
  readonly kind: ElementKind;
  readonly path: string;
  attr(name: string): string | undefined;
}

function keyOf(role: PropertyKey, kind: ElementKind, type: string): string {
  return `${String(role)} ${kind} ${type}`;
}

/** `Roles` maps each role to the type of its decoders; `E` is the store's element, read through `element`. */
export class EncodingRegistry<Roles, E> {
  /** role, kind and encoding-type -> encoding-version -> decoder. */
  private readonly decoders = new Map<string, Map<string, unknown>>();

  constructor(private readonly element: (entity: E) => EncodedElement) {}

  /** Registers `decoder` for `role` and elements of `kind` tagged `type` at each of `versions`. */
  register<R extends keyof Roles>(
    role: R,
    kind: ElementKind,
    type: string,
    versions: readonly string[],
    decoder: Roles[R],
  ): void {
    const key = keyOf(role, kind, type);
    const byVersion = this.decoders.get(key) ?? new Map<string, unknown>();
    for (const version of versions) byVersion.set(version, decoder);
    this.decoders.set(key, byVersion);
  }

  /**
   * The decoder of `entity` in `role`, with its encoding-type (UNTAGGED when it has none); no
   * decoder when that encoding-type has none in the role. An element tagged with an
   * encoding-type but no encoding-version takes the type's first registered version (anndata
   * writes both; some other writers only the type). A FileFormatError naming `file`, the element,
   * the type and the version when the type has decoders but none at the element's version.
   */
  lookup<R extends keyof Roles>(
    role: R,
    file: string,
    entity: E,
  ): { encoding: string; decoder: Roles[R] | undefined } {
    const element = this.element(entity);
    const encoding = element.attr("encoding-type") ?? UNTAGGED;
    const byVersion = this.decoders.get(keyOf(role, element.kind, encoding));
    if (byVersion === undefined) return { encoding, decoder: undefined };
    if (encoding === UNTAGGED) return { encoding, decoder: byVersion.values().next().value as Roles[R] };
    const version = element.attr("encoding-version");
    const decoder = version === undefined ? byVersion.values().next().value : byVersion.get(version);
    if (decoder === undefined) {
      const known = [...byVersion.keys()].join(", ");
      throw new FileFormatError(
        `${file}: ${element.path} has encoding-type '${encoding}' at encoding-version '${version}', which this reader does not know (it reads ${known})`,
        { file, key: element.path, value: version },
      );
    }
    return { encoding, decoder: decoder as Roles[R] };
  }
}
