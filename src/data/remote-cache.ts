import { createHash } from "node:crypto";
import { mkdir, open, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import type { IncomingMessage } from "node:http";
import { homedir } from "node:os";
import { basename, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { ArgumentError, CellariumError, DownloadError, FileFormatError, OutputError } from "../errors.js";
import { writeFileAtomic } from "./atomic-file.js";
import { withFileLock } from "./file-lock.js";
import { httpGet } from "./http-get.js";

// Shards named by http(s) URL are downloaded into a local cache and read from there (HDF5 needs
// random access). In the cache directory, for each URL (key = a hash of the URL):
//   <key>-<name>            the file, complete and verified
//   <key>-<name>.json       what the server said about that version: ETag, Last-Modified, length,
//                           and when it was last asked (written atomically, after the file)
//   <key>-<name>.part       a download under way, or broken off, resumed by the next attempt
//   <key>-<name>.part.json  the validators of the version the .part holds
//   <key>-<name>.lock       held while one process checks or downloads (see file-lock.ts)
//
// Nothing enters the cache unverified: the .part must have the length the server announced
// (Content-Length, or the total of Content-Range), an HTML answer (a login page) is refused, and
// an .h5ad/.h5 name must hold the HDF5 signature. A resume asks for the rest with If-Range, so a
// file changed on the server comes back whole (200) instead of being spliced onto the old bytes.
//
// Reuse: a cached file is revalidated (a conditional GET) when its server was last asked more
// than revalidateAfterMs ago; 304 keeps it, another version is downloaded and replaces it. When
// the server cannot be reached, or does not answer 304 or 200, the cached copy is used with a
// one-line warning (offline use): it was verified when it was downloaded, and failing a run for
// want of a network would be worse than the small chance that the file changed meanwhile. A
// cached file with no record (from an older version of this code) is downloaded again.

/** How downloads behave; every field has a default. */
export interface DownloadOptions {
  /** Milliseconds to connect (default 30 s, or CELLARIUM_HTTP_CONNECT_TIMEOUT in seconds). */
  readonly connectTimeoutMs?: number;
  /** Milliseconds without a byte from the server (default 60 s, or CELLARIUM_HTTP_IDLE_TIMEOUT in seconds). */
  readonly idleTimeoutMs?: number;
  /** Further attempts after a transient failure: a broken connection, a timeout, HTTP 408, 429, 5xx (default 4). */
  readonly retries?: number;
  /** Wait before the first retry, doubled for each next one up to 30 s; a Retry-After header overrides it (default 1 s). */
  readonly retryDelayMs?: number;
  /** A cached file whose server was asked less than this long ago is used without asking (default 60 s). */
  readonly revalidateAfterMs?: number;
  /** A lock file untouched for this long is taken over (default 2 min); one whose process died on this host, at once. */
  readonly lockStaleMs?: number;
}

export interface RemoteCacheOptions extends DownloadOptions {
  /** Default: defaultCacheDir(). */
  readonly cacheDir?: string;
}

type Settings = Required<DownloadOptions>;

/** What a server says about a version of a file. */
interface Validators {
  readonly etag?: string;
  readonly lastModified?: string;
  readonly length?: number;
}

/** The sidecar record of a cached file (<file>.json) or of a partial download (<file>.part.json). */
interface Entry extends Validators {
  readonly url: string;
  /** When the server was last asked about the cached file, in milliseconds since the epoch. */
  readonly checkedAt?: number;
}

interface PartialDownload extends Entry {
  /** Bytes already in the .part file. */
  readonly have: number;
}

const MAX_BACKOFF_MS = 30_000;
const MAX_RETRY_AFTER_MS = 60_000;
/** setTimeout's longest delay; longer ones would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const HDF5_SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);
/** Error codes of connections that may work on another try. */
const TRANSIENT_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENETDOWN",
  "ERR_STREAM_PREMATURE_CLOSE",
]);

/** Failures worth another attempt, with the server's Retry-After in milliseconds when it gave one. */
const retryable = new WeakMap<Error, number | undefined>();

function again<E extends Error>(error: E, afterMs?: number): E {
  retryable.set(error, afterMs);
  return error;
}

/** The cache directory: CELLARIUM_CACHE_DIR, else ~/.cache/cellarium-ts. */
export function defaultCacheDir(): string {
  return process.env.CELLARIUM_CACHE_DIR ?? join(homedir(), ".cache", "cellarium-ts");
}

export function isRemote(path: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(path);
}

