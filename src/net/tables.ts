/**
 * Compact range tables built from the @ip-location-db CSVs.
 *
 * Each address family becomes one sorted array of segment starts covering the whole space
 * (IPv4 as uint32, IPv6 as four big-endian uint32 words per start), with per-segment country
 * (index into `countries`, 0 = none) and origin ASN (0 = none). A lookup is one binary search.
 * The country and ASN files are cut at each other's boundaries into one table, so a segment has
 * exactly one (country, ASN) pair, which is what the sampler needs to draw "residential
 * addresses of IR" without a second lookup.
 *
 * The published CSVs contain overlapping rows (a more specific range nested in a larger one,
 * and a few partial overlaps). Rows are ordered by (start asc, end desc) and a later row wins
 * where it overlaps an earlier one, so the more specific range wins, as a prefix match would.
 * Special-purpose ranges (private, loopback, documentation, multicast, 6to4, Teredo...) are
 * blanked whatever the data says.
 */
import ipaddr from 'ipaddr.js';

export interface FamilyTable {
  /** Number of segments. */
  readonly n: number;
  /** IPv4: one uint32 per segment; IPv6: four words per segment (big-endian). starts[0] = 0. */
  readonly starts: Uint32Array;
  /** Country index per segment into IpTables.countries (0 = none). */
  readonly country: Uint8Array;
  /** Origin ASN per segment (0 = none). */
  readonly asn: Uint32Array;
}

export interface IpTables {
  readonly v4: FamilyTable;
  readonly v6: FamilyTable;
  /** ISO 3166-1 alpha-2 codes; index 0 is '' (no country). */
  readonly countries: readonly string[];
  /** AS names by ASN. */
  readonly asNames: ReadonlyMap<number, string>;
  /** Versions of the data packages the tables were built from. */
  readonly source: Readonly<Record<string, string>>;
}

/** A range list: inclusive [s, e] with a value, as parallel arrays. */
export interface Ranges<T> {
  s: T[];
  e: T[];
  v: number[];
}

interface Arith<T> {
  inc(x: T): T;
  dec(x: T): T;
  zero: T;
  /** One past the largest address. */
  end: T;
}

const ARITH4: Arith<number> = { inc: (x) => x + 1, dec: (x) => x - 1, zero: 0, end: 2 ** 32 };
const ARITH6: Arith<bigint> = { inc: (x) => x + 1n, dec: (x) => x - 1n, zero: 0n, end: 1n << 128n };

function emptyRanges<T>(): Ranges<T> {
  return { s: [], e: [], v: [] };
}

/**
 * Makes a list non-overlapping: rows ordered by (start asc, end desc), a later row wins where it
 * overlaps an earlier one.
 */
function normalize<T extends number | bigint>(input: Ranges<T>, ar: Arith<T>): Ranges<T> {
  // The files are sorted by start; only nested rows sharing a start are out of (start asc,
  // end desc) order, so an insertion sort over an index fixes them in about linear time.
  let order: Int32Array | undefined;
  const count = input.s.length;
  const before = (a: number, b: number): boolean => {
    const sa = input.s[a]!;
    const sb = input.s[b]!;
    return sa < sb || (sa === sb && input.e[a]! > input.e[b]!);
  };
  for (let i = 1; i < count; i++) {
    const prev = order ? order[i - 1]! : i - 1;
    if (!before(i, prev)) continue;
    if (!order) {
      order = new Int32Array(count);
      for (let k = 0; k < count; k++) order[k] = k;
    }
    let k = i;
    while (k > 0 && before(i, order[k - 1]!)) {
      order[k] = order[k - 1]!;
      k--;
    }
    order[k] = i;
  }
  const out = emptyRanges<T>();
  const ts: T[] = [];
  const te: T[] = [];
  const tv: number[] = [];
  for (let r = 0; r < count; r++) {
    const i = order ? order[r]! : r;
    const s = input.s[i]!;
    const e = input.e[i]!;
    const v = input.v[i]!;
    if (e < s) continue;
    let last = out.s.length - 1;
    if (last < 0 || s > out.e[last]!) {
      out.s.push(s);
      out.e.push(e);
      out.v.push(v);
      continue;
    }
    ts.length = te.length = tv.length = 0;
    while (last >= 0 && out.e[last]! >= s) {
      const ps = out.s.pop()!;
      const pe = out.e.pop()!;
      const pv = out.v.pop()!;
      last--;
      if (pe > e) {
        const after = ar.inc(e);
        ts.push(ps > after ? ps : after);
        te.push(pe);
        tv.push(pv);
      }
      if (ps < s) {
        out.s.push(ps);
        out.e.push(ar.dec(s));
        out.v.push(pv);
        break;
      }
    }
    out.s.push(s);
    out.e.push(e);
    out.v.push(v);
    for (let k = ts.length - 1; k >= 0; k--) {
      out.s.push(ts[k]!);
      out.e.push(te[k]!);
      out.v.push(tv[k]!);
    }
  }
  return out;
}

