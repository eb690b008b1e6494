import { endianness } from "node:os";
import { ArgumentError, FileFormatError } from "../../errors.js";
import { type DatasetLayout, onlyMessage, type RawStorage, readDatasetLayout } from "./dataset.js";
import { type Datatype, readDataspace, readDatatype, TYPE_CLASS } from "./datatype.js";
import { GlobalHeap } from "./global-heap.js";
import { groupLinks } from "./links.js";
import { type HeaderMessage, MESSAGE, readObjectHeader } from "./object-header.js";
import { readRawInto } from "./read.js";
import { Cursor, type Hdf5Source, UNDEFINED_ADDRESS, Unsupported } from "./source.js";
import { readSuperblock } from "./superblock.js";

// A whole HDF5 file's groups, datasets and attributes read without the HDF5 library, shaped
// like the part of h5wasm's API that the h5ad reader uses (Group.get/keys/attrs, Dataset.
// metadata/shape/value/slice), so that opening an AnnData file need not load h5wasm (~0.3 s of
// JavaScript, WebAssembly and its own open). The file is walked whole at open: every object
// header, link and attribute is parsed then, so that an unsupported structure anywhere sends the
// whole file to h5wasm before anything is read, never halfway through a run. Datasets' elements
// are read when asked for.

/** The most objects (groups and datasets) walked; a file with more is left to h5wasm. */
const MAX_OBJECTS = 1 << 14;
/** The deepest group nesting walked. */
const MAX_DEPTH = 64;

interface TreeContext {
  readonly file: string;
  readonly source: Hdf5Source;
  readonly heap: GlobalHeap;
  root?: DirectGroup;
  closed: boolean;
}

/** An attribute, as h5wasm's Attribute: its decoded value. */
export interface DirectAttribute {
  readonly value: unknown;
}

/** A group of a file opened by openTree. */
export class DirectGroup {
  /** @internal */
  constructor(
    private readonly context: TreeContext,
    /** "/" for the root, "/obs", "/X", ... */
    readonly path: string,
    readonly attrs: Readonly<Record<string, DirectAttribute>>,
    private readonly children: ReadonlyMap<string, DirectGroup | DirectDataset>,
  ) {}

  /** The names of the group's links, in the HDF5 library's name order. */
  keys(): string[] {
    return [...this.children.keys()];
  }

  /** The object at `path`, relative to this group or absolute ("/X/data"); null when absent. */
  get(path: string): DirectGroup | DirectDataset | null {
    let node: DirectGroup | DirectDataset = path.startsWith("/") ? this.context.root! : this;
    for (const name of path.split("/")) {
      if (name === "") continue;
      if (!(node instanceof DirectGroup)) return null;
      const child: DirectGroup | DirectDataset | undefined = node.children.get(name);
      if (child === undefined) return null;
      node = child;
    }
    return node;
  }

  /** Marks the file closed: later reads of its datasets throw (the caller closes the descriptor). */
  close(): void {
    this.context.closed = true;
  }
}

/** A dataset's type and shape, with h5wasm's metadata fields. */
export interface DirectMetadata extends Datatype {
  readonly shape: number[];
  readonly chunks: number[] | null;
}

/** A dataset of a file opened by openTree; its elements are read when asked for. */
export class DirectDataset {
  readonly metadata: DirectMetadata;
  /** Where its elements lie (dataset.ts): the h5ad reader reads X's arrays straight from it. */
  readonly storage: RawStorage;

  /** @internal */
  constructor(
    private readonly context: TreeContext,
    readonly path: string,
    readonly attrs: Readonly<Record<string, DirectAttribute>>,
    layout: DatasetLayout,
  ) {
    this.metadata = { ...layout.datatype, shape: layout.shape, chunks: layout.chunks };
    this.storage = layout.storage;
  }

  get shape(): number[] {
    return this.metadata.shape;
  }

  /** Every element, as h5wasm's Dataset.value: typed arrays by type, strings as string[], a scalar as its element. */
  get value(): unknown {
    const elements = this.read(0, this.storage.length);
    return this.shape.length === 0 ? elements[0] : elements;
  }

  /**
   * A selection as h5wasm's Dataset.slice: a [start, end) range per dimension ([] or absent: all
   * of it), clamped to the shape. Dimensions after the first must be taken whole (row blocks).
   */
  slice(ranges: readonly ([number, number] | [])[]): ArrayLike<unknown> {
    const shape = this.shape;
    if (shape.length === 0) return this.read(0, 1);
    const clamp = (range: readonly number[] | undefined, n: number): [number, number] => {
      if (range === undefined || range.length < 2) return [0, n];
      const start = Math.max(0, Math.min(range[0]!, n));
      return [start, Math.max(start, Math.min(range[1]!, n))];
    };
    let inner = 1;
    for (let d = 1; d < shape.length; d++) {
      const [start, end] = clamp(ranges[d], shape[d]!);
      if (start !== 0 || end !== shape[d]) {
        throw new ArgumentError(
          `${this.path}: a selection within dimension ${d} is not read here (rows only)`,
        );
      }
      inner *= shape[d]!;
    }
    const [first, last] = clamp(ranges[0], shape[0]!);
    return this.read(first * inner, last * inner);
  }

