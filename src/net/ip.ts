import ipaddr from 'ipaddr.js';
/**
 * Strict, allocation-light IP parsing and formatting for the request path.
 *
 * ipaddr.js parses about 290k IPv6 addresses/s on this project's machine and accepts legacy
 * IPv4 forms ("127.1", "0x7f.0.0.1", "010.0.0.1" read as octal), which would let one address
 * wear many spellings and so many limit keys. These parsers accept exactly the forms a socket or
 * a proxy produces: dotted-quad decimal IPv4 without leading zeros, and RFC 4291 IPv6 text
 * (with "::" compression, an optional embedded dotted-quad tail and an optional "%zone", which
 * is dropped). Everything is normalised: IPv4 as dotted quad, IPv6 as RFC 5952 text.
 * ipaddr.js stays the reference they are tested against and is used for CIDR parsing.
 */

/** Thrown for input that is not an IP address (see `lookup` and `subnetKeys`). */
export class InvalidIpError extends Error {
  readonly code = 'invalid_ip' as const;
  constructor(readonly input: unknown) {
    super(`not an IP address: ${JSON.stringify(String(input).slice(0, 64))}`);
    this.name = 'InvalidIpError';
  }
}

/** IPv4 dotted quad to an unsigned 32-bit number, or -1. Leading zeros are refused. */
export function parseIPv4(s: string, from = 0, to = s.length): number {
  const n = to - from;
  if (n < 7 || n > 15) return -1;
  let acc = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || dots === 3) return -1;
      acc = acc * 256 + part;
      part = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && part === 0) return -1; // leading zero: octal in some parsers
      part = part * 10 + (c - 48);
      if (part > 255) return -1;
      digits++;
    } else {
      return -1;
    }
  }
  if (dots !== 3 || digits === 0) return -1;
  return acc * 256 + part;
}

const HEAD = new Uint16Array(8);
const TAIL = new Uint16Array(8);

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/**
 * Reads colon-separated hex groups of s[from, to) into dst; a last token containing '.' is read
 * as a dotted quad (two groups) when allowV4. Returns the group count, or -1.
 */
function readGroups(s: string, from: number, to: number, dst: Uint16Array, max: number, allowV4: boolean): number {
  let count = 0;
  let i = from;
  while (true) {
    if (count >= max) return -1;
    let value = 0;
    let digits = 0;
    const tokenStart = i;
    while (i < to) {
      const c = s.charCodeAt(i);
      if (c === 58) break;
      if (c === 46) {
        if (!allowV4 || count + 2 > max) return -1;
        const v4 = parseIPv4(s, tokenStart, to);
        if (v4 < 0) return -1;
        dst[count++] = v4 >>> 16;
        dst[count++] = v4 & 0xffff;
        return count;
      }
      const h = hexValue(c);
      if (h < 0 || digits === 4) return -1;
      value = value * 16 + h;
      digits++;
      i++;
    }
    if (digits === 0) return -1;
    dst[count++] = value;
    if (i >= to) return count;
    i++; // the colon
    if (i >= to) return -1; // trailing single colon
  }
}

/** Parses IPv6 text into four big-endian 32-bit words. Returns false when it is not IPv6. */
export function parseIPv6(input: string, out: Uint32Array): boolean {
  let end = input.length;
  const pct = input.indexOf('%');
  if (pct >= 0) {
    if (pct === end - 1) return false;
    end = pct;
  }
  if (end < 2 || end > 45) return false;
  const dc = input.indexOf('::');
  const g = HEAD;
  if (dc < 0 || dc >= end) {
    if (readGroups(input, 0, end, g, 8, true) !== 8) return false;
  } else {
    const again = input.indexOf('::', dc + 1);
    if (again >= 0 && again < end) return false;
    const h = dc === 0 ? 0 : readGroups(input, 0, dc, g, 7, false);
    if (h < 0) return false;
    const t = dc + 2 === end ? 0 : readGroups(input, dc + 2, end, TAIL, 7 - h, true);
    if (t < 0) return false;
    for (let k = h; k < 8 - t; k++) g[k] = 0;
    for (let k = 0; k < t; k++) g[8 - t + k] = TAIL[k]!;
  }
  out[0] = ((g[0]! << 16) | g[1]!) >>> 0;
  out[1] = ((g[2]! << 16) | g[3]!) >>> 0;
  out[2] = ((g[4]! << 16) | g[5]!) >>> 0;
  out[3] = ((g[6]! << 16) | g[7]!) >>> 0;
  return true;
}

