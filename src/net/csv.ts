/**
 * Byte-level parsers for the @ip-location-db "-num" CSVs (~110 MB in all), read straight from the
 * file buffers: no string per line and no allocation per field, since this is most of a first
 * load. The "-num" files give decimal integers; IPv4 fits a double, IPv6 goes to BigInt.
 *
 * The parsers only append rows to range lists; making them non-overlapping and cutting them into
 * tables is tables.ts's job.
 */
import type { CountryCodes, Ranges } from './tables.js';

const COMMA = 44;
const NL = 10;
const CR = 13;
const QUOTE = 34;
const MAX_ASN = 0xffffffff;

// Where the last decimal() stopped (the index of its closing comma). A module-level cursor lets
// decimal() hand back both a value and a position without allocating; the parsers are synchronous,
// so no two of them can interleave on it.
let cursor = 0;

/**
 * Decimal digits from i up to the next comma; sets `cursor` to that comma. Stops at any non-digit
 * (and at the end of the buffer), so a damaged row yields a wrong value rather than an endless loop.
 */
function decimal(buf: Buffer, i: number): number {
  let v = 0;
  let c = buf[i];
  while (c !== undefined && c >= 48 && c <= 57) {
    v = v * 10 + (c - 48);
    c = buf[++i];
  }
  cursor = i;
  return v;
}

/** Big decimal from buf[from, to); only runs of more than 15 digits go through a string. */
function decimalBig(buf: Buffer, from: number, to: number): bigint {
  // Up to 15 digits a double is exact, and `to` is always a comma, where decimal() stops too.
  if (to - from <= 15) return BigInt(decimal(buf, from));
  return BigInt(buf.toString('latin1', from, to));
}

/** End of the field at i: its comma, or (in a damaged row) the end of the line or buffer. */
function field(buf: Buffer, i: number): number {
  const len = buf.length;
  let k = i;
  while (k < len && buf[k] !== COMMA && buf[k] !== NL) k++;
  return k;
}

/** Index of the newline at or after i, or the buffer's length. */
function toNewline(buf: Buffer, i: number): number {
  const len = buf.length;
  while (i < len && buf[i] !== NL) i++;
  return i;
}

/** CountryCodes key of the two letters at k, or -1 if they are not a code. */
function countryKey(buf: Buffer, k: number): number {
  const key = (buf[k]! - 65) * 26 + (buf[k + 1]! - 65);
  return key < 0 || key >= 26 * 26 ? -1 : key;
}

/** start,end,CC lines of geo-whois-asn-country-ipv4-num.csv. */
export function parseCountry4(buf: Buffer, codes: CountryCodes, out: Ranges<number>): void {
  const len = buf.length;
  let i = 0;
  while (i < len) {
    const c = buf[i]!;
    if (c === NL || c === CR) {
      i++;
      continue;
    }
    const s = decimal(buf, i);
    const e = decimal(buf, cursor + 1);
    const key = countryKey(buf, cursor + 1);
    i = toNewline(buf, cursor + 3) + 1;
    if (key < 0) continue;
    out.s.push(s);
    out.e.push(e);
    out.v.push(codes.indexOfKey(key));
  }
}

export function parseCountry6(buf: Buffer, codes: CountryCodes, out: Ranges<bigint>): void {
  const len = buf.length;
  let i = 0;
  while (i < len) {
    const c = buf[i]!;
    if (c === NL || c === CR) {
      i++;
      continue;
    }
    const f1 = field(buf, i);
    const f2 = field(buf, f1 + 1);
    const key = countryKey(buf, f2 + 1);
    const e = toNewline(buf, f2 + 1);
    if (key >= 0) {
      out.s.push(decimalBig(buf, i, f1));
      out.e.push(decimalBig(buf, f1 + 1, f2));
      out.v.push(codes.indexOfKey(key));
    }
    i = e + 1;
  }
}

function readName(buf: Buffer, from: number, to: number): string {
  if (buf[from] === QUOTE && to - from >= 2 && buf[to - 1] === QUOTE) {
    return buf.toString('utf8', from + 1, to - 1).replace(/""/g, '"');
  }
  return buf.toString('utf8', from, to);
}

/** End of a CSV field starting at i that runs to the end of the line (quoted fields may hold commas). */
function lineEnd(buf: Buffer, i: number): number {
  if (buf[i] !== QUOTE) return toNewline(buf, i);
  const len = buf.length;
  let k = i + 1;
  while (k < len) {
    if (buf[k] === QUOTE) {
      if (buf[k + 1] === QUOTE) k += 2;
      else {
        k++;
        break;
      }
    } else k++;
  }
  return toNewline(buf, k);
}

/**
 * Records the AS name that ends the line at `from` if `asn` (> 0) has none yet, the first row's
 * name winning; returns where the next line starts.
 */
function takeName(buf: Buffer, from: number, asn: number, names: Map<number, string>): number {
  let end = lineEnd(buf, from);
  const next = end + 1;
  if (buf[end - 1] === CR) end--;
  if (asn > 0 && !names.has(asn)) names.set(asn, readName(buf, from, end));
  return next;
}

/** start,end,asn,name lines of asn-ipv4-num.csv. */
export function parseAsn4(buf: Buffer, names: Map<number, string>, out: Ranges<number>): void {
  const len = buf.length;
  let i = 0;
  while (i < len) {
    const c = buf[i]!;
    if (c === NL || c === CR) {
      i++;
      continue;
    }
    const s = decimal(buf, i);
    const e = decimal(buf, cursor + 1);
    const asn = decimal(buf, cursor + 1);
    i = takeName(buf, cursor + 1, asn, names);
    if (asn <= 0 || asn > MAX_ASN) continue;
    out.s.push(s);
    out.e.push(e);
    out.v.push(asn);
  }
}

export function parseAsn6(buf: Buffer, names: Map<number, string>, out: Ranges<bigint>): void {
  const len = buf.length;
  let i = 0;
  while (i < len) {
    const c = buf[i]!;
    if (c === NL || c === CR) {
      i++;
      continue;
    }
    const f1 = field(buf, i);
    const f2 = field(buf, f1 + 1);
    const asn = decimal(buf, f2 + 1);
    const valid = asn > 0 && asn <= MAX_ASN;
    // Unlike parseAsn4, a row with an out-of-range ASN names nothing here; kept as it was.
    const next = takeName(buf, cursor + 1, valid ? asn : 0, names);
    if (valid) {
      out.s.push(decimalBig(buf, i, f1));
      out.e.push(decimalBig(buf, f1 + 1, f2));
      out.v.push(asn);
    }
    i = next;
  }
}
