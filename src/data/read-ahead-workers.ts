// The main thread's side of DataLoader's read-ahead workers (loader-worker.ts is the other side,
// loader-protocol.ts their messages): starting workers, ahead of their loaders or on demand,
// handing out their batches in order, and recycling the batches' buffers.

import type { Worker } from "node:worker_threads";
import { errorFromReport } from "../errors.js";
import type { BatchValue } from "./batch.js";
import type { MainMessage, WorkerInit, WorkerMessage } from "./loader-protocol.js";
import { startWorker } from "./prestarted-workers.js";
import { matrixBuffers, receivedValues } from "./read-batch.js";
import type { SamplerPosition } from "./sampler.js";

type Values = Record<string, BatchValue>;

/**
 * A loader's worker threads, started as epochs need them and kept for the next epochs. Each
 * posts its batches in the order they will be asked for, tagged with the epoch's run number
 * (batches of an abandoned epoch are dropped, their buffers recycled). A worker is ref'd only
 * while the main thread waits on it, so a loader left open cannot keep the process alive.
 */
export class ReadAheadWorkers {
  private readonly workers = new Map<number, Worker>();
  private readonly queues = new Map<number, Values[]>();
  private readonly waiting = new Map<number, { resolve: (v: Values) => void; reject: (e: Error) => void }>();
  private failure: Error | undefined;
  private closed = false;
  private run = 0;

  constructor(private readonly initFor: (workerId: number) => WorkerInit) {}

  /** Worker threads running. */
  get size(): number {
    return this.workers.size;
  }

  get failed(): boolean {
    return this.failure !== undefined;
  }

  /** Starts an epoch (superseding an unfinished one), first starting the workers `ids` not yet running. */
  startEpoch(ids: readonly number[], position: SamplerPosition): void {
    this.run++;
    for (const [id, queue] of this.queues) {
      for (const values of queue.splice(0)) this.recycle(id, matrixBuffers(values));
    }
    for (const id of ids) if (!this.workers.has(id)) this.spawn(id);
    for (const id of this.workers.keys()) this.send(id, { type: "epoch", run: this.run, position });
  }

  /** Worker `id`'s next batch of the current epoch. */
  next(id: number): Promise<Values> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const ready = this.queues.get(id)!.shift();
    if (ready !== undefined) {
      this.send(id, { type: "credit", run: this.run });
      return Promise.resolve(ready);
    }
    this.workers.get(id)!.ref();
    return new Promise((resolve, reject) => this.waiting.set(id, { resolve, reject }));
  }

  /**
   * Gives a released batch's buffers back to the worker that read it (transferred: detached here);
   * false when that worker has stopped.
   */
  recycle(id: number, buffers: ArrayBuffer[]): boolean {
    if (this.closed || !this.workers.has(id)) return false;
    this.send(id, { type: "recycle", buffers }, buffers);
    return true;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.workers.values()].map((worker) => worker.terminate()));
    this.workers.clear();
  }

  private spawn(id: number): void {
    const worker = startWorker(this.initFor(id));
    worker.on("message", (message: WorkerMessage) => this.receive(id, message));
    worker.on("error", (error) => this.fail(error));
    worker.on("exit", (code) => {
      if (!this.closed) this.fail(new Error(`DataLoader: worker ${id} exited (code ${code}) unexpectedly`));
    });
    // After the listeners: adding a "message" listener refs the worker's port again.
    worker.unref();
    this.workers.set(id, worker);
    this.queues.set(id, []);
  }

  private receive(id: number, message: WorkerMessage): void {
    if (message.type === "error") {
      this.fail(errorFromReport(message.error));
      return;
    }
    // An "opened" answer is openInReadAheadWorker's, sent before this loader took the worker.
    if (message.type !== "batch") return;
    if (message.run !== this.run) {
      this.recycle(id, matrixBuffers(message.values));
      return;
    }
    const values = receivedValues(message.values, message.deferred);
    const waiter = this.waiting.get(id);
    if (waiter === undefined) {
      this.queues.get(id)!.push(values);
      return;
    }
    this.waiting.delete(id);
    this.workers.get(id)!.unref();
    this.send(id, { type: "credit", run: this.run });
    waiter.resolve(values);
  }

  private send(id: number, message: MainMessage, transfer: ArrayBuffer[] = []): void {
    this.workers.get(id)!.postMessage(message, transfer);
  }

  private fail(error: Error): void {
    if (this.failure !== undefined) return;
    this.failure = error;
    for (const waiter of this.waiting.values()) waiter.reject(error);
    this.waiting.clear();
  }
}
