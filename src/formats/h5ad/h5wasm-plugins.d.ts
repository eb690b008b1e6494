// h5wasm-plugins ships JavaScript without types; this is the one function we call.
declare module "h5wasm-plugins" {
  /** Puts the package's own plugins/ folder first on the HDF5 plugin search path (Node only). */
  export function install_local_plugins(module: unknown): void;
}
