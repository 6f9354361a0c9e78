/**
 * Where the range tables come from: the packaged @ip-location-db CSVs, or hand-made rows for
 * tests and fixtures. (Split from tables.ts, which builds and resolves the tables.)
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import ipaddr from 'ipaddr.js';
import { parseAsn4, parseAsn6, parseCountry4, parseCountry6 } from './csv.js';
import { buildTables, bytesToBigInt, cidrRange, emptyInput, type IpTables } from './tables.js';

const require = createRequire(import.meta.url);

function packageDir(name: string): string {
  return dirname(require.resolve(`${name}/package.json`));
}

export const COUNTRY_PACKAGE = '@ip-location-db/geo-whois-asn-country';
export const ASN_PACKAGE = '@ip-location-db/asn';

/** Where the data files are and which versions they are. */
export async function dataFiles(): Promise<{ files: Record<'c4' | 'c6' | 'a4' | 'a6', string>; source: Record<string, string> }> {
  const cdir = packageDir(COUNTRY_PACKAGE);
  const adir = packageDir(ASN_PACKAGE);
  const [cpkg, apkg] = await Promise.all([
    readFile(join(cdir, 'package.json'), 'utf8'),
    readFile(join(adir, 'package.json'), 'utf8'),
  ]);
  return {
    files: {
      c4: join(cdir, 'geo-whois-asn-country-ipv4-num.csv'),
      c6: join(cdir, 'geo-whois-asn-country-ipv6-num.csv'),
      a4: join(adir, 'asn-ipv4-num.csv'),
      a6: join(adir, 'asn-ipv6-num.csv'),
    },
    source: {
      [COUNTRY_PACKAGE]: (JSON.parse(cpkg) as { version: string }).version,
      [ASN_PACKAGE]: (JSON.parse(apkg) as { version: string }).version,
    },
  };
}

/** Reads and parses the packaged CSVs into tables. */
export async function loadPackagedTables(): Promise<IpTables> {
  const { files, source } = await dataFiles();
  const [c4, c6, a4, a6] = await Promise.all([
    readFile(files.c4),
    readFile(files.c6),
    readFile(files.a4),
    readFile(files.a6),
  ]);
  const input = emptyInput(source);
  const { codes, asNames } = input;
  parseCountry4(c4, codes, input.v4Country);
  parseAsn4(a4, asNames, input.v4Asn);
  parseCountry6(c6, codes, input.v6Country);
  parseAsn6(a6, asNames, input.v6Asn);
  return buildTables(input);
}

/** One row of a hand-made table (tests, fixtures): an inclusive range or a CIDR. */
export interface RangeRow {
  /** "203.0.113.0/24", or a first address with `to`. */
  cidr?: string;
  from?: string;
  to?: string;
  country?: string;
  asn?: number;
  asName?: string;
}

function addressValue(ip: string): { version: 4 | 6; value: bigint } {
  const addr = ipaddr.parse(ip);
  return { version: addr.kind() === 'ipv4' ? 4 : 6, value: bytesToBigInt(addr.toByteArray()) };
}

/**
 * Builds tables from rows, for tests and small fixtures: where rows overlap the more specific one
 * wins (for partial overlaps, the one starting later). Special-purpose ranges are NOT blanked, so
 * fixtures may use the documentation ranges (192.0.2.0/24, 2001:db8::/32...).
 */
export function tablesFromRows(rows: Iterable<RangeRow>): IpTables {
  const input = emptyInput({ rows: 'inline' });
  const { codes, asNames } = input;
  for (const row of rows) {
    let version: 4 | 6;
    let first: bigint;
    let last: bigint;
    if (row.cidr !== undefined) {
      ({ version, first, last } = cidrRange(row.cidr));
    } else if (row.from !== undefined && row.to !== undefined) {
      const a = addressValue(row.from);
      const b = addressValue(row.to);
      if (a.version !== b.version) throw new RangeError(`mixed families in ${row.from}-${row.to}`);
      ({ version } = a);
      first = a.value;
      last = b.value;
    } else {
      throw new RangeError('a row needs cidr, or from and to');
    }
    if (row.asn !== undefined && row.asName !== undefined) asNames.set(row.asn, row.asName);
    if (version === 4) {
      if (row.country) {
        input.v4Country.s.push(Number(first));
        input.v4Country.e.push(Number(last));
        input.v4Country.v.push(codes.indexOf(row.country.toUpperCase()));
      }
      if (row.asn) {
        input.v4Asn.s.push(Number(first));
        input.v4Asn.e.push(Number(last));
        input.v4Asn.v.push(row.asn);
      }
    } else {
      if (row.country) {
        input.v6Country.s.push(first);
        input.v6Country.e.push(last);
        input.v6Country.v.push(codes.indexOf(row.country.toUpperCase()));
      }
      if (row.asn) {
        input.v6Asn.s.push(first);
        input.v6Asn.e.push(last);
        input.v6Asn.v.push(row.asn);
      }
    }
  }
  return buildTables(input, false);
}