/** A local path for `source`: itself when local, else the cached, verified download of the URL. */
export async function localPath(source: string, options: RemoteCacheOptions = {}): Promise<string> {
  if (!isRemote(source)) return source;
  const url = parseUrl(source);
  const settings = resolveSettings(source, options);
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  const key = createHash("sha256").update(source).digest("hex").slice(0, 16);
  const target = join(cacheDir, `${key}-${basename(url.pathname) || "download"}`);
  if (isFresh(await readEntry(target, source), settings)) return target;
  try {
    await mkdir(cacheDir, { recursive: true });
  } catch (error) {
    throw new OutputError(`${cacheDir}: cannot create the download cache (${(error as Error).message})`, {
      file: cacheDir,
      cause: error,
    });
  }
  await withFileLock(`${target}.lock`, source, settings.lockStaleMs, async () => {
    // Checked again under the lock: another process may have just downloaded or revalidated it.
    const cached = await readEntry(target, source);
    if (isFresh(cached, settings)) return;
    const changed = cached === null ? undefined : await revalidate(source, url, target, cached, settings);
    if (cached === null || changed !== undefined) await download(source, url, target, settings, changed);
  });
  return target;
}

function parseUrl(source: string): URL {
  const url = URL.canParse(source) ? new URL(source) : undefined;
  if (url === undefined) {
    throw new ArgumentError(`${source}: not a valid URL; give a local path or an http(s) URL`, {
      file: source,
      key: "filename",
      value: source,
    });
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ArgumentError(
      `${source}: ${url.protocol}// URLs are not supported; give a local path or an http(s) URL (a public or signed object URL)`,
      { file: source, key: "filename", value: source },
    );
  }
  return url;
}

function resolveSettings(source: string, options: DownloadOptions): Settings {
  const settings = {
    connectTimeoutMs: options.connectTimeoutMs ?? envSeconds("CELLARIUM_HTTP_CONNECT_TIMEOUT") ?? 30_000,
    idleTimeoutMs: options.idleTimeoutMs ?? envSeconds("CELLARIUM_HTTP_IDLE_TIMEOUT") ?? 60_000,
    retries: options.retries ?? 4,
    retryDelayMs: options.retryDelayMs ?? 1000,
    revalidateAfterMs: options.revalidateAfterMs ?? 60_000,
    lockStaleMs: options.lockStaleMs ?? 120_000,
  };
  for (const key of Object.keys(settings) as (keyof Settings)[]) {
    const value = settings[key];
    const positive = key.endsWith("TimeoutMs") || key === "lockStaleMs";
    const valid = key === "retries" ? Number.isSafeInteger(value) && value >= 0 : value >= 0;
    if (!valid || (positive && value === 0)) {
      const kind = key === "retries" ? "a whole number >= 0" : positive ? "a number > 0" : "a number >= 0";
      throw new ArgumentError(`${source}: download option ${key} must be ${kind}, got ${value}`, {
        file: source,
        key,
        value,
      });
    }
    if (key !== "retries" && key !== "revalidateAfterMs") settings[key] = Math.min(value, MAX_TIMER_MS);
  }
  return settings;
}

function envSeconds(name: string): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return undefined;
  const seconds = Number(raw);
  if (!(seconds > 0)) {
    throw new ArgumentError(`${name} must be a number of seconds > 0, got "${raw}"`, {
      key: name,
      value: raw,
    });
  }
  return seconds * 1000;
}

function isFresh(entry: Entry | null, settings: Settings): boolean {
  return entry !== null && Date.now() - (entry.checkedAt ?? 0) < settings.revalidateAfterMs;
}

/**
 * Asks the server whether the cached file is current. Returns its 200 answer when it holds
 * another version (the body to download), else undefined: the cached file is to be used.
 */
async function revalidate(
  source: string,
  url: URL,
  target: string,
  cached: Entry,
  settings: Settings,
): Promise<IncomingMessage | undefined> {
  const headers: Record<string, string> = {};
  if (cached.etag !== undefined) headers["if-none-match"] = cached.etag;
  if (cached.lastModified !== undefined) headers["if-modified-since"] = cached.lastModified;
  let reason: string;
  try {
    const response = await httpGet(url, headers, settings);
    const status = response.statusCode;
    // A server that ignores the conditions answers 200 with the same validators.
    if (status === 304 || (status === 200 && sameVersion(cached, validatorsOf(response)))) {
      response.destroy();
      await writeEntry(target, { ...cached, checkedAt: Date.now() });
      return undefined;
    }
    if (status === 200 && htmlType(response) === undefined) return response;
    response.destroy();
    reason = `HTTP ${status} ${response.statusMessage}${htmlType(response) === undefined ? "" : ", an HTML page"}`;
  } catch (error) {
    reason = withoutSource((error as Error).message, source);
  }
  // Asked, if not answered: the next check waits revalidateAfterMs, so that a run offline does
  // not wait for a timeout at every shard it opens.
  await writeEntry(target, { ...cached, checkedAt: Date.now() });
  process.emitWarning(
    `${source}: could not revalidate the cached copy ${target} (${reason}); using it as it is`,
  );
  return undefined;
}