export function formatIPv4(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

const FMT = new Uint16Array(8);

/** RFC 5952 text of an IPv6 address given as four words. */
export function formatIPv6(w0: number, w1: number, w2: number, w3: number): string {
  const g = FMT;
  g[0] = w0 >>> 16;
  g[1] = w0 & 0xffff;
  g[2] = w1 >>> 16;
  g[3] = w1 & 0xffff;
  g[4] = w2 >>> 16;
  g[5] = w2 & 0xffff;
  g[6] = w3 >>> 16;
  g[7] = w3 & 0xffff;
  // Longest run of zero groups (length >= 2, first on a tie) becomes "::".
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  let s = '';
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      s += '::';
      i += bestLen - 1;
      continue;
    }
    if (s.length > 0 && !s.endsWith(':')) s += ':';
    s += g[i]!.toString(16);
  }
  return s;
}

/** A parsed address: IPv4 as one word, IPv6 as four. IPv4-mapped IPv6 (::ffff:a.b.c.d) is IPv4. */
export type ParsedIp = { version: 4; v4: number } | { version: 6; w: [number, number, number, number] };

const SCRATCH = new Uint32Array(4);

/** Parses an address; undefined when it is not one. */
export function parseIp(ip: string, unwrapTunnels = true): ParsedIp | undefined {
  if (typeof ip !== 'string') return undefined;
  const v4 = parseIPv4(ip);
  if (v4 >= 0) return { version: 4, v4 };
  if (!parseIPv6(ip, SCRATCH)) return undefined;
  const [a, b, c, d] = SCRATCH as unknown as [number, number, number, number];
  const embedded = unwrapTunnels ? embeddedIPv4(a, b, c, d) : a === 0 && b === 0 && c === 0xffff ? d : -1;
  if (embedded >= 0) return { version: 4, v4: embedded };
  return { version: 6, w: [a, b, c, d] };
}

/**
 * The IPv4 address an IPv6 address stands for, or -1: IPv4-mapped (::ffff:0:0/96), 6to4
 * (2002::/16, the /48 of one IPv4 host) and the well-known NAT64 prefix (64:ff9b::/96, RFC 6052:
 * how an edge translator presents an IPv4 client). Each is that IPv4 host, and is read as it: a
 * datacenter server reached through its 6to4 form must meet the same hosting, ASN and country
 * checks, and the same per-address and /24 keys, as over IPv4, not 2^16 fresh /64s on no network
 * (test/review/tunnelled-address-tier).
 */
export function embeddedIPv4(a: number, b: number, c: number, d: number): number {
  if (a === 0 && b === 0 && c === 0xffff) return d;
  // Only a global IPv4 stands behind a 6to4 or NAT64 address (RFC 3056 §2, RFC 6052 §3.1): one
  // that embeds a private, loopback or reserved address is read as the IPv6 address it is.
  if (a >>> 16 === 0x2002) return globalIPv4((((a & 0xffff) << 16) | (b >>> 16)) >>> 0);
  if (a === 0x0064ff9b && b === 0 && c === 0) return globalIPv4(d);
  return -1;
}

function globalIPv4(v: number): number {
  return ipaddr.IPv4.parse(formatIPv4(v)).range() === 'unicast' ? v : -1;
}

/** Teredo (2001::/32): IPv6 over UDP through a relay, retired by its one big operator; no consumer network still uses it, so it is judged as a hosting network. */
export function isTeredo(a: number): boolean {
  return a === 0x20010000;
}

/** True when the string is an IPv4 or IPv6 address in a form the parsers accept. */
export function isIp(ip: string): boolean {
  return parseIp(ip) !== undefined;
}

/** Normalised text of an address (dotted quad, RFC 5952; IPv4-mapped IPv6 becomes IPv4). */
export function normalizeIp(ip: string): string {
  const p = parseIp(ip);
  if (!p) throw new InvalidIpError(ip);
  return p.version === 4 ? formatIPv4(p.v4) : formatIPv6(p.w[0], p.w[1], p.w[2], p.w[3]);
}

export function subnet24Of(v4: number): string {
  return `${v4 >>> 24}.${(v4 >>> 16) & 255}.${(v4 >>> 8) & 255}.0/24`;
}

export function subnet64Of(w0: number, w1: number): string {
  return `${formatIPv6(w0, w1, 0, 0)}/64`;
}

export function subnet48Of(w0: number, w1: number): string {
  return `${formatIPv6(w0, (w1 & 0xffff0000) >>> 0, 0, 0)}/48`;
}

/**
 * The subnet keys limits count by: the /24 of an IPv4 address; the /64 (subnet) and /48 (wide)
 * of an IPv6 address. IPv4-mapped IPv6 counts as IPv4. Throws InvalidIpError on malformed input.
 */
export function subnetKeys(ip: string): { subnet: string; wide?: string } {
  const p = parseIp(ip);
  if (!p) throw new InvalidIpError(ip);
  if (p.version === 4) return { subnet: subnet24Of(p.v4) };
  return { subnet: subnet64Of(p.w[0], p.w[1]), wide: subnet48Of(p.w[0], p.w[1]) };
}
