// Values quoted in error messages. A value read from an untrusted file may be huge, nested
// without end, cyclic (a pickle's memo can put a list inside itself) or hold line breaks; quoted
// here, it is one line of at most QUOTE_CHARS characters, and quoting it never throws.

/** The longest quotation, in characters, before it is cut with "...". */
export const QUOTE_CHARS = 80;

/** A JSON-like, one-line, bounded rendering of `value` for an error message. */
export function quote(value: unknown): string {
  const parts: string[] = [];
  let length = 0;
  const seen = new Set<unknown>();
  // Writes until the budget is spent; returns false from then on so that walks stop early.
  const write = (text: string): boolean => {
    if (length > QUOTE_CHARS) return false;
    parts.push(text);
    length += text.length;
    return length <= QUOTE_CHARS;
  };
  const walk = (v: unknown): boolean => {
    if (typeof v === "string")
      return write(JSON.stringify(v.length > QUOTE_CHARS ? v.slice(0, QUOTE_CHARS) : v));
    if (typeof v === "number" || typeof v === "boolean" || typeof v === "bigint") return write(String(v));
    if (v === null || v === undefined) return write(String(v));
    if (typeof v !== "object") return write(typeof v);
    if (seen.has(v)) return write("<cycle>");
    seen.add(v);
    let ok = true;
    if (ArrayBuffer.isView(v)) ok = write(`<${v.byteLength} bytes>`);
    else if (Array.isArray(v)) {
      ok = write("[");
      for (let i = 0; ok && i < v.length; i++) ok = (i === 0 || write(", ")) && walk(v[i]);
      ok = ok && write("]");
    } else {
      const entries = v instanceof Map ? v.entries() : Object.entries(v);
      ok = write("{");
      let first = true;
      for (const [key, item] of entries) {
        ok = (first || write(", ")) && walk(key) && write(": ") && walk(item);
        first = false;
        if (!ok) break;
      }
      ok = ok && write("}");
    }
    seen.delete(v);
    return ok;
  };
  walk(value);
  const text = parts.join("");
  return text.length > QUOTE_CHARS ? `${text.slice(0, QUOTE_CHARS)}...` : text;
}