  /**
   * Elements [start, end) (row-major) into `out`, as stored (its byte length must match): the
   * h5ad reader's direct reads into pooled arrays.
   */
  readInto(start: number, end: number, out: ArrayBufferView): void {
    this.checkOpen();
    readRawInto(this.context.file, this.path, this.context.source.fd, this.storage, start, end, out);
  }

  private read(start: number, end: number): ArrayLike<unknown> {
    const datatype = this.metadata;
    if (datatype.type !== TYPE_CLASS.string) {
      const out = new (typedArrayOf(datatype))(end - start);
      this.readInto(start, end, out);
      return out;
    }
    const bytes = Buffer.allocUnsafe((end - start) * datatype.storedBytes);
    this.readInto(start, end, bytes);
    try {
      return decodeStrings(this.context, datatype, bytes);
    } catch (error) {
      if (!(error instanceof Unsupported)) throw error;
      throw new FileFormatError(
        `${this.context.file}: cannot read the strings of dataset ${this.path} (${error.message})`,
        { file: this.context.file, key: this.path },
      );
    }
  }

  private checkOpen(): void {
    if (this.context.closed) throw new ArgumentError(`${this.context.file}: the file is closed`);
  }
}

/**
 * The root group of the HDF5 file open as `fd` (`size` bytes; `file` names it in errors), or
 * undefined when any object, link or attribute in it uses a structure not read here (h5wasm then
 * reads the file). Never throws, whatever the file holds.
 */
export function openTree(file: string, fd: number, size: number): DirectGroup | undefined {
  if (endianness() !== "LE") return undefined;
  try {
    const { source, root } = readSuperblock(fd, size);
    const context: TreeContext = { file, source, heap: new GlobalHeap(source), closed: false };
    const walk = { objects: 0, seen: new Set<number>([root]) };
    context.root = walkGroup(context, "/", readObjectHeader(source, root), walk, 0);
    return context.root;
  } catch {
    // Unsupported, or a structure this parser misread: h5wasm (the HDF5 library) decides.
    return undefined;
  }
}

function walkGroup(
  context: TreeContext,
  path: string,
  messages: readonly HeaderMessage[],
  walk: { objects: number; seen: Set<number> },
  depth: number,
): DirectGroup {
  const { source } = context;
  const links = groupLinks(source, messages, true);
  if (links === undefined || depth > MAX_DEPTH) throw new Unsupported(`${path} is not a group`);
  links.sort(byName);
  const children = new Map<string, DirectGroup | DirectDataset>();
  for (const link of links) {
    // Two links to one object (or a loop) are left to the HDF5 library, as are names that no
    // path could reach ("", ".", or holding a "/": a damaged file).
    const unreachable = link.name === "" || link.name === "." || link.name.includes("/");
    if (
      link.address === undefined ||
      unreachable ||
      walk.seen.has(link.address) ||
      ++walk.objects > MAX_OBJECTS
    ) {
      throw new Unsupported(`link ${link.name}`);
    }
    walk.seen.add(link.address);
    const childPath = path === "/" ? `/${link.name}` : `${path}/${link.name}`;
    const childMessages = readObjectHeader(source, link.address);
    const isDataset = childMessages.some((m) => m.type === MESSAGE.layout);
    children.set(
      link.name,
      isDataset
        ? new DirectDataset(
            context,
            childPath,
            attributes(context, childMessages),
            readDatasetLayout(source, childMessages),
          )
        : walkGroup(context, childPath, childMessages, walk, depth + 1),
    );
  }
  return new DirectGroup(context, path, attributes(context, messages), children);
}

/** The HDF5 library's order of links and attributes: by name, byte by byte (UTF-8). */
function byName(a: { name: string }, b: { name: string }): number {
  return Buffer.compare(Buffer.from(a.name), Buffer.from(b.name));
}

/** An object's attributes, decoded; those stored densely (a fractal heap) are Unsupported. */
function attributes(
  context: TreeContext,
  messages: readonly HeaderMessage[],
): Record<string, DirectAttribute> {
  const { source } = context;
  const info = onlyMessage(messages, MESSAGE.attributeInfo);
  if (info !== undefined) {
    const cursor = new Cursor(info);
    if (cursor.u8() !== 0) throw new Unsupported("attribute info message version");
    const flags = cursor.u8();
    // Attributes indexed by creation order are listed in that order by the HDF5 library.
    if (flags & 0x02) throw new Unsupported("attributes indexed by creation order");
    if (flags & 0x01) cursor.skip(2); // the maximum creation index
    if (cursor.address(source.offsetSize) !== UNDEFINED_ADDRESS)
      throw new Unsupported("dense attribute storage");
  }
  const found = messages
    .filter((m) => m.type === MESSAGE.attribute)
    .map((m) => readAttribute(context, m))
    .sort(byName);
  const out: Record<string, DirectAttribute> = {};
  for (const { name, value } of found) {
    if (Object.hasOwn(out, name)) throw new Unsupported(`attribute ${name} twice`);
    Object.defineProperty(out, name, { value: { value }, enumerable: true });
  }
  return out;
}

