import { inflateSync } from "node:zlib";
import { ArgumentError, FileFormatError } from "../../errors.js";
import type { RawChunk, RawStorage } from "./dataset.js";
import { readUpTo } from "./source.js";

// Elements of a dataset found by findRawStorage, read straight from the file into the caller's
// array: unfiltered bytes by readSync into the array's own memory (chunks adjacent in the file in
// one read), deflated chunks through Node's zlib.

/**
 * The last chunk inflated per dataset: consecutive row blocks share the chunk at their boundary,
 * which is then inflated once (one chunk per dataset, ~135 kB for anndata's default chunks).
 */
const lastInflated = new WeakMap<RawStorage, { chunk: RawChunk; bytes: Buffer }>();

/**
 * Elements [start, end) of `storage` into `out` (exactly end - start elements of
 * storage.elementBytes, as stored: any typed array, or bytes), from the file open as `fd`. A file
 * shorter than when it was probed is a FileFormatError naming `file` and `dataset`.
 */
export function readRawInto(
  file: string,
  dataset: string,
  fd: number,
  storage: RawStorage,
  start: number,
  end: number,
  out: ArrayBufferView,
): void {
  if (
    !(Number.isInteger(start) && Number.isInteger(end) && 0 <= start && start <= end && end <= storage.length)
  ) {
    throw new ArgumentError(
      `readRawInto: [${start}, ${end}) outside ${dataset}'s ${storage.length} elements`,
    );
  }
  const size = storage.elementBytes;
  if (out.byteLength !== (end - start) * size) {
    throw new ArgumentError(
      `readRawInto: ${end - start} elements of ${dataset} into an array of ${out.byteLength} bytes`,
    );
  }
  const bytes = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  if (storage.compact !== undefined) {
    bytes.set(storage.compact.subarray(start * size, end * size));
    return;
  }
  const per = storage.chunkElements;
  // A run of bytes to read: from `position` in the file to `at` in out, `length` bytes.
  let run = { position: 0, at: 0, length: 0 };
  const flush = () => {
    if (run.length > 0) readFully(file, dataset, fd, bytes, run.at, run.length, run.position);
  };
  for (let e = start; e < end; ) {
    const k = Math.floor(e / per);
    const chunk = storage.chunks[k]!;
    const from = e - k * per;
    const to = Math.min(end - k * per, per);
    const at = (e - start) * size;
    if (chunk.deflated) {
      let last = lastInflated.get(storage);
      if (last?.chunk !== chunk) {
        last = { chunk, bytes: inflateChunk(file, dataset, fd, chunk, per * size) };
        lastInflated.set(storage, last);
      }
      bytes.set(last.bytes.subarray(from * size, to * size), at);
    } else if (run.length > 0 && run.position + run.length === chunk.position + from * size) {
      run.length += (to - from) * size;
    } else {
      flush();
      run = { position: chunk.position + from * size, at, length: (to - from) * size };
    }
    e += to - from;
  }
  flush();
}

function readFully(
  file: string,
  dataset: string,
  fd: number,
  bytes: Uint8Array,
  at: number,
  length: number,
  position: number,
): void {
  const done = readUpTo(fd, bytes, at, length, position);
  if (done < length) {
    throw new FileFormatError(
      `${file}: dataset ${dataset} ends at byte ${position + done} of the file, expected ${position + length}: the file was truncated`,
      { file, key: dataset },
    );
  }
}

/** A deflated chunk of `chunkBytes` when inflated, read and inflated. */
function inflateChunk(
  file: string,
  dataset: string,
  fd: number,
  chunk: RawChunk,
  chunkBytes: number,
): Buffer {
  const stored = Buffer.allocUnsafe(chunk.storedBytes);
  readFully(file, dataset, fd, stored, 0, stored.length, chunk.position);
  let inflated: Buffer;
  try {
    inflated = inflateSync(stored, { maxOutputLength: chunkBytes });
  } catch (error) {
    throw new FileFormatError(
      `${file}: dataset ${dataset} has a deflated chunk at byte ${chunk.position} that does not inflate to ${chunkBytes} bytes (${(error as Error).message})`,
      { file, key: dataset, cause: error },
    );
  }
  if (inflated.length !== chunkBytes) {
    throw new FileFormatError(
      `${file}: dataset ${dataset} has a deflated chunk at byte ${chunk.position} of ${inflated.length} bytes inflated, expected ${chunkBytes}`,
      { file, key: dataset },
    );
  }
  return inflated;
}