function sameVersion(a: Validators, b: Validators): boolean {
  if (a.length !== b.length) return false;
  if (a.etag !== undefined || b.etag !== undefined) return a.etag === b.etag;
  if (a.lastModified !== undefined || b.lastModified !== undefined) return a.lastModified === b.lastModified;
  return a.length !== undefined;
}

/** Downloads into <target>.part, then verifies it and moves it into the cache, retrying transient failures. */
async function download(
  source: string,
  url: URL,
  target: string,
  settings: Settings,
  first?: IncomingMessage,
): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await attemptDownload(source, url, target, settings, attempt === 1 ? first : undefined);
      return;
    } catch (error) {
      if (!retryable.has(error as Error)) throw error;
      const failure = error as DownloadError;
      if (attempt > settings.retries) {
        if (attempt === 1) throw failure;
        throw new DownloadError(`${failure.message}; gave up after ${attempt} attempts`, {
          file: source,
          ...(failure.key === undefined ? {} : { key: failure.key }),
          value: failure.value,
          cause: failure.cause,
        });
      }
      const backoffMs = Math.min(settings.retryDelayMs * 2 ** (attempt - 1), MAX_BACKOFF_MS);
      await sleep(retryable.get(failure) ?? backoffMs);
    }
  }
}

async function attemptDownload(
  source: string,
  url: URL,
  target: string,
  settings: Settings,
  answer?: IncomingMessage,
): Promise<void> {
  const part = `${target}.part`;
  const partial = await readPartial(part, source);
  let response = answer;
  try {
    response ??= await httpGet(url, partial === null ? {} : resumeHeaders(partial), settings);
  } catch (error) {
    throw connectionError(source, error);
  }
  const status = response.statusCode ?? 0;
  let version: Validators;
  if (status === 200) {
    checkContent(source, response);
    version = validatorsOf(response);
    // The .part is emptied before its record names the new version, so that a crash in between
    // leaves a .part without a record (never resumed), not old bytes under new validators.
    await rm(`${part}.json`, { force: true });
    await writeFile(part, new Uint8Array());
    await writeEntry(part, { url: source, ...version });
    await receive(source, response, part, version.length);
  } else if ((status === 206 || status === 416) && partial !== null) {
    version = await checkResume(source, response, part, partial);
    if (status === 416) {
      response.resume();
    } else {
      checkContent(source, response);
      await receive(source, response, part, version.length);
    }
  } else {
    response.resume();
    throw statusError(source, response);
  }
  await verify(source, url, part, version.length);
  // The old record goes first and the new one comes after the file, so that a crash in between
  // leaves a file without a record (downloaded again), never a record that vouches for the wrong file.
  await rm(`${target}.json`, { force: true });
  await rename(part, target);
  await writeEntry(target, {
    url: source,
    etag: version.etag,
    lastModified: version.lastModified,
    length: (await stat(target)).size,
    checkedAt: Date.now(),
  });
  await rm(`${part}.json`, { force: true });
}

/** The .part file and its record, if it can be resumed; else none (and an unusable .part is removed). */
async function readPartial(part: string, source: string): Promise<PartialDownload | null> {
  const have = (await stat(part).catch(() => null))?.size ?? 0;
  const entry = await readJson(`${part}.json`, source);
  if (have > 0 && entry !== null && ifRange(entry) !== undefined) return { ...entry, have };
  if (have > 0 || entry !== null) await discardPartial(part);
  return null;
}

/** The validator for If-Range: a strong ETag, else Last-Modified (a weak ETag cannot be used). */
function ifRange(version: Validators): string | undefined {
  return version.etag !== undefined && !version.etag.startsWith("W/") ? version.etag : version.lastModified;
}

function resumeHeaders(partial: PartialDownload): Record<string, string> {
  return { range: `bytes=${partial.have}-`, "if-range": ifRange(partial)! };
}

/**
 * Checks that a 206 continues the .part exactly (the same version, from where the .part ends), or
 * that a 416 says the .part is already whole (a run killed before the rename; the server, having
 * honoured If-Range, confirms the total). Else the .part is discarded and the next attempt starts over.
 */