/**
 * An Attribute message (versions 1 to 3): name, datatype, dataspace and the elements. Version 1
 * pads the first three to multiples of 8 bytes; shared datatypes or dataspaces are Unsupported.
 */
function readAttribute(context: TreeContext, message: HeaderMessage): { name: string; value: unknown } {
  const { source } = context;
  if (message.flags & 0x02) throw new Unsupported("a shared attribute");
  const cursor = new Cursor(message.body);
  const version = cursor.u8();
  if (version < 1 || version > 3) throw new Unsupported(`attribute message version ${version}`);
  const flags = cursor.u8();
  if (version > 1 && flags & 0x03) throw new Unsupported("an attribute with a shared datatype or dataspace");
  const nameBytes = cursor.u16();
  const datatypeBytes = cursor.u16();
  const dataspaceBytes = cursor.u16();
  if (version === 3) cursor.skip(1); // the name's character set
  const padded = (n: number) => (version === 1 ? Math.ceil(n / 8) * 8 : n);
  const nameField = cursor.bytesOf(padded(nameBytes));
  const end = nameField.indexOf(0);
  const name = nameField.toString("utf8", 0, end < 0 || end > nameBytes ? nameBytes : end);
  const datatype = readDatatype(new Cursor(cursor.bytesOf(padded(datatypeBytes))), source.offsetSize);
  const shape = readDataspace(cursor.bytesOf(padded(dataspaceBytes)), source.lengthSize);
  const n = shape.reduce((a, b) => a * b, 1);
  const bytes = cursor.bytesOf(n * datatype.storedBytes);
  let elements: ArrayLike<unknown>;
  if (datatype.type === TYPE_CLASS.string) elements = decodeStrings(context, datatype, bytes);
  else {
    // A copy: the typed array needs its own aligned buffer.
    const Type = typedArrayOf(datatype);
    elements = new Type(Uint8Array.from(bytes).buffer);
  }
  return { name, value: shape.length === 0 ? elements[0] : elements };
}

type TypedArrayConstructor = new (
  lengthOrBuffer: number | ArrayBufferLike,
) => ArrayBufferView & ArrayLike<number | bigint>;

/** The typed array h5wasm returns for an integer, float or enum type (an enum's base integer type). */
function typedArrayOf(datatype: Datatype): TypedArrayConstructor {
  const { size, signed } = datatype;
  if (datatype.type === TYPE_CLASS.float) return size === 8 ? Float64Array : Float32Array;
  switch (size) {
    case 1:
      return signed ? Int8Array : Uint8Array;
    case 2:
      return signed ? Int16Array : Uint16Array;
    case 4:
      return signed ? Int32Array : Uint32Array;
    default:
      return signed ? BigInt64Array : BigUint64Array;
  }
}

/** ASCII strings as h5wasm decodes them: fixed-length through TextDecoder("ascii"), variable-length byte by byte. */
const asciiDecoder = new TextDecoder("ascii");

/**
 * Strings, each cut at its first NUL as h5wasm does: fixed-length ones from their bytes,
 * variable-length ones from the global heap (an element: length, collection address, index).
 */
function decodeStrings(context: TreeContext, datatype: Datatype, bytes: Buffer): string[] {
  const stored = datatype.storedBytes;
  const n = bytes.length / stored;
  const out: string[] = new Array(n);
  const { offsetSize } = context.source;
  for (let i = 0; i < n; i++) {
    let text: Buffer;
    if (!datatype.vlen) text = bytes.subarray(i * stored, (i + 1) * stored);
    else {
      const cursor = new Cursor(bytes, i * stored);
      const length = cursor.u32();
      const collection = cursor.address(offsetSize);
      const index = cursor.u32();
      text = length === 0 ? Buffer.alloc(0) : context.heap.object(collection, index);
      if (text.length < length) throw new Unsupported(`a string of ${length} bytes in ${text.length}`);
      text = text.subarray(0, length);
    }
    const nul = text.indexOf(0);
    if (nul >= 0) text = text.subarray(0, nul);
    out[i] =
      datatype.cset === 1
        ? text.toString("utf8")
        : datatype.vlen
          ? text.toString("latin1")
          : asciiDecoder.decode(text);
  }
  return out;
}