/**
 * Cuts three normalised lists (country, ASN, blanked) into segments covering the whole space and
 * calls emit(start, country, asn) for each segment whose values differ from the previous one.
 */
function combine<T extends number | bigint>(
  a: Ranges<T>,
  b: Ranges<T>,
  blank: Ranges<T>,
  ar: Arith<T>,
  emit: (start: T, country: number, asn: number) => void,
): void {
  let i = 0;
  let j = 0;
  let k = 0;
  let pos = ar.zero;
  let lastC = -1;
  let lastA = -1;
  const na = a.s.length;
  const nb = b.s.length;
  const nk = blank.s.length;
  for (;;) {
    while (i < na && a.e[i]! < pos) i++;
    while (j < nb && b.e[j]! < pos) j++;
    while (k < nk && blank.e[k]! < pos) k++;
    let next = ar.end;
    let c = 0;
    let asn = 0;
    if (i < na) {
      if (a.s[i]! <= pos) {
        c = a.v[i]!;
        next = ar.inc(a.e[i]!);
      } else next = a.s[i]!;
    }
    if (j < nb) {
      let nj: T;
      if (b.s[j]! <= pos) {
        asn = b.v[j]!;
        nj = ar.inc(b.e[j]!);
      } else nj = b.s[j]!;
      if (nj < next) next = nj;
    }
    if (k < nk) {
      let nk2: T;
      if (blank.s[k]! <= pos) {
        c = 0;
        asn = 0;
        nk2 = ar.inc(blank.e[k]!);
      } else nk2 = blank.s[k]!;
      if (nk2 < next) next = nk2;
    }
    if (c !== lastC || asn !== lastA) {
      emit(pos, c, asn);
      lastC = c;
      lastA = asn;
    }
    if (next >= ar.end) return;
    pos = next;
  }
}

/** Growable parallel arrays for the output table. */
class TableBuilder {
  starts: Uint32Array;
  country: Uint8Array;
  asn: Uint32Array;
  n = 0;
  constructor(
    private readonly words: 1 | 4,
    capacity = 1024,
  ) {
    this.starts = new Uint32Array(capacity * words);
    this.country = new Uint8Array(capacity);
    this.asn = new Uint32Array(capacity);
  }
  private grow(): void {
    const cap = this.country.length * 2;
    const s = new Uint32Array(cap * this.words);
    s.set(this.starts);
    const c = new Uint8Array(cap);
    c.set(this.country);
    const a = new Uint32Array(cap);
    a.set(this.asn);
    this.starts = s;
    this.country = c;
    this.asn = a;
  }
  push4(start: number, country: number, asn: number): void {
    if (this.n === this.country.length) this.grow();
    this.starts[this.n] = start;
    this.country[this.n] = country;
    this.asn[this.n] = asn;
    this.n++;
  }
  push6(start: bigint, country: number, asn: number): void {
    if (this.n === this.country.length) this.grow();
    const o = this.n * 4;
    this.starts[o] = Number(start >> 96n);
    this.starts[o + 1] = Number((start >> 64n) & 0xffffffffn);
    this.starts[o + 2] = Number((start >> 32n) & 0xffffffffn);
    this.starts[o + 3] = Number(start & 0xffffffffn);
    this.country[this.n] = country;
    this.asn[this.n] = asn;
    this.n++;
  }
  finish(): FamilyTable {
    const n = this.n;
    return {
      n,
      starts: this.starts.slice(0, n * this.words),
      country: this.country.slice(0, n),
      asn: this.asn.slice(0, n),
    };
  }
}

