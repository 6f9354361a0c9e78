import ipaddr from 'ipaddr.js';
import { formatIPv4, formatIPv6, parseIp } from './ip.js';

/**
 * The one reading of a client address: the socket's, or the X-Forwarded-For entry a trusted proxy
 * wrote. Every consumer (limits, lookup events, sign-ups, IP intelligence) gets its result, so one
 * address has one key everywhere and never escapes the subnet, ASN, country and hosting checks by
 * being spelled differently.
 *
 * Read, and what they become (IPv4 as a dotted quad, IPv6 as RFC 5952 text, IPv4-mapped IPv6 as the IPv4):
 * - dotted-quad IPv4 and RFC 4291 IPv6 text: any case, zero-padded groups, "::", a dotted tail,
 *   a "%zone" (dropped);
 * - with the port some load balancers append: "a.b.c.d:port", "[v6]:port", and "[v6]";
 * - the IPv4 spellings that inet_aton(3), browsers (WHATWG URL) and ipaddr.js all read alike, read
 *   by ipaddr.js: one 32-bit number ("84478465"), hex ("0x05090a01", "0x5.0x9.0xa.0x1"), short
 *   forms ("127.1" is 127.0.0.1).
 * Not read (undefined):
 * - an IPv4 part with a leading zero ("010.0.0.1", "005.009.010.001"): inet_aton, browsers and
 *   ipaddr.js read it as octal (010 is 8, 009 is no number), people, MySQL and older Go and Python
 *   as decimal. Whichever findguard chose, some parser in front of it may have read it the other
 *   way, so it chooses neither;
 * - anything else, and anything longer than 64 characters.
 */
export function canonicalAddress(input: unknown): string | undefined {
  return read(input, true);
}

/**
 * `unwrapTunnels`: a 6to4 or NAT64 address read as the IPv4 host it carries (ip.ts embeddedIPv4),
 * for the limits and the IP data. Not for proxy trust: owning 2002:X::/48 proves nothing about
 * owning X, so a hop is trusted only as written (an IPv4-mapped address is still its IPv4).
 */
function read(input: unknown, unwrapTunnels: boolean): string | undefined {
  if (typeof input !== 'string' || input.length === 0 || input.length > MAX_LENGTH) return undefined;
  // What sockets and proxies write: the strict parser, without allocating on the request path.
  const direct = format(input, unwrapTunnels);
  if (direct !== undefined) return direct;
  const host = hostOf(input);
  if (host === undefined) return undefined;
  if (host !== input) {
    const bare = format(host, unwrapTunnels);
    if (bare !== undefined) return bare;
  }
  // parseIp reads every IPv6 text there is: what is left worth reading is a legacy IPv4 spelling.
  if (host.includes(':') || LEADING_ZERO.test(host) || !ipaddr.IPv4.isValid(host)) return undefined;
  return ipaddr.IPv4.parse(host).toString();
}

/**
 * The client address of every call whose address cannot be read, under a policy that answers such
 * calls (`unreadableAddress: hosting`): one shared key, never an IP address.
 */
export const UNREADABLE_ADDRESS = 'unreadable';

/**
 * Fastify's `trustProxy` for a list of proxy addresses and CIDRs: whether one hop (the socket, or
 * an X-Forwarded-For entry) is a trusted proxy, read as canonicalAddress reads it, so that a
 * proxy's own entry with a port ("10.0.0.2:443") is still recognised and skipped.
 */
export function proxyTrust(cidrs: readonly string[]): (address: string) => boolean {
  const v4: Array<[ipaddr.IPv4, number]> = [];
  const v6: Array<[ipaddr.IPv6, number]> = [];
  for (const cidr of cidrs) {
    const [net, bits] = cidr.includes('/') ? ipaddr.parseCIDR(cidr) : [ipaddr.parse(cidr), cidr.includes(':') ? 128 : 32];
    if (net.kind() === 'ipv4') v4.push([net as ipaddr.IPv4, bits]);
    else if ((net as ipaddr.IPv6).isIPv4MappedAddress() && bits >= 96) v4.push([(net as ipaddr.IPv6).toIPv4Address(), bits - 96]);
    else v6.push([net as ipaddr.IPv6, bits]);
  }
  const trusted = (address: string): boolean => {
    const canonical = read(address, false);
    if (canonical === undefined) return false;
    if (canonical.includes(':')) {
      const addr = ipaddr.IPv6.parse(canonical);
      return v6.some(([net, bits]) => addr.match(net, bits));
    }
    const addr = ipaddr.IPv4.parse(canonical);
    return v4.some(([net, bits]) => addr.match(net, bits));
  };
  // Every request asks this of each hop (the proxy's own address on every call): ipaddr.js's
  // parse, with its regular expressions, was ~1 µs of each. The answer is a function of the text.
  return memo(trusted);
}

/** Addresses whose reading is remembered (each memo); past this many it starts again. */
const MEMO_MAX = 10_000;

/**
 * A function of an address's text, remembered for the last MEMO_MAX texts: a caller's address and
 * its proxies' repeat from call to call. Starting again when full keeps it bounded whatever
 * addresses a client makes up.
 */
export function memo<T>(read: (address: string) => T): (address: string) => T {
  const known = new Map<string, T>();
  return (address) => {
    const hit = known.get(address);
    if (hit !== undefined || known.has(address)) return hit as T;
    const value = read(address);
    if (known.size >= MEMO_MAX) known.clear();
    known.set(address, value);
    return value;
  };
}

const MAX_LENGTH = 64;
const LEADING_ZERO = /(?:^|\.)0[0-9]/;

function format(s: string, unwrapTunnels: boolean): string | undefined {
  const p = parseIp(s, unwrapTunnels);
  if (!p) return undefined;
  return p.version === 4 ? formatIPv4(p.v4) : formatIPv6(p.w[0], p.w[1], p.w[2], p.w[3]);
}

/** The address without the brackets or port around it; undefined when they are malformed. */
function hostOf(s: string): string | undefined {
  if (s.startsWith('[')) {
    const close = s.indexOf(']');
    if (close < 0) return undefined;
    const rest = s.slice(close + 1);
    if (rest !== '' && !(rest.startsWith(':') && isPort(rest.slice(1)))) return undefined;
    const inner = s.slice(1, close);
    // RFC 3986: brackets hold IPv6 only.
    return inner.includes(':') ? inner : undefined;
  }
  const colon = s.indexOf(':');
  if (colon < 0) return s;
  // Two colons or more is IPv6 text, which parseIp has already refused.
  if (s.indexOf(':', colon + 1) >= 0) return undefined;
  return isPort(s.slice(colon + 1)) ? s.slice(0, colon) : undefined;
}

function isPort(s: string): boolean {
  return /^[0-9]{1,5}$/.test(s) && Number(s) <= 65_535;
}
