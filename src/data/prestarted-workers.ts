// Read-ahead workers started before their loaders exist (the other side is loader-worker.ts): the
// command line starts one first thing, so that its start-up (its modules, opening the data)
// overlaps with the main thread's; a loader then takes it (startWorker). Kept
// apart from read-ahead-workers.ts so that starting one loads nothing but this module.

import type { Worker } from "node:worker_threads";
import { errorFromReport } from "../errors.js";
import type { MainMessage, OpenRequest, WorkerInit, WorkerMessage } from "./loader-protocol.js";
import { startModuleWorker } from "./start-worker.js";

/** Workers started ahead of their loaders (prestartReadAheadWorkers), still alive, each with no init yet. */
const prestarted: { worker: Worker; dead: boolean }[] = [];

/**
 * Makes `count` read-ahead workers wait ahead of their loaders: a worker's start (its modules:
 * ~0.3 s) then overlaps with the main thread's own (loading the command's
 * modules, reading the config, opening the collection, building the model) instead of delaying the
 * first batch. Starts the missing ones and stops those beyond `count` (the command line starts one
 * before it has read the config, which may ask for none). The next loaders of this thread take
 * them; unused ones do not keep the process alive.
 */
export function prestartReadAheadWorkers(count: number): void {
  const alive = prestarted.filter((entry) => !entry.dead);
  for (const entry of alive.splice(count)) void entry.worker.terminate();
  prestarted.splice(0, prestarted.length, ...alive);
  while (prestarted.length < count) {
    const worker = startModuleWorker(import.meta.url, "loader-worker", { workerData: null });
    const entry = { worker, dead: false };
    // A worker that fails before a loader takes it is replaced then (its error is reported by the
    // worker the loader starts in its place).
    worker.once("error", () => (entry.dead = true));
    worker.once("exit", () => (entry.dead = true));
    worker.unref();
    prestarted.push(entry);
  }
}

/** A collection a read-ahead worker opened: the init to reopen it here, its first cell, var's columns if asked. */
export type OpenedInWorker = Omit<Extract<WorkerMessage, { type: "opened" }>, "type">;

/**
 * Has the first worker started ahead (prestartReadAheadWorkers) open a collection and read its first
 * cell, so that this thread can reopen it from the answer without loading h5wasm or reading a file
 * (~0.5 s of the command's start; the worker needs them anyway). The worker keeps the collection
 * open for the loader that takes it. Undefined when no worker was started ahead; the worker's error
 * (a missing file, a mismatched shard) when it cannot open it.
 */
export async function openInReadAheadWorker(request: OpenRequest): Promise<OpenedInWorker | undefined> {
  const entry = prestarted.find((candidate) => !candidate.dead);
  if (entry === undefined) return undefined;
  const { worker } = entry;
  try {
    return await new Promise<OpenedInWorker>((resolve, reject) => {
      const settle = (finish: () => void) => {
        worker.off("message", onMessage).off("error", onError).off("exit", onExit);
        finish();
      };
      const onMessage = (message: WorkerMessage) => {
        if (message.type === "opened") {
          const { init, firstCell, varColumns } = message;
          settle(() => resolve({ init, firstCell, varColumns }));
        } else if (message.type === "error") settle(() => reject(errorFromReport(message.error)));
      };
      const onError = (error: Error) => settle(() => reject(error));
      const onExit = (code: number) =>
        settle(() => reject(new Error(`read-ahead worker exited (code ${code}) while opening the data`)));
      worker.on("message", onMessage).on("error", onError).on("exit", onExit);
      const message: MainMessage = { type: "open", request };
      worker.postMessage(message);
    });
  } finally {
    // Removing the listener leaves the port ref'd: a worker kept ahead must not hold the process.
    worker.unref();
  }
}

/** A worker for a loader: one started ahead when there is one, else a new one. */
export function startWorker(init: WorkerInit): Worker {
  for (let entry = prestarted.shift(); entry !== undefined; entry = prestarted.shift()) {
    if (entry.dead) continue;
    const message: MainMessage = { type: "init", init };
    entry.worker.postMessage(message);
    return entry.worker;
  }
  return startModuleWorker(import.meta.url, "loader-worker", { workerData: init });
}
