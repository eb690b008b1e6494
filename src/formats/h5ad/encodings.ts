import type { Dataset, File, Group } from "h5wasm/node";
import { FileFormatError } from "../../errors.js";
import type { DataFrameColumn } from "./dataframe.js";
import { encodingType, isGroup, stringAttr } from "./element.js";
import type { MatrixReader, MatrixReaderOptions } from "./matrix-reader.js";
import type { UnsValue } from "./uns.js";

// The one registry of the element encodings this reader decodes, after anndata's
// (anndata/_io/specs/registry.py): a decoder is registered for an HDF5 kind (group or dataset), an
// `encoding-type` and its `encoding-version`s, in the role it plays (a matrix, a dataframe column,
// an uns entry); the module that decodes a role registers its decoders when it loads. An element
// whose encoding-type has decoders in its role, but none at its encoding-version, is refused by
// name: its layout may not be the one the known versions have. An encoding-type without decoders
// in the role is the caller's to report, as the caller knows what it expected.

/** The encoding-type of an element that has none (anndata 0.7 columns, h5sparse groups, plain uns entries). */
export const UNTAGGED = "(none)";

/** What decodes an element, by the role the element plays. */
export interface DecoderRoles {
  /** X, a layer or an obsm entry: a row-block reader. */
  matrix: (file: string, entity: Group | Dataset, options: MatrixReaderOptions) => MatrixReader;
  /** A column of obs or var; `h5` resolves anndata 0.7's object references. */
  column: (file: string, h5: File, entity: Group | Dataset) => DataFrameColumn;
  /** An entry of uns. */
  uns: (file: string, entity: Group | Dataset) => UnsValue;
  /** obs or var itself: the dataframe reader checks its layout. */
  dataframe: true;
}

export type Role = keyof DecoderRoles;

type Kind = "group" | "dataset";

function keyOf(role: Role, kind: Kind, type: string): string {
  return `${role} ${kind} ${type}`;
}

class EncodingRegistry {
  /** role, kind and encoding-type -> encoding-version -> decoder. */
  private readonly decoders = new Map<string, Map<string, unknown>>();

  /** Registers `decoder` for `role` and elements of `kind` tagged `type` at each of `versions`. */
  register<R extends Role>(
    role: R,
    kind: Kind,
    type: string,
    versions: readonly string[],
    decoder: DecoderRoles[R],
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
   * writes both; some other writers only the type). A FileFormatError when the type has
   * decoders but none at the element's version.
   */
  lookup<R extends Role>(
    role: R,
    file: string,
    entity: Group | Dataset,
  ): { encoding: string; decoder: DecoderRoles[R] | undefined } {
    const encoding = encodingType(entity) ?? UNTAGGED;
    const byVersion = this.decoders.get(keyOf(role, isGroup(entity) ? "group" : "dataset", encoding));
    if (byVersion === undefined) return { encoding, decoder: undefined };
    if (encoding === UNTAGGED)
      return { encoding, decoder: byVersion.values().next().value as DecoderRoles[R] };
    const version = stringAttr(entity, "encoding-version");
    const decoder = version === undefined ? byVersion.values().next().value : byVersion.get(version);
    if (decoder === undefined) {
      const known = [...byVersion.keys()].join(", ");
      throw new FileFormatError(
        `${file}: ${entity.path} has encoding-type '${encoding}' at encoding-version '${version}', which this reader does not know (it reads ${known})`,
        { file, key: entity.path, value: version },
      );
    }
    return { encoding, decoder: decoder as DecoderRoles[R] };
  }
}

/** The registry of the h5ad reader's decoders. */
export const H5AD_ENCODINGS = new EncodingRegistry();

/** The versions anndata's writers from 0.7 to 0.11 give the encodings this reader decodes. */
export const KNOWN_VERSIONS = {
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
