// What an AnnData-Zarr store holds, read through zarrita from its consolidated metadata (.zmetadata,
// else each group's own): the shape, obs and var columns with their kinds, the first names, and the
// obsm, varm, layers and uns keys. `cellarium inspect` prints it as it prints an .h5ad.

import FileSystemStore from "@zarrita/storage/fs";
import * as zarr from "zarrita";
import { ArgumentError } from "../../errors.js";

/** An obs or var column: its kind and, for categoricals, the categories; for numbers the dtype. */
export interface ZarrColumnSummary {
  readonly name: string;
  readonly kind: "categorical" | "numeric" | "boolean" | "string" | "other";
  readonly dtype?: string;
  readonly categories?: readonly string[];
}

export interface ZarrFrameSummary {
  readonly columns: readonly ZarrColumnSummary[];
  /** Rows of the frame (its index's length) and the first names. */
  readonly size: number;
  readonly head: readonly string[];
}

export interface ZarrAnnDataSummary {
  readonly nObs: number;
  readonly nVars: number;
  /** X's encoding-type, null without X. */
  readonly x: string | null;
  readonly obs: ZarrFrameSummary;
  readonly var: ZarrFrameSummary;
  /** Keys of obsm, varm and layers with their arrays' shapes. */
  readonly obsm: readonly { key: string; shape: readonly number[] }[];
  readonly varm: readonly { key: string; shape: readonly number[] }[];
  readonly layers: readonly string[];
  readonly uns: readonly string[];
}

type Store = Awaited<ReturnType<typeof zarr.withMaybeConsolidatedMetadata<FileSystemStore>>>;

/** Reads the summary of the AnnData-Zarr store at `path` (names: the first `head` of each index). */
export async function readZarrSummary(path: string, head = 5): Promise<ZarrAnnDataSummary> {
  const store = await zarr.withMaybeConsolidatedMetadata(new FileSystemStore(path), { format: "v2" });
  const root = zarr.root(store);
  let rootGroup: zarr.Group<Store>;
  try {
    rootGroup = await zarr.open.v2(root, { kind: "group" });
  } catch (error) {
    throw new ArgumentError(`${path}: not a Zarr v2 store (${(error as Error).message})`, { cause: error });
  }
  const type = rootGroup.attrs["encoding-type"];
  if (type !== undefined && type !== "anndata")
    throw new ArgumentError(`${path}: a Zarr store of encoding-type ${String(type)}, not an AnnData`);
  const children = childrenOf(store);
  const obs = await frame(root, "obs", head);
  const vars = await frame(root, "var", head);
  const shapes = async (key: string) =>
    Promise.all(
      (children.get(key) ?? []).map(async (name) => ({
        key: name,
        shape: (await zarr.open.v2(root.resolve(`${key}/${name}`), { kind: "array" })).shape,
      })),
    );
  const x = children.get("")?.includes("X")
    ? String((await zarr.open.v2(root.resolve("X"))).attrs["encoding-type"] ?? "array")
    : null;
  return {
    nObs: obs.size,
    nVars: vars.size,
    x,
    obs,
    var: vars,
    obsm: await shapes("obsm"),
    varm: await shapes("varm"),
    layers: children.get("layers") ?? [],
    uns: children.get("uns") ?? [],
  };
}

/** The names of each group's children, from the store's listing (consolidated metadata). */
function childrenOf(store: Store): Map<string, string[]> {
  const children = new Map<string, string[]>();
  if (!("contents" in store)) return children;
  for (const { path } of store.contents()) {
    if (path === "/") continue;
    const parts = path.slice(1).split("/");
    const parent = parts.slice(0, -1).join("/");
    children.set(parent, [...(children.get(parent) ?? []), parts.at(-1)!]);
  }
  for (const names of children.values()) names.sort();
  return children;
}

async function frame(root: zarr.Location<Store>, key: string, head: number): Promise<ZarrFrameSummary> {
  const group = await zarr.open.v2(root.resolve(key), { kind: "group" });
  const indexKey = String(group.attrs._index ?? "_index");
  const order = (group.attrs["column-order"] ?? []) as string[];
  const index = await zarr.open.v2(root.resolve(`${key}/${indexKey}`), { kind: "array" });
  const size = index.shape[0] ?? 0;
  const first = await zarr.get(index, [zarr.slice(0, Math.min(head, size))]);
  const columns: ZarrColumnSummary[] = [];
  for (const name of order) {
    const node = await zarr.open.v2(root.resolve(`${key}/${name}`));
    if (node instanceof zarr.Group) {
      if (node.attrs["encoding-type"] !== "categorical") {
        columns.push({ name, kind: "other" });
        continue;
      }
      const categories = await zarr.get(
        await zarr.open.v2(root.resolve(`${key}/${name}/categories`), { kind: "array" }),
      );
      columns.push({
        name,
        kind: "categorical",
        categories: Array.from(categories.data as ArrayLike<unknown>, String),
      });
      continue;
    }
    const dtype = node.dtype;
    if (dtype === "bool") columns.push({ name, kind: "boolean" });
    else if (node.attrs["encoding-type"] === "string-array" || dtype === "v2:object" || dtype === "string")
      columns.push({ name, kind: "string" });
    else columns.push({ name, kind: "numeric", dtype });
  }
  return { columns, size, head: Array.from(first.data as ArrayLike<unknown>, String) };
}
