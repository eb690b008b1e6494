import { extname } from "node:path";
import { fileURLToPath } from "node:url";
import { Worker, type WorkerOptions } from "node:worker_threads";

/**
 * Starts the worker module `name` that sits next to the module at `callerUrl`: name.js from
 * dist/, or name.ts when running from sources through tsx. Node 20 does not apply the tsx hooks
 * of `--import tsx` to a worker's entry module, so a .ts worker first registers tsx's ESM hooks
 * itself.
 */
export function startModuleWorker(callerUrl: string, name: string, options: WorkerOptions): Worker {
  const extension = extname(fileURLToPath(callerUrl));
  const entry = new URL(`./${name}${extension}`, callerUrl);
  if (extension !== ".ts") return new Worker(entry, options);
  const tsx = import.meta.resolve("tsx/esm/api");
  const bootstrap = `import(${JSON.stringify(tsx)}).then((api) => { api.register(); return import(${JSON.stringify(entry.href)}); });`;
  return new Worker(bootstrap, { ...options, eval: true });
}