async function checkResume(
  source: string,
  response: IncomingMessage,
  part: string,
  partial: PartialDownload,
): Promise<Validators> {
  const header = response.headers["content-range"];
  const whole = response.statusCode === 416;
  const match = (whole ? /^bytes \*\/(\d+)$/ : /^bytes (\d+)-\d+\/(\d+|\*)$/).exec(header ?? "");
  const total = match === null || match.at(-1) === "*" ? undefined : Number(match.at(-1));
  const etag = validatorsOf(response).etag;
  let problem: string | undefined;
  if (match === null) problem = `Content-Range ${header ?? "absent"}`;
  else if (whole && (total !== partial.have || partial.length !== partial.have))
    problem = `Content-Range ${header} while the file is not whole`;
  else if (!whole && Number(match[1]) !== partial.have)
    problem = `Content-Range ${header}, not starting at byte ${partial.have}`;
  else if (partial.length !== undefined && total !== undefined && total !== partial.length)
    problem = `Content-Range ${header}, not the ${partial.length} bytes announced first`;
  else if (etag !== undefined && partial.etag !== undefined && etag !== partial.etag)
    problem = `ETag ${etag}, not ${partial.etag}`;
  if (problem === undefined) return { ...partial, length: total ?? partial.length };
  response.destroy();
  await discardPartial(part);
  // Appending would splice two versions or repeat bytes; the next attempt starts over.
  throw again(
    new DownloadError(
      `${source}: the resume of ${part} at byte ${partial.have} was answered with HTTP ${response.statusCode} and ${problem}; the partial download was discarded`,
      { file: source, key: "Content-Range", value: header },
    ),
    0,
  );
}

/** Appends the body to `part`, awaiting each chunk onto disk so that an interruption keeps what arrived. */
async function receive(
  source: string,
  response: IncomingMessage,
  part: string,
  length: number | undefined,
): Promise<void> {
  const file = await open(part, "a").catch((error) => {
    throw writeError(part, error);
  });
  try {
    for await (const chunk of response) {
      await file.write(chunk as Buffer).catch((error) => {
        response.destroy();
        throw writeError(part, error);
      });
    }
  } catch (error) {
    const size = (await file.stat()).size;
    throw connectionError(source, error, `after ${size} of ${length ?? "an unknown number of"} bytes`, part);
  } finally {
    await file.close();
  }
}

/** Checks the whole .part before it enters the cache: its length, and the HDF5 signature for HDF5 names. */
async function verify(source: string, url: URL, part: string, length: number | undefined): Promise<void> {
  const size = (await stat(part)).size;
  if (length !== undefined && size < length) {
    // Kept: the next attempt asks for the rest.
    throw again(
      new DownloadError(`${source}: received ${size} of ${length} bytes; ${part} keeps them to resume`, {
        file: source,
        key: "Content-Length",
        value: size,
      }),
    );
  }
  if (length !== undefined && size > length) {
    await discardPartial(part);
    throw new DownloadError(`${source}: received ${size} bytes, more than the ${length} announced`, {
      file: source,
      key: "Content-Length",
      value: size,
    });
  }
  if (!/\.(h5ad|h5|hdf5)$/i.test(url.pathname)) return;
  const head = await hdf5Head(part);
  if (head === undefined) return;
  await discardPartial(part);
  const shown = JSON.stringify(head.toString("latin1").replace(/[^\x20-\x7e]/g, "."));
  throw new FileFormatError(
    `${source}: the download is not an HDF5 file (no HDF5 signature at byte 0, 512, 1024, ...; it starts with ${shown})`,
    { file: source, key: "signature", value: shown },
  );
}

/**
 * Undefined when the file has the HDF5 signature where the format allows it (byte 0, or after a
 * user block of 512, 1024, 2048, ... bytes), else its first 16 bytes (to show in the error).
 */
async function hdf5Head(path: string): Promise<Buffer | undefined> {
  const file = await open(path, "r");
  try {
    const size = (await file.stat()).size;
    const bytes = Buffer.alloc(HDF5_SIGNATURE.length);
    for (let offset = 0; offset + bytes.length <= size; offset = offset === 0 ? 512 : offset * 2) {
      await file.read(bytes, 0, bytes.length, offset);
      if (bytes.equals(HDF5_SIGNATURE)) return undefined;
    }
    const head = Buffer.alloc(Math.min(16, size));
    await file.read(head, 0, head.length, 0);
    return head;
  } finally {
    await file.close();
  }
}

/** The content type when the server sent HTML, else undefined. */
function htmlType(response: IncomingMessage): string | undefined {
  const type = response.headers["content-type"];
  return type !== undefined && /^\s*text\/html\b/i.test(type) ? type : undefined;
}

