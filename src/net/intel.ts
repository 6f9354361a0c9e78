import { buildHostingSet, type HostingOptions } from './hosting.js';
import {
  InvalidIpError,
  embeddedIPv4,
  formatIPv4,
  isTeredo,
  formatIPv6,
  parseIPv4,
  parseIPv6,
  subnet24Of,
  subnet48Of,
  subnet64Of,
} from './ip.js';
import type { IpTables } from './tables.js';

/** What findguard knows about a caller's address. */
export interface IpInfo {
  /** Normalised address: dotted quad, or RFC 5952 IPv6. IPv4-mapped IPv6 is reported as IPv4. */
  ip: string;
  version: 4 | 6;
  /** ISO 3166-1 alpha-2 of the allocation; absent for special-purpose and unallocated space. */
  country?: string;
  /** Origin ASN; absent when the address is not routed (or special-purpose). */
  asn?: number;
  asName?: string;
  /** Origin ASN is a hosting/cloud network by the heuristic in hosting.ts. */
  hosting: boolean;
  /** IPv4: the /24, e.g. "203.0.113.0/24". */
  subnet24?: string;
  /** IPv6: the /64, e.g. "2001:db8:1:2::/64". */
  subnet64?: string;
  /** IPv6: the /48, e.g. "2001:db8:1::/48". */
  subnet48?: string;
}

export interface IpIntel {
  /** Throws InvalidIpError for input that is not an IP address; never for a valid one. */
  lookup(ip: string): IpInfo;
  close?(): void;
}

/** An address's information, or undefined for input that is not an IP address (never throws). */
export function lookupIp(intel: IpIntel, ip: string): IpInfo | undefined {
  try {
    return intel.lookup(ip);
  } catch {
    return undefined;
  }
}

const WORDS = new Uint32Array(4);

/** Lookups over the compact tables. Shares the (immutable) tables with other instances. */
export class OfflineIpIntel implements IpIntel {
  readonly hostingAsns: ReadonlySet<number>;

  constructor(
    readonly tables: IpTables,
    options: HostingOptions = {},
  ) {
    this.hostingAsns = buildHostingSet(tables.asNames, options);
  }

  lookup(ip: string): IpInfo {
    const info = this.tryLookup(ip);
    if (!info) throw new InvalidIpError(ip);
    return info;
  }

  /** Like lookup, but undefined for input that is not an IP address. */
  tryLookup(ip: string): IpInfo | undefined {
    if (typeof ip !== 'string') return undefined;
    const v4 = parseIPv4(ip);
    if (v4 >= 0) return this.info4(ip, v4);
    const w = WORDS;
    if (!parseIPv6(ip, w)) return undefined;
    const w0 = w[0]!;
    const w1 = w[1]!;
    const w2 = w[2]!;
    const w3 = w[3]!;
    const embedded = embeddedIPv4(w0, w1, w2, w3);
    if (embedded >= 0) return this.info4(formatIPv4(embedded), embedded);
    const seg = this.segment6(w0, w1, w2, w3);
    const t = this.tables.v6;
    const info: IpInfo = {
      ip: formatIPv6(w0, w1, w2, w3),
      version: 6,
      hosting: false,
      subnet64: subnet64Of(w0, w1),
      subnet48: subnet48Of(w0, w1),
    };
    this.fill(info, t.country[seg]!, t.asn[seg]!);
    if (isTeredo(w0)) info.hosting = true;
    return info;
  }

  /** True when the ASN counts as hosting for this instance's policy. */
  isHostingAsn(asn: number): boolean {
    return this.hostingAsns.has(asn);
  }

  asName(asn: number): string | undefined {
    return this.tables.asNames.get(asn);
  }

  private info4(ip: string, v: number): IpInfo {
    const seg = this.segment4(v);
    const t = this.tables.v4;
    const info: IpInfo = { ip, version: 4, hosting: false, subnet24: subnet24Of(v) };
    this.fill(info, t.country[seg]!, t.asn[seg]!);
    return info;
  }

  private fill(info: IpInfo, country: number, asn: number): void {
    if (country !== 0) info.country = this.tables.countries[country]!;
    if (asn !== 0) {
      info.asn = asn;
      const name = this.tables.asNames.get(asn);
      if (name !== undefined) info.asName = name;
      info.hosting = this.hostingAsns.has(asn);
    }
  }

  /** Index of the IPv4 segment holding v. */
  segment4(v: number): number {
    const s = this.tables.v4.starts;
    let lo = 0;
    let hi = this.tables.v4.n - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (s[mid]! <= v) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** Index of the IPv6 segment holding the address (w0..w3). */
  segment6(w0: number, w1: number, w2: number, w3: number): number {
    const s = this.tables.v6.starts;
    let lo = 0;
    let hi = this.tables.v6.n - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      const o = mid * 4;
      const a = s[o]!;
      let le: boolean;
      if (a !== w0) le = a < w0;
      else {
        const b = s[o + 1]!;
        if (b !== w1) le = b < w1;
        else {
          const c = s[o + 2]!;
          le = c !== w2 ? c < w2 : s[o + 3]! <= w3;
        }
      }
      if (le) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
}
