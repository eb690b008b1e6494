import { ArgumentError } from "../errors.js";

// Brace expansion of shard file names, as the Python `braceexpand` package used by cellarium-ml
// does it: `shard_{0..3}.h5ad`, zero-padded ranges `{000..999}` (the width of the wider bound),
// stepped ranges `{0..10..2}`, descending ranges, alternatives `{a,b}`, nesting, and `\{` escapes.
// Text with an unmatched brace is taken literally.

/** Expands every brace pattern in `pattern`, in order (a cartesian product, leftmost slowest). */
export function braceExpand(pattern: string): string[] {
  const open = findOpen(pattern);
  if (open < 0) return [unescapeBraces(pattern)];
  const close = findClose(pattern, open);
  if (close < 0) return [unescapeBraces(pattern)];
  const prefix = unescapeBraces(pattern.slice(0, open));
  const body = pattern.slice(open + 1, close);
  const rest = braceExpand(pattern.slice(close + 1));
  const alternatives = expandBody(body);
  const out: string[] = [];
  for (const alternative of alternatives) for (const tail of rest) out.push(prefix + alternative + tail);
  return out;
}

function findOpen(text: string): number {
  for (let i = 0; i < text.length; i++) {
    if (text[i] === "\\") i++;
    else if (text[i] === "{") return i;
  }
  return -1;
}

function findClose(text: string, open: number): number {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === "\\") i++;
    else if (text[i] === "{") depth++;
    else if (text[i] === "}" && --depth === 0) return i;
  }
  return -1;
}

function expandBody(body: string): string[] {
  const range = /^(-?\d+)\.\.(-?\d+)(?:\.\.(-?\d+))?$/.exec(body);
  if (range) return expandRange(range[1]!, range[2]!, range[3]);
  const parts = splitTopLevel(body);
  // A single alternative is not an expansion: braceexpand keeps "{a}" as is.
  if (parts.length < 2) return [`{${unescapeBraces(body)}}`];
  return parts.flatMap((part) => braceExpand(part));
}

function expandRange(startText: string, endText: string, stepText: string | undefined): string[] {
  const start = Number(startText);
  const end = Number(endText);
  const step = Math.abs(Number(stepText ?? 1));
  if (step === 0) throw new ArgumentError(`brace expansion: step 0 in range {${startText}..${endText}..0}`);
  const count = Math.floor(Math.abs(end - start) / step) + 1;
  if (count > 10_000_000)
    throw new ArgumentError(`brace expansion: range {${startText}..${endText}} is too long`);
  const padded = /^-?0\d/.test(startText) || /^-?0\d/.test(endText);
  const width = padded ? Math.max(startText.length, endText.length) : 0;
  const direction = end >= start ? 1 : -1;
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const value = start + direction * i * step;
    const digits = String(Math.abs(value)).padStart(width - (value < 0 ? 1 : 0), "0");
    out.push(value < 0 ? `-${digits}` : digits);
  }
  return out;
}

function splitTopLevel(body: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c === "\\") i++;
    else if (c === "{") depth++;
    else if (c === "}") depth--;
    else if (c === "," && depth === 0) {
      parts.push(body.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(body.slice(start));
  return parts;
}

function unescapeBraces(text: string): string {
  return text.replace(/\\(.)/g, "$1");
}
