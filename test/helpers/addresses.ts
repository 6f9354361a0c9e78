import fc from 'fast-check';
import ipaddr from 'ipaddr.js';

/** Spellings of client addresses, for the tests of src/net/client-address.ts and of its use. */

/** An IPv6 address as eight groups, zero groups likely (so "::" has runs to compress). */
export const groups6 = fc.array(fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff })), { minLength: 8, maxLength: 8 });
export const port = fc.integer({ min: 0, max: 65_535 });

/** What the address is, computed without canonicalAddress: dotted quad, or RFC 5952 text. */
export function expected6(parts: number[]): string {
  const addr = new ipaddr.IPv6(parts);
  return addr.isIPv4MappedAddress() ? addr.toIPv4Address().toString() : addr.toRFC5952String();
}

/** Spellings of an IPv4 address (given as a 32-bit number) that every reader agrees on. */
export function forms4(n: number, p: number): string[] {
  const [a, b, c, d] = [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
  const quad = `${a}.${b}.${c}.${d}`;
  const hi = (n >>> 16).toString(16);
  const lo = (n & 0xffff).toString(16);
  return [
    quad,
    `${quad}:${p}`,
    String(n),
    `0x${n.toString(16)}`,
    `0X${n.toString(16).toUpperCase().padStart(8, '0')}`,
    [a, b, c, d].map((x) => `0x${x.toString(16)}`).join('.'),
    `${a}.${b}.${(c << 8) | d}`,
    `${a}.${(b << 16) | (c << 8) | d}`,
    `::ffff:${quad}`,
    `::FFFF:${hi.toUpperCase()}:${lo}`,
    `0:0:0:0:0:ffff:${quad}`,
    `[::ffff:${quad}]`,
    `[0000:0000:0000:0000:0000:FFFF:${hi}:${lo}]:${p}`,
  ];
}

/** Spellings of an IPv6 address given as eight groups. */
export function forms6(parts: number[], p: number): string[] {
  const addr = new ipaddr.IPv6(parts);
  const compressed = addr.toRFC5952String();
  const fixed = parts.map((g) => g.toString(16).padStart(4, '0')).join(':');
  const tail = `${parts[6]! >>> 8}.${parts[6]! & 255}.${parts[7]! >>> 8}.${parts[7]! & 255}`;
  return [
    compressed,
    compressed.toUpperCase(),
    addr.toNormalizedString(),
    fixed,
    `${parts.slice(0, 6).map((g) => g.toString(16)).join(':')}:${tail}`,
    `[${compressed}]`,
    `[${fixed.toUpperCase()}]:${p}`,
    `${compressed}%eth0`,
    `[${compressed}%25en0]:${p}`,
  ];
}

/** The dotted quad of a 32-bit number. */
export const dotted = (n: number) => `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
