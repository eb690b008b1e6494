// The checksum of HDF5's newer metadata (version 2 object headers and their continuation blocks,
// version 2 and 3 superblocks): Bob Jenkins' lookup3 hash of the bytes, byte-wise, seed 0
// (HDF5 file format specification, "Checksums"; the algorithm is public domain).

const rot = (x: number, k: number) => (x << k) | (x >>> (32 - k));
/** The rotations of lookup3's mix (per 12-byte block) and final steps. */
const MIX = [4, 6, 8, 16, 19, 4];
const FINAL = [14, 11, 25, 16, 4, 14, 24];

/** lookup3's hash of `bytes` (its hashlittle, byte by byte), as an unsigned 32-bit number. */
export function lookup3(bytes: Uint8Array, seed = 0): number {
  // a, b, c: 32-bit words, wrapped on every store.
  const s = new Int32Array(3).fill(0xdeadbeef + bytes.length + seed);
  const add = (at: number, end: number) => {
    for (let i = at; i < end; i++) s[Math.floor((i - at) / 4)]! += bytes[i]! << (8 * ((i - at) % 4));
  };
  let at = 0;
  for (; bytes.length - at > 12; at += 12) {
    add(at, at + 12);
    // Step i: x -= z; x ^= rot(z, r); z += y, with (x, y, z) = (a, b, c), (b, c, a), (c, a, b), ...
    MIX.forEach((r, i) => {
      const [x, y, z] = [i % 3, (i + 1) % 3, (i + 2) % 3];
      s[x]! -= s[z]!;
      s[x]! ^= rot(s[z]!, r);
      s[z]! += s[y]!;
    });
  }
  if (at === bytes.length) return s[2]! >>> 0;
  add(at, bytes.length);
  // Step i: x ^= w; x -= rot(w, r), with (x, w) = (c, b), (a, c), (b, a), ...
  FINAL.forEach((r, i) => {
    const [x, w] = [(i + 2) % 3, (i + 1) % 3];
    s[x]! ^= s[w]!;
    s[x]! -= rot(s[w]!, r);
  });
  return s[2]! >>> 0;
}

/** Whether `block`'s last 4 bytes are the checksum of the bytes before them. */
export function checksumMatches(block: Uint8Array): boolean {
  if (block.length < 4) return false;
  const end = block.length - 4;
  const stored =
    (block[end]! | (block[end + 1]! << 8) | (block[end + 2]! << 16) | (block[end + 3]! << 24)) >>> 0;
  return lookup3(block.subarray(0, end)) === stored;
}