/** Refuses a body that is not the file's bytes as they are: an HTML page, or a compressed body. */
function checkContent(source: string, response: IncomingMessage): void {
  const type = htmlType(response);
  const encoding = response.headers["content-encoding"];
  if (type === undefined && (encoding === undefined || /^\s*identity\s*$/i.test(encoding))) return;
  response.destroy();
  const [what, key, value] =
    type === undefined
      ? [`a body in Content-Encoding ${encoding} (not asked for)`, "Content-Encoding", encoding]
      : [
          `an HTML page (Content-Type ${type}), not the file; a login page or an expired link?`,
          "Content-Type",
          type,
        ];
  throw new FileFormatError(`${source}: the server answered HTTP ${response.statusCode} with ${what}`, {
    file: source,
    key,
    value,
  });
}

function statusError(source: string, response: IncomingMessage): DownloadError {
  const status = response.statusCode ?? 0;
  const hint = status === 401 || status === 403 ? " (a private file, or an expired signed URL?)" : "";
  const error = new DownloadError(`${source}: HTTP ${status} ${response.statusMessage ?? ""}${hint}`, {
    file: source,
    key: "status",
    value: status,
  });
  return status === 408 || status === 429 || status >= 500
    ? again(error, retryAfterMs(response.headers["retry-after"]))
    : error;
}

/** Retry-After (seconds, or an HTTP date) in milliseconds, at most a minute. */
function retryAfterMs(header: string | undefined): number | undefined {
  if (header === undefined) return undefined;
  const ms = /^\s*\d+\s*$/.test(header) ? Number(header) * 1000 : Date.parse(header) - Date.now();
  return Number.isNaN(ms) ? undefined : Math.min(Math.max(ms, 0), MAX_RETRY_AFTER_MS);
}

/**
 * A failed connection as a DownloadError naming the URL and, for a body, how far it came (our own
 * errors, timeouts included, pass as they are).
 */
function connectionError(source: string, error: unknown, progress?: string, part?: string): Error {
  if (error instanceof CellariumError) {
    if (error.key === "connectTimeoutMs" || error.key === "idleTimeoutMs") again(error);
    return error;
  }
  const code = (error as NodeJS.ErrnoException).code ?? "unknown";
  const what = progress === undefined ? "the connection failed" : `the connection broke ${progress}`;
  const kept = part === undefined ? "" : `; ${part} keeps them to resume`;
  const wrapped = new DownloadError(`${source}: ${what} (${(error as Error).message})${kept}`, {
    file: source,
    key: "connection",
    value: code,
    cause: error,
  });
  return TRANSIENT_CODES.has(code) ? again(wrapped) : wrapped;
}

function writeError(part: string, error: unknown): OutputError {
  return new OutputError(`${part}: cannot write the download (${(error as Error).message})`, {
    file: part,
    cause: error,
  });
}

function validatorsOf(response: IncomingMessage): Validators {
  const etag = response.headers.etag;
  const lastModified = response.headers["last-modified"];
  const length = Number(response.headers["content-length"] ?? Number.NaN);
  return {
    ...(etag === undefined ? {} : { etag }),
    ...(lastModified === undefined ? {} : { lastModified }),
    ...(Number.isSafeInteger(length) ? { length } : {}),
  };
}

/** The record of the cached file, if the file is there and has the length recorded. */
async function readEntry(target: string, source: string): Promise<Entry | null> {
  const entry = await readJson(`${target}.json`, source);
  const size = (await stat(target).catch(() => null))?.size;
  return entry !== null && size !== undefined && size === entry.length ? entry : null;
}

/** A record for `source`, or null when missing, unreadable or for another URL. */
async function readJson(path: string, source: string): Promise<Entry | null> {
  try {
    const entry = JSON.parse(await readFile(path, "utf8")) as Entry;
    const optional = (value: unknown, type: string) => value === undefined || typeof value === type;
    const valid =
      entry.url === source &&
      optional(entry.etag, "string") &&
      optional(entry.lastModified, "string") &&
      optional(entry.length, "number") &&
      optional(entry.checkedAt, "number");
    return valid ? entry : null;
  } catch {
    return null;
  }
}

function writeEntry(path: string, entry: Entry): Promise<void> {
  return writeFileAtomic(`${path}.json`, `${JSON.stringify(entry)}\n`);
}

async function discardPartial(part: string): Promise<void> {
  await rm(`${part}.json`, { force: true });
  await rm(part, { force: true });
}

function withoutSource(message: string, source: string): string {
  return message.startsWith(`${source}: `) ? message.slice(source.length + 2) : message;
}
