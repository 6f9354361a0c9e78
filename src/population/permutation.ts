/**
 * Keyed pseudo-random permutation over [0, size).
 *
 * Why hand-written: the population needs three things at once from its index -> number mapping:
 * random access (phoneOf(i) without generating accounts 0..i-1), uniqueness (no two accounts
 * share a number, guaranteed rather than checked) and a cheap inverse (ownerOf(number) without a
 * table of millions of entries). That combination is findguard's own design, not something a
 * library offers: PRNGs and shuffles give sequences (no random access, no inverse), hash functions
 * give random access but collide, and format-preserving encryption libraries bring key handling
 * and cost that a simulator does not want. A small balanced Feistel network is a bijection on
 * 2^(2h) values by construction, and cycle-walking (re-applying it until the value falls back
 * inside [0, size)) restricts it to any size while staying a bijection. It is NOT cryptographic:
 * it only has to look shuffled to the code under test and be deterministic.
 */

/** 32-bit finaliser (lowbias32 constants): cheap, well-mixed, bijective on uint32. */
export function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x21f0aaad);
  x ^= x >>> 15;
  x = Math.imul(x, 0x735a2d97);
  x ^= x >>> 15;
  return x >>> 0;
}

/** Combines a key with a (non-negative, safe-integer) value into a uint32; used to derive per-index seeds. */
export function hash2(key: number, value: number): number {
  // Fold the high part in separately so indices beyond 2^32 don't alias.
  const hi = Math.floor(value / 0x1_0000_0000);
  return mix32(mix32((key ^ mix32(value >>> 0)) >>> 0) ^ Math.imul(hi + 1, 0x9e3779b1));
}

/** Stable uint32 hash of a short string (region codes etc.), so derived keys don't depend on list order. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return mix32(h >>> 0);
}

const MAX_HALF_BITS = 26; // halves stay well inside 32-bit integer ops; domain up to 2^52

export class FeistelPermutation {
  readonly size: number;
  private readonly halfBits: number;
  private readonly half: number;
  private readonly mask: number;
  private readonly keys: Uint32Array;

  constructor(size: number, key: number, rounds = 6) {
    if (!Number.isSafeInteger(size) || size < 1) throw new RangeError(`permutation size must be a positive integer, got ${size}`);
    let bits = 2;
    while (2 ** bits < size) bits++;
    // Balanced halves: the network's domain is < 4 * size, so cycle-walking averages < 4 steps.
    this.halfBits = Math.ceil(bits / 2);
    if (this.halfBits > MAX_HALF_BITS) throw new RangeError(`permutation size ${size} too large`);
    this.size = size;
    this.half = 2 ** this.halfBits;
    this.mask = this.half - 1;
    this.keys = new Uint32Array(rounds);
    for (let r = 0; r < rounds; r++) this.keys[r] = hash2(key >>> 0, r);
  }

  /** Image of x; a bijection on [0, size). */
  forward(x: number): number {
    this.check(x);
    let y = x;
    do y = this.encrypt(y);
    while (y >= this.size);
    return y;
  }

  /** Preimage of y: inverse(forward(x)) === x. */
  inverse(y: number): number {
    this.check(y);
    let x = y;
    do x = this.decrypt(x);
    while (x >= this.size);
    return x;
  }

  private check(v: number): void {
    if (!Number.isInteger(v) || v < 0 || v >= this.size) throw new RangeError(`${v} outside [0, ${this.size})`);
  }

  private round(v: number, k: number): number {
    return mix32((Math.imul(v, 0x9e3779b1) ^ k) >>> 0) & this.mask;
  }

  private encrypt(v: number): number {
    let l = Math.floor(v / this.half);
    let r = v & this.mask;
    const keys = this.keys;
    for (let i = 0; i < keys.length; i++) {
      const t = r;
      r = l ^ this.round(r, keys[i]!);
      l = t;
    }
    return l * this.half + r;
  }

  private decrypt(v: number): number {
    let l = Math.floor(v / this.half);
    let r = v & this.mask;
    const keys = this.keys;
    for (let i = keys.length - 1; i >= 0; i--) {
      const t = l;
      l = r ^ this.round(l, keys[i]!);
      r = t;
    }
    return l * this.half + r;
  }
}
