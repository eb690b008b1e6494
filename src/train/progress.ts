// Progress: a one-line bar redrawn in place when stdout is a terminal, plain log lines otherwise
// (files, CI logs), with the throughput in cells per second.

export interface ProgressState {
  readonly stage: "fit" | "validate" | "predict";
  readonly epoch: number;
  readonly batch: number;
  /** Batches in the epoch, when known. */
  readonly total: number | null;
  readonly cells: number;
  readonly seconds: number;
  readonly loss?: number;
  /** Epochs the fit runs, when bounded (shown as "epoch 1/3"). */
  readonly epochs?: number;
  /** Batches this run has read and still has to read, for the ETA. */
  readonly batchesDone?: number;
  readonly batchesLeft?: number;
}

/** 75 -> "1:15", 4000 -> "1:06:40". */
function clock(seconds: number): string {
  const s = Math.round(seconds);
  const [h, m, sec] = [Math.floor(s / 3600), Math.floor((s % 3600) / 60), s % 60];
  const two = (v: number) => String(v).padStart(2, "0");
  return h > 0 ? `${h}:${two(m)}:${two(sec)}` : `${m}:${two(sec)}`;
}

function describe(state: ProgressState): string {
  const rate = state.seconds > 0 ? Math.round(state.cells / state.seconds) : 0;
  const of = state.total === null ? "" : `/${state.total}`;
  const loss = state.loss === undefined ? "" : ` loss ${state.loss.toPrecision(5)}`;
  const epochs = state.epochs === undefined ? "" : `/${state.epochs}`;
  const { batchesDone: done, batchesLeft: left } = state;
  const eta =
    done !== undefined && left !== undefined && done > 0 && state.seconds > 0
      ? `, ${clock(state.seconds)} elapsed, ETA ${clock((state.seconds / done) * left)}`
      : "";
  return `${state.stage} epoch ${state.epoch}${epochs} batch ${state.batch}${of}: ${state.cells} cells, ${rate} cells/s${loss}${eta}`;
}

export class Progress {
  private readonly tty: boolean;
  private lastDraw = 0;

  constructor(
    private readonly enabled: boolean,
    private readonly stream: NodeJS.WriteStream = process.stdout,
  ) {
    this.tty = stream.isTTY === true;
  }

  /** Redraws the bar (at most 10 times a second) on a terminal. */
  update(state: ProgressState): void {
    if (!this.enabled || !this.tty) return;
    const now = Date.now();
    if (now - this.lastDraw < 100) return;
    this.lastDraw = now;
    this.stream.write(`\r${describe(state)}\x1b[K`);
  }

  /** A line kept in the log: every log_every_n_steps on a pipe, and at the end of an epoch. */
  log(state: ProgressState): void {
    if (!this.enabled) return;
    this.stream.write(this.tty ? `\r${describe(state)}\x1b[K\n` : `${describe(state)}\n`);
  }
}