// Special-purpose ranges (RFC 6890 and successors) that never carry a country or an ASN.
const BLANK_V4 = [
  '0.0.0.0/8',
  '10.0.0.0/8',
  '100.64.0.0/10',
  '127.0.0.0/8',
  '169.254.0.0/16',
  '172.16.0.0/12',
  '192.0.0.0/24',
  '192.0.2.0/24',
  '192.88.99.0/24',
  '192.168.0.0/16',
  '198.18.0.0/15',
  '198.51.100.0/24',
  '203.0.113.0/24',
  '224.0.0.0/4',
  '240.0.0.0/4',
];
const BLANK_V6 = [
  '::/3', // unspecified, loopback, IPv4-compatible/-mapped, NAT64, discard: nothing global below 2000::/3
  '2001::/32', // Teredo
  '2001:2::/48', // benchmarking
  '2001:10::/28', // ORCHID
  '2001:20::/28', // ORCHIDv2
  '2001:db8::/32', // documentation
  '2002::/16', // 6to4
  '3fff::/20', // documentation
  '4000::/2', // not global unicast: 4000::/2, 8000::/1 (incl. ULA fc00::/7, link-local, multicast)
  '8000::/1',
];

export function bytesToBigInt(bytes: number[]): bigint {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return v;
}

/** Inclusive [first, last] of a CIDR, via ipaddr.js. */
export function cidrRange(cidr: string): { version: 4 | 6; first: bigint; last: bigint } {
  const [addr, bits] = ipaddr.parseCIDR(cidr);
  const width = addr.kind() === 'ipv4' ? 32 : 128;
  const value = bytesToBigInt(addr.toByteArray());
  const hostBits = BigInt(width - bits);
  const first = (value >> hostBits) << hostBits;
  return { version: width === 32 ? 4 : 6, first, last: first + (1n << hostBits) - 1n };
}

function blankRanges4(): Ranges<number> {
  const r = emptyRanges<number>();
  for (const c of BLANK_V4) {
    const { first, last } = cidrRange(c);
    r.s.push(Number(first));
    r.e.push(Number(last));
    r.v.push(0);
  }
  return normalize(r, ARITH4);
}

function blankRanges6(): Ranges<bigint> {
  const r = emptyRanges<bigint>();
  for (const c of BLANK_V6) {
    const { first, last } = cidrRange(c);
    r.s.push(first);
    r.e.push(last);
    r.v.push(0);
  }
  return normalize(r, ARITH6);
}

/** Country codes <-> small indices. */
export class CountryCodes {
  readonly list: string[] = [''];
  private readonly byKey = new Int16Array(26 * 26).fill(-1);
  indexOf(code: string): number {
    const a = code.charCodeAt(0) - 65;
    const b = code.charCodeAt(1) - 65;
    if (code.length !== 2 || a < 0 || a > 25 || b < 0 || b > 25) return 0;
    return this.indexOfKey(a * 26 + b);
  }
  /** key = (first letter - 'A') * 26 + (second letter - 'A'). */
  indexOfKey(key: number): number {
    let idx = this.byKey[key]!;
    if (idx < 0) {
      idx = this.list.length;
      if (idx > 255) throw new RangeError('more than 255 country codes');
      this.list.push(String.fromCharCode(65 + Math.floor(key / 26), 65 + (key % 26)));
      this.byKey[key] = idx;
    }
    return idx;
  }
}

/** The raw inputs of a table build. */
export interface TableInput {
  v4Country: Ranges<number>;
  v4Asn: Ranges<number>;
  v6Country: Ranges<bigint>;
  v6Asn: Ranges<bigint>;
  codes: CountryCodes;
  asNames: Map<number, string>;
  source: Record<string, string>;
}

export function emptyInput(source: Record<string, string>): TableInput {
  return {
    v4Country: emptyRanges(),
    v4Asn: emptyRanges(),
    v6Country: emptyRanges(),
    v6Asn: emptyRanges(),
    codes: new CountryCodes(),
    asNames: new Map(),
    source,
  };
}

/** Builds the tables; `blank` (default true) clears special-purpose ranges whatever the rows say. */
export function buildTables(input: TableInput, blank = true): IpTables {
  const b4 = new TableBuilder(1, 1 << 16);
  const blank4 = blank ? blankRanges4() : emptyRanges<number>();
  combine(normalize(input.v4Country, ARITH4), normalize(input.v4Asn, ARITH4), blank4, ARITH4, (s, c, a) =>
    b4.push4(s, c, a),
  );
  const b6 = new TableBuilder(4, 1 << 16);
  const blank6 = blank ? blankRanges6() : emptyRanges<bigint>();
  combine(normalize(input.v6Country, ARITH6), normalize(input.v6Asn, ARITH6), blank6, ARITH6, (s, c, a) =>
    b6.push6(s, c, a),
  );
  return {
    v4: b4.finish(),
    v6: b6.finish(),
    countries: input.codes.list,
    asNames: input.asNames,
    source: input.source,
  };
}
